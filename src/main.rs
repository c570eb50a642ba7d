//! `ledger`: the order-ledger command line. Parses arguments and calls the library.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use order_events::ids::OrderId;
use order_ledger::config::LedgerConfig;
use order_ledger::log_admin::{self, LogOptions};
use order_ledger::{bench, demo, query, rules, running, serve, submit, validate};

/// mimalloc instead of the system allocator: sled's page cache allocates and frees small
/// nodes at a high rate, and glibc's malloc slows down as its heap fragments (BENCHMARKS.md,
/// replay tool: rebuild).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ledger", version, about = "Event-sourced order ledger")]
struct Cli {
    /// A ledger.toml with the deployment's settings (see examples/ledger.toml); flags override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Print every business rule (rejection code) and the order state machine.
    Rules {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Decide a file of JSON commands in memory and report each answer.
    ///
    /// Exit status: 0 when every command was accepted or rejected by a business rule (use
    /// --strict to fail on rejections), 1 with --strict and a rejection, 2 when a command
    /// could not be decoded, 3 on a problem with the files themselves.
    Validate {
        /// JSON commands, one after another (JSON Lines or pretty-printed); `-` for stdin.
        file: PathBuf,
        /// Exported events (JSON Lines) to start from instead of an empty ledger.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Write the accepted events here as JSON Lines (usable as a later --history).
        #[arg(long)]
        events: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit with status 1 if any command is rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Write the JSON Schema of every command and event into a directory.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
    },
    /// Create the deployment's topics where missing, check them, and print their end offsets.
    Topics {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run the command handler until SIGINT or SIGTERM (then finish the batch and commit).
    Serve {
        #[command(flatten)]
        log: LogArgs,
        /// This instance's stable name; give each `serve --kafka` instance its own [default: 0].
        #[arg(long)]
        instance_id: Option<String>,
        /// Most commands decided per transaction [default: 500].
        #[arg(long)]
        batch_size: Option<usize>,
        /// HTTP address for POST /v1/commands and GET /metrics [default: 127.0.0.1:0].
        #[arg(long)]
        listen: Option<String>,
    },
    /// Publish JSON command lines and print one JSON result per line.
    ///
    /// On an embedded directory no `ledger serve` owns, the commands are processed in this
    /// process. Exit status: 0 all accepted, 1 some rejected, 2 some invalid or unanswered.
    Submit {
        #[command(flatten)]
        log: LogArgs,
        /// JSON command lines; `-` for stdin.
        file: PathBuf,
        /// How long to wait for each command's result.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
    },
    /// Query the read models: orders, inventory, balances, reports, exceptions.
    ///
    /// Through the serve that owns the data directory when one runs; otherwise the read
    /// models are caught up with the log in this process first. Prints JSON, or a table
    /// (--table) or CSV (--csv).
    Query {
        #[command(flatten)]
        log: LogArgs,
        #[command(subcommand)]
        what: QueryWhat,
        /// Print a readable table instead of JSON.
        #[arg(long, global = true, conflicts_with = "csv")]
        table: bool,
        /// Print CSV (one row per order, item or account) for spreadsheets.
        #[arg(long, global = true)]
        csv: bool,
        /// Events-topic positions P:O,P:O (from a command result) the answer must include.
        #[arg(long, global = true)]
        at_least: Option<String>,
    },
    /// Rebuild the read models from the log: a fresh copy beside the live one, then a switch.
    ///
    /// Through the serve that owns the data directory when one runs (it keeps answering
    /// queries from the live copy meanwhile); otherwise in this process.
    Rebuild {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Audit the event log (read-only): verify chains and transitions, export, trace history.
    /// The same commands as the `replay-tool` binary.
    Replay {
        #[command(flatten)]
        log: LogArgs,
        #[command(subcommand)]
        command: replay_tool::cli::ReplayCommand,
    },
    /// Reconcile a payment provider's settlement report (CSV) against the ledger's captures and
    /// refunds. Exit status 1 when unexplained breaks remain, 3 when it could not run.
    Reconcile {
        #[command(flatten)]
        log: LogArgs,
        /// The provider's report. Default columns: psp_reference, type (capture, refund,
        /// chargeback, fee, payout), gross, fee, net, currency, date, and optionally order_id
        /// and payment_id.
        #[arg(long)]
        psp: PathBuf,
        /// Another layout's column for a field, e.g. gross=Amount (repeatable); and
        /// date_format=%d.%m.%Y for dates not written YYYY-MM-DD.
        #[arg(long = "map", value_name = "FIELD=COLUMN")]
        mappings: Vec<String>,
        /// First day of the period [default: the report's first date].
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day of the period [default: the report's last date].
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Days a line's date may be from the ledger's for a match by amount alone.
        #[arg(long, default_value_t = 3)]
        window_days: u32,
        #[arg(long, value_enum, default_value = "table")]
        format: order_ledger::reconcile::ReportFormat,
        /// The payment provider whose report it is (recorded with the run).
        #[arg(long, default_value = order_ledger::reconcile::DEFAULT_PROVIDER)]
        provider: String,
        /// The run's id [default: <provider>-<UTC time>].
        #[arg(long)]
        run_id: Option<String>,
        /// Who reconciles, as KIND:ID (recorded with the run).
        #[arg(long, default_value = order_ledger::reconcile::DEFAULT_ACTOR)]
        actor: String,
        /// Do not record the run as an event (e.g. on a read-only copy of the log).
        #[arg(long)]
        no_record: bool,
    },
    /// Simulate a shop end to end on the embedded log and print what the read models say.
    Demo {
        /// Orders to place.
        #[arg(long, default_value_t = 3000)]
        orders: u32,
        /// Seed of the simulated traffic.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Data directory for the run (cleared first if an earlier demo made it).
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
    },
    /// Measure the front door: the peer's workload (place, wait until awaiting payment,
    /// capture, ship) through HTTP with C clients against a fresh `ledger serve` per run;
    /// prints orders/s, commands/s, CPU per order and p50/p99 per command.
    Bench {
        /// Orders per run.
        #[arg(long, default_value_t = 3000)]
        orders: usize,
        /// Client counts, one run each.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
        clients: Vec<usize>,
        /// SKUs the orders are spread over.
        #[arg(long, default_value_t = 100)]
        skus: usize,
        /// Where each run's data directory is made (and removed after it).
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        scratch: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Print the order id the ledger derives from a channel and external reference.
    OrderId {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        reference: String,
    },
    /// Make a new HTTP API token: prints the token (give it to its holder) and the `[auth]`
    /// entry with its SHA-256 (put that in ledger.toml; the token itself is stored nowhere).
    Token {
        /// Who will hold it.
        #[arg(long)]
        name: String,
        /// Its roles.
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<order_ledger::auth::Role>,
    },
}

#[derive(Subcommand)]
enum QueryWhat {
    /// Orders by placement time, filtered and paged.
    Orders {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        /// Placed at or after (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Placed before (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        /// The `next` cursor of the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// One order: status, timeline, lines, payments, shipments, returns.
    Order { id: String },
    /// One order's journal entries.
    Settlement { id: String },
    /// Stock per SKU and warehouse.
    Inventory {
        #[arg(long)]
        sku: Option<String>,
        /// Only items below their safety stock.
        #[arg(long)]
        low: bool,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        after: Option<String>,
    },
    /// Account balances of the settlement ledger (--merchants: what each merchant is owed, what
    /// a payout holds back now for open return windows, and what is available to pay out).
    Balances {
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        merchants: bool,
        #[arg(long, requires = "merchants")]
        merchant: Option<String>,
    },
    /// The sum of all accounts per currency: zero when the books balance.
    TrialBalance,
    /// Recorded reconciliation runs: who reconciled which provider report, when, what came out.
    Reconciliations,
    /// Orders, GMV, average order value, processing time and rates per day and channel.
    Reports {
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        channel: Option<String>,
    },
    /// Orders on hold, and orders longer in their status than its SLA.
    Exceptions {
        #[arg(long)]
        limit: Option<String>,
    },
    /// Projection lag, gaps and undecodable records.
    Status,
}

impl QueryWhat {
    fn into_query(self, at_least: Option<String>) -> order_ledger::query::CliQuery {
        use order_ledger::api::Route;
        let mut params: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                params.push((name.to_owned(), value));
            }
        };
        add("at_least", at_least);
        let (route, path) = match self {
            QueryWhat::Orders {
                status,
                merchant,
                customer,
                channel,
                from,
                to,
                limit,
                after,
            } => {
                add("status", status);
                add("merchant", merchant);
                add("customer", customer);
                add("channel", channel);
                add("from", from);
                add("to", to);
                add("limit", limit);
                add("after", after);
                (Route::Orders, Vec::new())
            }
            QueryWhat::Order { id } => (Route::Order, vec![id]),
            QueryWhat::Settlement { id } => (Route::OrderSettlement, vec![id]),
            QueryWhat::Inventory {
                sku,
                low,
                limit,
                after,
            } => {
                add("sku", sku);
                add("low", low.then(|| "true".to_owned()));
                add("limit", limit);
                add("after", after);
                (Route::Inventory, Vec::new())
            }
            QueryWhat::Balances {
                currency,
                merchants,
                merchant,
            } => {
                add("currency", currency);
                if merchants {
                    add("merchant", merchant);
                    (Route::MerchantBalances, Vec::new())
                } else {
                    (Route::Balances, Vec::new())
                }
            }
            QueryWhat::TrialBalance => (Route::TrialBalance, Vec::new()),
            QueryWhat::Reconciliations => (Route::Reconciliations, Vec::new()),
            QueryWhat::Reports { from, to, channel } => {
                add("from", from);
                add("to", to);
                add("channel", channel);
                (Route::Reports, Vec::new())
            }
            QueryWhat::Exceptions { limit } => {
                add("limit", limit);
                (Route::Exceptions, Vec::new())
            }
            QueryWhat::Status => (Route::Status, Vec::new()),
        };
        order_ledger::query::CliQuery {
            route,
            path,
            params,
        }
    }
}

/// Where the log is: an embedded directory (default) or a Kafka cluster. Unset flags come from
/// the configuration file, then the defaults.
#[derive(clap::Args)]
struct LogArgs {
    /// Embedded data directory (ignored with --kafka) [default: ledger-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Kafka bootstrap servers, e.g. localhost:9092.
    #[arg(long, global = true)]
    kafka: Option<String>,
    /// A librdkafka property, e.g. security.protocol=SASL_SSL (repeatable).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", global = true)]
    kafka_config: Vec<String>,
    /// A file of librdkafka properties (key=value lines).
    #[arg(long, global = true)]
    kafka_config_file: Option<PathBuf>,
    /// Topic prefix: topics are <prefix>.commands, .events, .command-results, .dead-letter
    /// [default: orders].
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Partitions of topics this command creates [default: 8].
    #[arg(long, global = true)]
    partitions: Option<u32>,
    /// Replication factor of topics this command creates (Kafka) [default: 1].
    #[arg(long, global = true)]
    replication_factor: Option<u16>,
}

impl LogArgs {
    fn options(self, config: &LedgerConfig) -> LogOptions {
        let section = &config.log;
        // The file's [kafka] properties first, so flags given on the command line win.
        let mut kafka_config: Vec<String> = config
            .kafka
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        kafka_config.extend(self.kafka_config);
        LogOptions {
            data: self.data.unwrap_or_else(|| section.data.clone()),
            kafka: self.kafka.or_else(|| section.kafka.clone()),
            kafka_config,
            kafka_config_file: self.kafka_config_file,
            prefix: self.prefix.unwrap_or_else(|| section.prefix.clone()),
            partitions: self.partitions.unwrap_or(section.partitions),
            replication_factor: self
                .replication_factor
                .unwrap_or(section.replication_factor),
        }
    }
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
            let code = runtime.block_on(async {
                let log = open_reader(&options).await?;
                let context = replay_tool::cli::ReplayContext {
                    projector: projections::Projector::new(config.settlement.clone()),
                    live: config.read_side_for(&options, "replay").store_dir,
                };
                replay_tool::cli::run(log.as_ref(), command, context, &mut out).await
            });
            match code {
                Ok(code) => Ok(ExitCode::from(code)),
                // A damaged byte in the stored history is a break, like a broken chain.
                Err(error) if replay_tool::is_break(&error) => {
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
            let actor = order_ledger::reconcile::parse_actor(&actor)?;
            let mut map = finance::psp::ColumnMap::default();
            for mapping in &mappings {
                map.set(mapping)?;
            }
            let input = read_input(&psp)?;
            let options = log.options(&config);
            let period = finance::reconcile::Options {
                from,
                to,
                window_days,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(async {
                let log = open_reader(&options).await?;
                order_ledger::reconcile::run(log.as_ref(), &input, &map, &period).await
            })?;
            order_ledger::reconcile::write(&report, format, &mut out)?;
            if !no_record {
                let now = command_handler::Clock::now(&command_handler::SystemClock);
                let recording = order_ledger::reconcile::Recording {
                    run_id: run_id
                        .unwrap_or_else(|| order_ledger::reconcile::default_run_id(&provider, now)),
                    provider,
                    actor,
                };
                let command =
                    order_ledger::reconcile::record_command(&report, &input, &recording, now)?;
                let line = order_events::codec::json::encode_command_json(&command);
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
            Ok(if report.is_clean() {
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
