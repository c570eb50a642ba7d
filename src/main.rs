//! `ledger`: the order-ledger command line. Parses arguments and calls the library.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use order_events::ids::OrderId;
use order_events::Policy;
use order_ledger::log_admin::{self, LogOptions};
use order_ledger::{rules, validate};

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

fn main() -> ExitCode {
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
            let input = if file.as_os_str() == "-" {
                let mut buffer = Vec::new();
                io::Read::read_to_end(&mut io::stdin(), &mut buffer)?;
                buffer
            } else {
                fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
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
