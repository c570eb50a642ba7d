//! A topic beside a deployment's four, for what the ledger announces rather than decides
//! (its signed checkpoints): one partition, so readers see the announcements in order;
//! created when missing; written by an idempotent producer outside any transaction.

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::{create_topics_of, kafka_error, partition_count, KafkaSettings};
use crate::port::LogError;
use crate::topic::Topics;

/// `<prefix>.<suffix>`, ready to append to.
pub struct SideTopic {
    name: String,
    producer: FutureProducer,
    timeout: std::time::Duration,
}

impl SideTopic {
    /// Opens `<prefix>.<suffix>` of `topics`' deployment, creating it (one partition) when
    /// missing.
    pub async fn open(
        settings: &KafkaSettings,
        topics: &Topics,
        suffix: &str,
    ) -> Result<SideTopic, LogError> {
        let name = format!("{}.{suffix}", topics.prefix());
        if partition_count(settings, &name, std::time::Duration::ZERO).await? == 0 {
            create_topics_of(
                settings,
                1,
                topics.replication_factor,
                std::slice::from_ref(&name),
            )
            .await?;
        }
        let mut config = settings.client_config();
        config.set("enable.idempotence", "true").set("acks", "all");
        settings.apply_overrides(&mut config);
        let producer: FutureProducer = config.create().map_err(kafka_error)?;
        Ok(SideTopic {
            name,
            producer,
            timeout: settings.operation_timeout,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends one record to partition 0 and waits until the broker has it.
    pub async fn append(&self, key: &str, payload: &[u8]) -> Result<(), LogError> {
        let record = FutureRecord::to(&self.name)
            .key(key)
            .payload(payload)
            .partition(0);
        self.producer
            .send(record, Timeout::After(self.timeout))
            .await
            .map(|_| ())
            .map_err(|(error, _)| kafka_error(error))
    }
}
