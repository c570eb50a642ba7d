//! `replay-tool`: the auditor's command line. Reads a deployment's events topic — an embedded
//! data directory or Kafka — and never writes to it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use event_log::kafka::KafkaSettings;
use event_log::Log;
use replay_tool::cli::{self, ReplayCommand};
use replay_tool::ReplayError;

/// mimalloc instead of the system allocator: sled's page cache allocates and frees small
/// nodes at a high rate, and glibc's malloc slows down as its heap fragments (BENCHMARKS.md,
/// replay tool: rebuild).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use replay_tool::source::{self, Source};

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
    let source = match &args.kafka {
        Some(bootstrap) => {
            let mut settings = KafkaSettings::new(bootstrap);
            for property in &args.kafka_config {
                settings = settings.with_property(property)?;
            }
            Source::Kafka(settings)
        }
        None => Source::Embedded {
            data: args.data.clone(),
        },
    };
    Ok(source::open_reader(&source, &args.prefix).await?)
}

fn main() -> ExitCode {
    event_log::process::disable_transparent_huge_pages();
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
    let outcome: anyhow::Result<u8> = runtime.block_on(async {
        if let ReplayCommand::CheckProof { file } = &args.command {
            return Ok(cli::check_proof_file(file, &mut std::io::stdout().lock())?);
        }
        let log = open(&args).await?;
        let context = cli::ReplayContext {
            projector: projections::Projector::default(),
            live: args.kafka.is_none().then(|| args.data.join("read-models")),
        };
        Ok(cli::run(
            log.as_ref(),
            args.command,
            context,
            &mut std::io::stdout().lock(),
        )
        .await?)
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.downcast_ref().is_some_and(ReplayError::is_break) => {
            eprintln!("replay-tool: the log is broken: {error:#}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("replay-tool: {error:#}");
            ExitCode::from(3)
        }
    }
}
