//! `replay-tool`: the auditor's command line. Reads a deployment's events topic — an embedded
//! data directory or Kafka — and never writes to it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use event_log::embedded::EmbeddedLog;
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{Log, Topics};
use replay_tool::cli::{self, ReplayCommand};

#[derive(Parser)]
#[command(
    name = "replay-tool",
    version,
    about = "Verify, export and trace the order ledger's event log"
)]
struct Args {
    /// Embedded data directory (ignored with --kafka).
    #[arg(long, default_value = "ledger-data")]
    data: PathBuf,
    /// Kafka bootstrap servers.
    #[arg(long)]
    kafka: Option<String>,
    /// A librdkafka property (repeatable), e.g. security.protocol=SASL_SSL.
    #[arg(long = "kafka-config", value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
    /// Topic prefix of the deployment.
    #[arg(long, default_value = event_log::DEFAULT_PREFIX)]
    prefix: String,
    #[command(subcommand)]
    command: ReplayCommand,
}

async fn open(args: &Args) -> anyhow::Result<Arc<dyn Log>> {
    let topics = Topics::new(&args.prefix, event_log::DEFAULT_PARTITIONS)?;
    Ok(match &args.kafka {
        Some(bootstrap) => {
            let mut settings = KafkaSettings::new(bootstrap);
            for property in &args.kafka_config {
                settings = settings.with_property(property)?;
            }
            Arc::new(KafkaLog::connect(settings, topics).await?)
        }
        None => {
            anyhow::ensure!(
                args.data.join("db").exists(),
                "{} holds no ledger data",
                args.data.display()
            );
            match EmbeddedLog::open(&args.data, topics) {
                Ok(log) => Arc::new(log),
                // A running `ledger serve` holds the directory: read through it.
                Err(event_log::LogError::InUse { path }) => {
                    let address =
                        std::fs::read_to_string(args.data.join("serve.addr")).map_err(|_| {
                            anyhow::anyhow!(
                                "{path} is in use by a process that publishes no serve address"
                            )
                        })?;
                    Arc::new(replay_tool::served::ServedLog::connect(address.trim()).await?)
                }
                Err(other) => return Err(other.into()),
            }
        }
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("replay-tool: {error}");
            return ExitCode::from(3);
        }
    };
    let outcome = runtime.block_on(async {
        if let ReplayCommand::CheckProof { file } = &args.command {
            return cli::check_proof_file(file, &mut std::io::stdout().lock());
        }
        let log = open(&args).await?;
        let context = cli::ReplayContext {
            projector: projections::Projector::default(),
            live: args.kafka.is_none().then(|| args.data.join("read-models")),
        };
        cli::run(
            log.as_ref(),
            args.command,
            context,
            &mut std::io::stdout().lock(),
        )
        .await
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("replay-tool: {error:#}");
            ExitCode::from(3)
        }
    }
}
