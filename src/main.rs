//! `ledger`: the order-ledger command line. Parses arguments and calls the library.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use order_events::ids::OrderId;
use order_ledger::config::LedgerConfig;
use order_ledger::log_admin::{self, LogOptions};
use order_ledger::{bench, demo, query, rules, running, serve, submit, validate};

mod cli;

use cli::{Cli, Command, Format};

/// mimalloc instead of the system allocator: sled's page cache allocates and frees small
/// nodes at a high rate, and glibc's malloc slows down as its heap fragments (BENCHMARKS.md,
/// replay tool: rebuild).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Opens the log read-only (never creating a directory or a topic), through a running serve
/// when one holds the data directory.
async fn open_reader(options: &LogOptions) -> Result<Arc<dyn event_log::Log>> {
    let source = match options.kafka {
        Some(_) => replay_tool::source::Source::Kafka(log_admin::kafka_settings(options)?),
        None => replay_tool::source::Source::Embedded {
            data: options.data.clone(),
        },
    };
    Ok(replay_tool::source::open_reader(&source, &options.prefix).await?)
}

/// A file's bytes, or standard input's for `-`.
fn read_input(file: &PathBuf) -> Result<Vec<u8>> {
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

fn main() -> ExitCode {
    event_log::process::disable_transparent_huge_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ledger: {error:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let config = match &cli.config {
        Some(path) => LedgerConfig::load(path)?,
        None => LedgerConfig::default(),
    };
    match cli.command {
        Command::Rules { format } => {
            match format {
                Format::Text => rules::write_text(&mut out)?,
                Format::Json => rules::write_json(&mut out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            file,
            history,
            events,
            format,
            strict,
        } => {
            let input = read_input(&file)?;
            let mut ledger = match history {
                Some(path) => {
                    let text = fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    validate::load_history(&text, config.policy.clone())
                        .with_context(|| format!("loading {}", path.display()))?
                }
                None => order_events::ledger::MemoryLedger::new(config.policy.clone()),
            };
            let lines = validate::run(&mut ledger, &input);
            match format {
                Format::Text => validate::write_text(&mut out, &lines)?,
                Format::Json => validate::write_json(&mut out, &lines)?,
            }
            if let Some(path) = events {
                let mut file = fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                validate::write_events(&mut file, &lines)?;
                file.flush()?;
            }
            let summary = validate::summarize(&lines);
            Ok(if summary.undecodable > 0 {
                ExitCode::from(2)
            } else if strict && summary.rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Schemas { out: dir } => {
            for (path, contents) in order_events::schema::all() {
                let file = dir.join(&path);
                if let Some(parent) = file.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(&file, contents)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            writeln!(
                out,
                "wrote {} schema files to {}",
                order_events::schema::all().len(),
                dir.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Topics { log } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let log = log_admin::open(&log.options(&config)).await?;
                log_admin::describe(log.as_ref(), &mut out).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            log,
            instance_id,
            batch_size,
            listen,
        } => {
            let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .context("installing the metrics recorder")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let stats = runtime.block_on(async {
                let options = log.options(&config);
                let log = log_admin::open(&options).await?;
                let mut handler_config = config.handler_config_for(&options);
                if let Some(instance_id) = instance_id {
                    handler_config.instance_id = instance_id;
                }
                if let Some(batch_size) = batch_size {
                    handler_config.batch_size_max = batch_size;
                }
                let listen = listen.unwrap_or_else(|| config.serve.listen.clone());
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                let read_side = config.read_side_for(&options, &handler_config.instance_id);
                let serve_options = serve::ServeOptions {
                    read_side,
                    handler: handler_config,
                    listener,
                    data: options.kafka.is_none().then(|| options.data.clone()),
                    metrics: Some(metrics),
                    wait: Duration::from_secs(30),
                    auth: config.auth()?,
                };
                serve::serve(
                    log,
                    Arc::new(command_handler::SystemClock),
                    serve_options,
                    shutdown_signal(),
                )
                .await
            })?;
            writeln!(out, "stopped: {stats:?}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit {
            log,
            file,
            wait_secs,
        } => {
            let input = read_input(&file)?;
            let input = String::from_utf8(input).context("commands must be UTF-8 text")?;
            let options = log.options(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let wait = Duration::from_secs(wait_secs);
            let summary =
                runtime.block_on(submit_lines(&config, &options, &input, wait, &mut out))?;
            Ok(if summary.invalid + summary.unanswered > 0 {
                ExitCode::from(2)
            } else if summary.rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Query {
            log,
            what,
            table,
            csv,
            at_least,
        } => {
            let output = if table {
                query::Output::Table
            } else if csv {
                query::Output::Csv
            } else {
                query::Output::Json
            };
            let request = what.into_query(at_least);
            let options = log.options(&config);
            let served = running::endpoint_of(&options);
            let answer = match served {
                Some(endpoint) => query::via_serve(&endpoint, &request),
                None => {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(query::locally(&config, &options, &request))
                }
            };
            match answer {
                Ok(value) => {
                    query::print(&value, output, &mut out)?;
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
        Command::Rebuild { log } => {
            let options = log.options(&config);
            let served = running::endpoint_of(&options);
            let outcome = match served {
                Some(endpoint) => query::rebuild_via_serve(&endpoint),
                None => tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?
                    .block_on(query::rebuild_locally(&config, &options)),
            }?;
            query::print(&outcome, query::Output::Json, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { log, command } => {
            if let replay_tool::cli::ReplayCommand::CheckProof { file } = &command {
                return Ok(ExitCode::from(replay_tool::cli::check_proof_file(
                    file, &mut out,
                )?));
            }
            let options = log.options(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let code: Result<u8> = runtime.block_on(async {
                let log = open_reader(&options).await?;
                let context = replay_tool::cli::ReplayContext {
                    projector: projections::Projector::new(config.settlement.clone()),
                    live: config.read_side_for(&options, "replay").store_dir,
                };
                Ok(replay_tool::cli::run(log.as_ref(), command, context, &mut out).await?)
            });
            match code {
                Ok(code) => Ok(ExitCode::from(code)),
                // A damaged byte in the stored history is a break, like a broken chain.
                Err(error)
                    if error
                        .downcast_ref()
                        .is_some_and(replay_tool::ReplayError::is_break) =>
                {
                    eprintln!("ledger: the log is broken: {error:#}");
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error),
            }
        }
        Command::Reconcile {
            log,
            psp,
            mappings,
            from,
            to,
            window_days,
            format,
            provider,
            run_id,
            actor,
            no_record,
        } => {
            let mut map = finance::psp::ColumnMap::default();
            for mapping in &mappings {
                map.set(mapping)?;
            }
            let request = order_ledger::reconcile::Request {
                map,
                period: finance::reconcile::Options {
                    from,
                    to,
                    window_days,
                },
                record: (!no_record).then_some(order_ledger::reconcile::RecordAs {
                    provider,
                    run_id,
                    actor,
                }),
            };
            let input = read_input(&psp)?;
            let options = log.options(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let now = command_handler::Clock::now(&command_handler::SystemClock);
            let reconciled = runtime.block_on(async {
                let log = open_reader(&options).await?;
                Ok::<_, anyhow::Error>(
                    order_ledger::reconcile::reconcile(log.as_ref(), &input, &request, now).await?,
                )
            })?;
            order_ledger::reconcile::write(&reconciled.report, format, &mut out)?;
            if let Some((recording, command)) = &reconciled.recording {
                let line = order_events::codec::json::encode_command_json(command);
                let mut results = Vec::new();
                let summary = runtime.block_on(submit_lines(
                    &config,
                    &options,
                    &line,
                    Duration::from_secs(30),
                    &mut results,
                ))?;
                let result = String::from_utf8_lossy(&results);
                anyhow::ensure!(
                    summary.accepted == 1,
                    "the run was reconciled but not recorded: {}",
                    result.trim()
                );
                eprintln!("recorded as reconciliation run {}", recording.run_id);
            }
            Ok(if reconciled.report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Demo { orders, seed, data } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let options = demo::DemoOptions {
                orders,
                seed,
                data,
                progress: io::IsTerminal::is_terminal(&io::stderr()),
            };
            let summary = runtime.block_on(demo::run(&config, &options, &mut out))?;
            Ok(if summary.balanced {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Bench {
            orders,
            clients,
            skus,
            scratch,
            format,
        } => {
            let options = bench::BenchOptions {
                orders,
                clients,
                skus,
                ledger: std::env::current_exe().context("finding the ledger binary")?,
                config: cli.config.clone(),
                scratch,
            };
            let runs = bench::run(&options, &mut io::stderr())?;
            match format {
                Format::Text => bench::write_table(&mut out, &runs)?,
                Format::Json => serde_json::to_writer_pretty(&mut out, &runs)?,
            }
            let failed = runs.iter().any(|run| run.errors > 0);
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::OrderId { channel, reference } => {
            writeln!(
                out,
                "{}",
                OrderId::for_external_reference(&channel, &reference)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { name, roles } => {
            let token = order_ledger::auth::new_token()?;
            let roles: Vec<String> = roles
                .iter()
                .map(|role| format!("{:?}", role.code()))
                .collect();
            writeln!(out, "token (give to {name}; shown once): {token}")?;
            writeln!(out)?;
            writeln!(out, "[[auth.tokens]]")?;
            writeln!(out, "name = {name:?}")?;
            writeln!(
                out,
                "sha256 = \"{}\"",
                order_ledger::auth::sha256_hex(&token)
            )?;
            writeln!(out, "roles = [{}]", roles.join(", "))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
