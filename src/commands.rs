//! What each subcommand of `ledger` (and `replay-tool`) does with its parsed flags: one function
//! per subcommand, each returning the process's exit status. The binaries only parse arguments
//! and call these; an `Err` is a problem with the setup or the files (exit status 3).

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use order_events::ids::OrderId;

use crate::cli::{
    BenchArgs, DemoArgs, Format, OrderIdArgs, QueryArgs, RebuildArgs, ReconcileArgs, ReplayArgs,
    RulesArgs, SchemasArgs, ServeArgs, SubmitArgs, TokenArgs, TopicsArgs, ValidateArgs,
};
use crate::config::LedgerConfig;
use crate::log_admin::{self, LogOptions};
use crate::{bench, demo, query, reconcile, rules, running, serve, submit, validate};

/// The deployment's settings: the file given with `--config`, else the defaults.
pub fn config(path: Option<&Path>) -> Result<LedgerConfig> {
    path.map_or_else(|| Ok(LedgerConfig::default()), LedgerConfig::load)
}

/// `ledger rules`.
pub fn rules(args: RulesArgs, out: &mut impl Write) -> Result<ExitCode> {
    match args.format {
        Format::Text => rules::write_text(out)?,
        Format::Json => rules::write_json(out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `ledger validate`: 0, 1 with `--strict` and a rejection, 2 with an undecodable command.
pub fn validate(
    config: &LedgerConfig,
    args: ValidateArgs,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let input = read_input(&args.file)?;
    let mut ledger = match &args.history {
        Some(path) => {
            let text =
                fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            validate::load_history(&text, config.policy.clone(), config.handler_config().rules)
                .with_context(|| format!("loading {}", path.display()))?
        }
        None => order_events::ledger::MemoryLedger::with_rules(
            config.policy.clone(),
            config.handler_config().rules,
        ),
    };
    let lines = validate::run(&mut ledger, &input);
    match args.format {
        Format::Text => validate::write_text(out, &lines)?,
        Format::Json => validate::write_json(out, &lines)?,
    }
    if let Some(path) = &args.events {
        let mut file =
            fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        validate::write_events(&mut file, &lines)?;
        file.flush()?;
    }
    let summary = validate::summarize(&lines);
    Ok(if summary.undecodable > 0 {
        ExitCode::from(2)
    } else if args.strict && summary.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ledger schemas`: writes every JSON Schema under `--out`.
pub fn schemas(args: SchemasArgs, out: &mut impl Write) -> Result<ExitCode> {
    let schemas = order_events::schema::all();
    for (path, contents) in &schemas {
        let file = args.out.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
    }
    writeln!(
        out,
        "wrote {} schema files to {}",
        schemas.len(),
        args.out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ledger topics`.
pub fn topics(config: &LedgerConfig, args: TopicsArgs, out: &mut impl Write) -> Result<ExitCode> {
    let options = args.log.options(config);
    runtime()?.block_on(async {
        let log = log_admin::open(&options).await?;
        log_admin::describe(log.as_ref(), out).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `ledger serve`: runs until SIGINT or SIGTERM.
pub fn serve(config: &LedgerConfig, args: ServeArgs, out: &mut impl Write) -> Result<ExitCode> {
    let listen = args.listen.unwrap_or_else(|| config.serve.listen.clone());
    let how = ServeHow {
        instance_id: args.instance_id,
        batch_size: args.batch_size,
        listen,
        tls: config.serve.tls((args.tls_cert, args.tls_key))?,
        extra_admin: None,
    };
    serve_log(config, args.log.options(config), how, out)
}

/// What a serve is started with besides its log.
struct ServeHow {
    instance_id: Option<String>,
    batch_size: Option<usize>,
    listen: String,
    /// HTTPS with this certificate and key; plain HTTP without.
    tls: Option<crate::tls::TlsFiles>,
    /// An admin token of this run, announced on `out` (`ledger demo --serve`).
    extra_admin: Option<String>,
}

/// Runs a serve on the log of `options` until SIGINT/SIGTERM.
fn serve_log(
    config: &LedgerConfig,
    options: LogOptions,
    how: ServeHow,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let metrics = crate::metrics::install().context("installing the metrics recorder")?;
    let stats = runtime()?.block_on(async {
        let log = log_admin::open(&options).await?;
        let mut handler = config.handler_config_for(&options);
        if let Some(instance_id) = how.instance_id {
            handler.instance_id = instance_id;
        }
        if let Some(batch_size) = how.batch_size {
            handler.batch_size_max = batch_size;
        }
        let tls = how.tls.as_ref().map(crate::tls::load).transpose()?;
        let listener = tokio::net::TcpListener::bind(&how.listen)
            .await
            .with_context(|| format!("listening on {}", how.listen))?;
        let mut auth = config.auth()?;
        if let Some(token) = &how.extra_admin {
            auth = auth.with_token(token, "demo-admin", &[crate::auth::Role::Admin]);
            let url = crate::tls::base_url(listener.local_addr()?, tls.as_ref());
            writeln!(
                out,
                "console: {url}/ — sign in with this admin token: {token}\n\
                 (Ctrl-C stops the serve)"
            )?;
            out.flush()?;
        }
        let serve_options = serve::ServeOptions {
            read_side: config.read_side_for(&options, &handler.instance_id),
            handler,
            listener,
            tls,
            data: options.kafka.is_none().then(|| options.data.clone()),
            metrics: Some(metrics),
            wait: Duration::from_secs(30),
            auth,
            checkpoints: Some(checkpoint_options(&config.checkpoints, &options).await?),
            notifications: notification_options(&config.notifications, &options).await?,
        };
        let clock = Arc::new(command_handler::SystemClock);
        serve::serve(log, clock, serve_options, shutdown_signal()).await
    })?;
    writeln!(out, "stopped: {stats:?}")?;
    Ok(ExitCode::SUCCESS)
}

/// Where a serve delivers notifications, from `[notifications]`: to its webhooks, and on Kafka
/// to `<prefix>.notifications` when `state_dir` names where this serve keeps its journal (one
/// serve of a deployment delivers). `None`: nowhere.
async fn notification_options(
    section: &crate::notify::NotificationsSection,
    log: &LogOptions,
) -> Result<Option<crate::notify::Delivering>> {
    section.check().map_err(|why| anyhow::anyhow!(why))?;
    let (dir, topic) = match (&section.state_dir, &log.kafka) {
        (None, None) if section.webhooks.is_empty() => return Ok(None),
        (None, Some(_)) if section.webhooks.is_empty() => return Ok(None),
        (None, Some(_)) => anyhow::bail!(
            "[notifications] state_dir is needed on Kafka: where this serve keeps its deliveries"
        ),
        (None, None) => (log.data.join(crate::notify::STATE_DIR), None),
        (Some(dir), None) => (dir.clone(), None),
        (Some(dir), Some(_)) => {
            let mut topics = event_log::Topics::new(&log.prefix, log.partitions)?;
            topics.replication_factor = log.replication_factor;
            let settings = log_admin::kafka_settings(log)?;
            let topic = event_log::kafka::SideTopic::open(
                &settings,
                &topics,
                crate::notify::NOTIFICATIONS_TOPIC,
            )
            .await?;
            (dir.clone(), Some(topic))
        }
    };
    Ok(Some(crate::notify::Delivering {
        dir,
        section: section.clone(),
        topic,
    }))
}

/// How a serve publishes checkpoints, from `[checkpoints]`: where the deployment's log is.
async fn checkpoint_options(
    section: &crate::config::CheckpointsSection,
    log: &LogOptions,
) -> Result<crate::checkpoints::CheckpointOptions> {
    use crate::checkpoints::{Sink, CHECKPOINTS_FILE, CHECKPOINTS_TOPIC};
    let (sink, reader) = match &log.kafka {
        None => (Sink::File(log.data.join(CHECKPOINTS_FILE)), None),
        Some(_) => {
            let mut topics = event_log::Topics::new(&log.prefix, log.partitions)?;
            topics.replication_factor = log.replication_factor;
            let settings = log_admin::kafka_settings(log)?;
            let topic =
                event_log::kafka::SideTopic::open(&settings, &topics, CHECKPOINTS_TOPIC).await?;
            let reader: Arc<dyn event_log::LogReader> = log_admin::open_existing(log).await?;
            (Sink::Kafka(topic), Some(reader))
        }
    };
    Ok(crate::checkpoints::CheckpointOptions {
        interval: (section.interval_secs > 0).then(|| Duration::from_secs(section.interval_secs)),
        key: crate::checkpoints::signing_key(section.signing_key.as_deref())?,
        sink,
        reader,
    })
}

/// `ledger submit`: 0 all accepted, 1 some rejected, 2 some invalid or unanswered.
pub fn submit(config: &LedgerConfig, args: SubmitArgs, out: &mut impl Write) -> Result<ExitCode> {
    let input =
        String::from_utf8(read_input(&args.file)?).context("commands must be UTF-8 text")?;
    let options = args.log.options(config);
    let wait = Duration::from_secs(args.wait_secs);
    let summary = runtime()?.block_on(submit_lines(config, &options, &input, wait, out))?;
    Ok(if summary.invalid + summary.unanswered > 0 {
        ExitCode::from(2)
    } else if summary.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ledger query`: 0 answered, 2 the query was refused, 3 no log where it was pointed.
pub fn query(config: &LedgerConfig, args: QueryArgs, out: &mut impl Write) -> Result<ExitCode> {
    let output = if args.table {
        query::Output::Table
    } else if args.csv {
        query::Output::Csv
    } else {
        query::Output::Json
    };
    let request = args.what.into_query(args.at_least);
    let options = args.log.options(config);
    // CSV carries every row unless a --limit was asked for.
    let limited = request.params.iter().any(|(name, _)| name == "limit");
    let every_page = matches!(output, query::Output::Csv) && !limited;
    let answer = match running::endpoint_of(&options) {
        Some(endpoint) => {
            query::all_pages(|q| query::via_serve(&endpoint, q), &request, every_page)
        }
        None => {
            let runtime = runtime()?;
            let ask = |q: &query::CliQuery| runtime.block_on(query::locally(config, &options, q));
            query::all_pages(ask, &request, every_page)
        }
    };
    match answer {
        Ok(value) => {
            query::print(&value, output, out)?;
            if let (query::Output::Csv, Some(next)) = (&output, value["next"].as_str()) {
                eprintln!("ledger query: stopped at --limit; the next page: --after {next}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("ledger query: {error:#}");
            // No log where it was pointed is a problem of the setup, not the query.
            let not_found = matches!(
                error.downcast_ref::<event_log::LogError>(),
                Some(event_log::LogError::NotFound { .. })
            );
            Ok(ExitCode::from(if not_found { 3 } else { 2 }))
        }
    }
}

/// `ledger rebuild`: through the serve that holds the directory, else in this process.
pub fn rebuild(config: &LedgerConfig, args: RebuildArgs, out: &mut impl Write) -> Result<ExitCode> {
    let options = args.log.options(config);
    let outcome = match running::endpoint_of(&options) {
        Some(endpoint) => query::rebuild_via_serve(&endpoint),
        None => runtime()?.block_on(query::rebuild_locally(config, &options)),
    }?;
    query::print(&outcome, query::Output::Json, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `ledger replay` and `replay-tool`: 0 clean, 1 a break (a damaged byte of the stored history
/// is one, like a broken chain).
pub fn replay(config: &LedgerConfig, args: ReplayArgs, out: &mut impl Write) -> Result<ExitCode> {
    if let Some(code) = replay_tool::cli::offline(&args.command, out) {
        return Ok(ExitCode::from(code?));
    }
    let options = args.log.options(config);
    let code = runtime()?.block_on(async {
        let log = log_admin::open_reader(&options).await?;
        let context = replay_context(config, &options);
        replay_tool::cli::run(log.as_ref(), args.command, context, out).await
    });
    match code {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(error) if error.is_break() => {
            eprintln!("{}: the log is broken: {error:#}", program());
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error.into()),
    }
}

/// What the replay commands fold with: the deployment's settlement rules, and its live read
/// models (the directory the serve of `options` keeps them in).
pub fn replay_context(
    config: &LedgerConfig,
    options: &LogOptions,
) -> replay_tool::cli::ReplayContext {
    replay_tool::cli::ReplayContext {
        projector: projections::Projector::new(config.settlement.clone()),
        live: config.read_side_for(options, "replay").store_dir,
    }
}

/// `ledger reconcile`: 0 clean, 1 unexplained breaks remain.
pub fn reconcile(
    config: &LedgerConfig,
    args: ReconcileArgs,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let input = read_input(&args.psp)?;
    let request = reconcile_request(&args)?;
    let options = args.log.options(config);
    let runtime = runtime()?;
    let now = command_handler::Clock::now(&command_handler::SystemClock);
    let reconciled = runtime.block_on(async {
        let log = log_admin::open_reader(&options).await?;
        anyhow::Ok(reconcile::reconcile(log.as_ref(), &input, &request, now).await?)
    })?;
    reconcile::write(&reconciled.report, args.format, out)?;
    if let Some((recording, command)) = &reconciled.recording {
        runtime.block_on(record_reconciliation(config, &options, command))?;
        eprintln!("recorded as reconciliation run {}", recording.run_id);
    }
    Ok(if reconciled.report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Publishes command lines and prints their results: through the serve that owns an embedded
/// directory when one runs, else with the handler in this process (embedded) or on the
/// handler group (Kafka).
async fn submit_lines(
    config: &LedgerConfig,
    options: &LogOptions,
    input: &str,
    wait: Duration,
    out: &mut impl Write,
) -> Result<submit::SubmitSummary> {
    let log = match log_admin::open(options).await {
        Ok(log) => log,
        // A serve owns the directory: go through its HTTP front door.
        Err(event_log::LogError::InUse { path }) => {
            let endpoint = running::Endpoint::of(&options.data).ok_or_else(|| {
                anyhow::anyhow!(
                    "{path} is in use by another process that publishes no serve address"
                )
            })?;
            return submit::submit_via_serve(&endpoint, input, wait, out).await;
        }
        Err(other) => return Err(other.into()),
    };
    let handler_config = config.handler_config_for(options);
    let process_locally = options.kafka.is_none();
    submit::submit(log, handler_config, input, process_locally, wait, out).await
}

/// The reconciliation `args` ask for.
fn reconcile_request(args: &ReconcileArgs) -> Result<reconcile::Request> {
    let mut map = finance::psp::ColumnMap::default();
    for mapping in &args.mappings {
        map.set(mapping)?;
    }
    let period = finance::reconcile::Options {
        from: args.from,
        to: args.to,
        window_days: args.window_days,
        carrier: args.carrier.clone(),
    };
    let record = (!args.no_record).then(|| reconcile::RecordAs {
        provider: args
            .carrier
            .clone()
            .unwrap_or_else(|| args.provider.clone()),
        run_id: args.run_id.clone(),
        actor: args.actor.clone(),
    });
    Ok(reconcile::Request {
        map,
        period,
        record,
    })
}

/// Submits the command that records a reconciliation run; `Err` unless it was accepted.
async fn record_reconciliation(
    config: &LedgerConfig,
    options: &LogOptions,
    command: &order_events::envelope::CommandEnvelope,
) -> Result<()> {
    let line = order_events::codec::json::encode_command_json(command);
    let mut results = Vec::new();
    let wait = Duration::from_secs(30);
    let summary = submit_lines(config, options, &line, wait, &mut results).await?;
    anyhow::ensure!(
        summary.accepted == 1,
        "the run was reconciled but not recorded: {}",
        String::from_utf8_lossy(&results).trim()
    );
    Ok(())
}

/// `ledger demo`: 0 when the books balanced.
pub fn demo(config: &LedgerConfig, args: DemoArgs, out: &mut impl Write) -> Result<ExitCode> {
    let options = demo::DemoOptions {
        orders: args.orders,
        seed: args.seed,
        data: args.data,
        progress: io::IsTerminal::is_terminal(&io::stderr()),
    };
    let data = options.data.clone();
    // Checked before the demo runs rather than after: a `[serve]` TLS key missing its pair.
    let tls = config.serve.tls((None, None))?;
    let summary = runtime()?.block_on(demo::run(config, &options, out))?;
    if !summary.balanced {
        return Ok(ExitCode::from(1));
    }
    let Some(listen) = args.serve else {
        return Ok(ExitCode::SUCCESS);
    };
    // The demo's shop stays up: a serve of its log, on the real clock from here on.
    let log = demo::log_options(config, &data);
    let how = ServeHow {
        instance_id: None,
        batch_size: None,
        listen,
        tls,
        extra_admin: Some(crate::auth::new_token()?),
    };
    serve_log(config, log, how, out)
}

/// `ledger bench`: 0 when no request of any run failed. `config` is the file given to `ledger`,
/// passed on to each run's serve.
pub fn bench(config: Option<&Path>, args: BenchArgs, out: &mut impl Write) -> Result<ExitCode> {
    let options = bench::BenchOptions {
        orders: args.orders,
        clients: args.clients,
        skus: args.skus,
        ledger: std::env::current_exe().context("finding the ledger binary")?,
        config: config.map(Path::to_path_buf),
        scratch: args.scratch,
    };
    let runs = bench::run(&options, &mut io::stderr())?;
    match args.format {
        Format::Text => bench::write_table(out, &runs)?,
        Format::Json => serde_json::to_writer_pretty(&mut *out, &runs)?,
    }
    let failed = runs.iter().any(|run| run.errors > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ledger order-id`.
pub fn order_id(args: OrderIdArgs, out: &mut impl Write) -> Result<ExitCode> {
    let id = OrderId::for_external_reference(&args.channel, &args.reference);
    writeln!(out, "{id}")?;
    Ok(ExitCode::SUCCESS)
}

/// `ledger token`: a new token and the `[[auth.tokens]]` entry that admits it.
pub fn token(args: TokenArgs, out: &mut impl Write) -> Result<ExitCode> {
    let token = crate::auth::new_token()?;
    let roles: Vec<String> = args
        .roles
        .iter()
        .map(|role| format!("{:?}", role.code()))
        .collect();
    writeln!(out, "token (give to {}; shown once): {token}", args.name)?;
    writeln!(out)?;
    writeln!(out, "[[auth.tokens]]")?;
    writeln!(out, "name = {:?}", args.name)?;
    writeln!(out, "sha256 = \"{}\"", crate::auth::sha256_hex(&token))?;
    writeln!(out, "roles = [{}]", roles.join(", "))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `error` is the output's reader going away (`ledger … | head`; a broken pipe, or the
/// replay tool's `OutputClosed`): the reader had what it wanted, so the command ends quietly
/// with status 0, as `cat` would.
pub fn output_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let pipe = cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe);
        let replay = cause.downcast_ref::<replay_tool::ReplayError>();
        pipe || matches!(replay, Some(replay_tool::ReplayError::OutputClosed))
    })
}

/// The name this process was started as, for messages (`ledger` or `replay-tool`).
fn program() -> String {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&argv0).file_name().unwrap_or_default();
    name.to_string_lossy().into_owned()
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A file's bytes, or standard input's for `-`.
fn read_input(file: &Path) -> Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut buffer = Vec::new();
        io::Read::read_to_end(&mut io::stdin(), &mut buffer)?;
        Ok(buffer)
    } else {
        fs::read(file).with_context(|| format!("reading {}", file.display()))
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "no SIGTERM handler; stopping on SIGINT only");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing the batch");
}
