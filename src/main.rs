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
use order_events::Policy;
use order_ledger::log_admin::{self, LogOptions};
use order_ledger::{rules, submit, validate};

#[derive(Parser)]
#[command(name = "ledger", version, about = "Event-sourced order ledger")]
struct Cli {
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
        /// This instance's stable name; give each `serve --kafka` instance its own.
        #[arg(long, default_value = "0")]
        instance_id: String,
        /// Most commands decided per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
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
    /// Print the order id the ledger derives from a channel and external reference.
    OrderId {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        reference: String,
    },
}

/// Where the log is: an embedded directory (default) or a Kafka cluster.
#[derive(clap::Args)]
struct LogArgs {
    /// Embedded data directory (ignored with --kafka).
    #[arg(long, default_value = "ledger-data")]
    data: PathBuf,
    /// Kafka bootstrap servers, e.g. localhost:9092.
    #[arg(long)]
    kafka: Option<String>,
    /// A librdkafka property, e.g. security.protocol=SASL_SSL (repeatable).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
    /// A file of librdkafka properties (key=value lines).
    #[arg(long)]
    kafka_config_file: Option<PathBuf>,
    /// Topic prefix: topics are <prefix>.commands, .events, .command-results, .dead-letter.
    #[arg(long, default_value = event_log::DEFAULT_PREFIX)]
    prefix: String,
    /// Partitions of topics this command creates.
    #[arg(long, default_value_t = event_log::DEFAULT_PARTITIONS)]
    partitions: u32,
    /// Replication factor of topics this command creates (Kafka).
    #[arg(long, default_value_t = 1)]
    replication_factor: u16,
}

impl LogArgs {
    fn options(self) -> LogOptions {
        LogOptions {
            data: self.data,
            kafka: self.kafka,
            kafka_config: self.kafka_config,
            kafka_config_file: self.kafka_config_file,
            prefix: self.prefix,
            partitions: self.partitions,
            replication_factor: self.replication_factor,
        }
    }
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
                    validate::load_history(&text, Policy::default())
                        .with_context(|| format!("loading {}", path.display()))?
                }
                None => order_events::ledger::MemoryLedger::new(Policy::default()),
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
                let log = log_admin::open(&log.options()).await?;
                log_admin::describe(log.as_ref(), &mut out).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            log,
            instance_id,
            batch_size,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let stats = runtime.block_on(async {
                let log = log_admin::open(&log.options()).await?;
                let config = command_handler::HandlerConfig {
                    instance_id,
                    batch_size_max: batch_size,
                    ..command_handler::HandlerConfig::default()
                };
                let handler = command_handler::Handler::new(
                    log,
                    config,
                    Arc::new(command_handler::SystemClock),
                );
                tracing::info!("serving");
                anyhow::Ok(handler.run(shutdown_signal()).await?)
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
            let process_locally = log.kafka.is_none();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let summary = runtime.block_on(async {
                let log = log_admin::open(&log.options()).await.map_err(|error| match error {
                    event_log::LogError::InUse { path } => anyhow::anyhow!(
                        "{path} is owned by a running `ledger serve`; stop it to submit into the directory directly"
                    ),
                    other => other.into(),
                })?;
                submit::submit(log, &input, process_locally, Duration::from_secs(wait_secs), &mut out).await
            })?;
            Ok(if summary.invalid + summary.unanswered > 0 {
                ExitCode::from(2)
            } else if summary.rejected > 0 {
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
    }
}
