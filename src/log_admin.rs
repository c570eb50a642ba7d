//! Opening a deployment's log from command-line options, and `ledger topics`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use event_log::embedded::EmbeddedLog;
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{Log, LogError, Topic, Topics};

/// Where the log lives and how its topics are laid out.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Embedded data directory; used unless `kafka` is given.
    pub data: PathBuf,
    /// Kafka bootstrap servers.
    pub kafka: Option<String>,
    /// librdkafka properties as `key=value`.
    pub kafka_config: Vec<String>,
    /// A properties file of librdkafka settings.
    pub kafka_config_file: Option<PathBuf>,
    pub prefix: String,
    pub partitions: u32,
    pub replication_factor: u16,
}

/// Opens the log, creating missing topics and checking existing ones.
pub async fn open(options: &LogOptions) -> Result<Arc<dyn Log>, LogError> {
    let mut topics = Topics::new(&options.prefix, options.partitions)?;
    topics.replication_factor = options.replication_factor;
    match &options.kafka {
        None => Ok(Arc::new(EmbeddedLog::open(&options.data, topics)?)),
        Some(_) => Ok(Arc::new(
            KafkaLog::connect(kafka_settings(options)?, topics).await?,
        )),
    }
}

/// Opens the log as a reader: it must exist already (an embedded directory with a log in it,
/// or the deployment's topics), else [`LogError::NotFound`]; nothing is created.
pub async fn open_existing(options: &LogOptions) -> Result<Arc<dyn Log>, LogError> {
    let topics = Topics::new(&options.prefix, options.partitions)?;
    match &options.kafka {
        None => Ok(Arc::new(EmbeddedLog::open_existing(&options.data, topics)?)),
        Some(_) => Ok(Arc::new(
            KafkaLog::connect_existing(kafka_settings(options)?, topics).await?,
        )),
    }
}

/// Opens the log to read it only (never creating a directory or a topic), through a running
/// serve when one holds the data directory.
pub async fn open_reader(
    options: &LogOptions,
) -> Result<Arc<dyn event_log::LogReader>, replay_tool::ReplayError> {
    use replay_tool::source::{self, Source};
    let source = match options.kafka {
        Some(_) => Source::Kafka(kafka_settings(options)?),
        None => Source::Embedded {
            data: options.data.clone(),
        },
    };
    source::open_reader(&source, &options.prefix).await
}

/// The Kafka client settings of `options`: bootstrap servers, then the properties file, then
/// each `--kafka-config` property (later ones win).
pub fn kafka_settings(options: &LogOptions) -> Result<KafkaSettings, LogError> {
    let bootstrap = options
        .kafka
        .as_deref()
        .ok_or_else(|| LogError::Config("no Kafka bootstrap servers given".to_owned()))?;
    let mut settings = KafkaSettings::new(bootstrap);
    if let Some(path) = &options.kafka_config_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LogError::Config(format!("reading {}: {e}", path.display())))?;
        settings = settings.with_properties_file(&text)?;
    }
    for assignment in &options.kafka_config {
        settings = settings.with_property(assignment)?;
    }
    Ok(settings)
}

/// Prints every topic of the deployment with its partition count and end offsets.
pub async fn describe(log: &dyn event_log::LogReader, out: &mut impl Write) -> anyhow::Result<()> {
    for topic in Topic::ALL {
        let ends = log.end_offsets(topic).await?;
        let total: u64 = ends.iter().sum();
        writeln!(
            out,
            "{:<40} partitions {:>3}  end offsets {:?} (total {total})",
            log.topics().name(topic),
            ends.len(),
            ends
        )?;
    }
    Ok(())
}
