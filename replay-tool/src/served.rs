//! Reading the events topic of a data directory that a running `ledger serve` holds (its
//! writer's lock keeps readers out of the directory meanwhile): through the serve's read-only
//! log endpoints,
//! `GET /v1/log/layout` and `GET /v1/log/events/{partition}`. A [`LogReader`] only, as every
//! log the replay tool holds: it never writes.

use std::time::Duration;

use async_trait::async_trait;
use event_log::{LogError, LogReader, StoredRecord, Topic, TopicPartition, Topics};
use serde_json::Value;

use crate::running::Endpoint;

pub struct ServedLog {
    url: String,
    agent: ureq::Agent,
    topics: Topics,
    partitions: u32,
}

fn broker(message: String) -> LogError {
    LogError::Broker {
        message,
        retriable: false,
    }
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Value, LogError> {
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| broker(format!("GET {url}: {e}")))?;
    let status = response.status();
    let value: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| broker(format!("GET {url}: {e}")))?;
    if !status.is_success() {
        return Err(broker(format!(
            "GET {url}: {status}: {}",
            value["reason"].as_str().unwrap_or("refused")
        )));
    }
    Ok(value)
}

impl ServedLog {
    /// Connects to `serve` (the auditor role reads the log).
    pub async fn connect(serve: &Endpoint) -> Result<ServedLog, LogError> {
        let agent = serve.client(Duration::from_secs(60));
        let url = format!("{}/v1/log/layout", serve.url);
        let layout = {
            let agent = agent.clone();
            tokio::task::spawn_blocking(move || get(&agent, &url))
                .await
                .map_err(|e| broker(e.to_string()))??
        };
        let prefix = layout["prefix"]
            .as_str()
            .ok_or_else(|| broker("the serve's layout names no prefix".into()))?;
        let partitions = layout["partitions"]
            .as_u64()
            .ok_or_else(|| broker("the serve's layout names no partition count".into()))?
            as u32;
        Ok(ServedLog {
            url: serve.url.clone(),
            agent,
            topics: Topics::new(prefix, partitions)?,
            partitions,
        })
    }

    async fn fetch(&self, path: String) -> Result<Value, LogError> {
        let agent = self.agent.clone();
        let url = format!("{}{path}", self.url);
        tokio::task::spawn_blocking(move || get(&agent, &url))
            .await
            .map_err(|e| broker(e.to_string()))?
    }
}

fn not_served(what: &str) -> LogError {
    LogError::Config(format!("a serve's log endpoints do not show {what}"))
}

#[async_trait]
impl LogReader for ServedLog {
    fn topics(&self) -> &Topics {
        &self.topics
    }

    fn partitions(&self, _topic: Topic) -> u32 {
        self.partitions
    }

    async fn read(
        &self,
        partition: &TopicPartition,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        if partition.topic != self.topics.name(Topic::Events) {
            return Err(not_served("topics other than the events"));
        }
        let limit = max_records.clamp(1, 1000);
        let value = self
            .fetch(format!(
                "/v1/log/events/{}?from={from_offset}&limit={limit}",
                partition.partition
            ))
            .await?;
        let corrupt = |reason: &str| LogError::Corrupt {
            at: format!("{partition}@{from_offset} (from the serve)"),
            reason: reason.to_owned(),
        };
        let records = value["records"]
            .as_array()
            .ok_or_else(|| corrupt("no records"))?;
        records
            .iter()
            .map(|r| {
                let hex_field = |name: &str| -> Result<Option<Vec<u8>>, LogError> {
                    match &r[name] {
                        Value::Null => Ok(None),
                        Value::String(text) => hex::decode(text)
                            .map(Some)
                            .map_err(|_| corrupt("bytes that are not hex")),
                        _ => Err(corrupt("bytes that are not hex")),
                    }
                };
                Ok(StoredRecord {
                    topic: partition.topic.clone(),
                    partition: partition.partition,
                    offset: r["offset"]
                        .as_u64()
                        .ok_or_else(|| corrupt("a record without offset"))?,
                    key: hex_field("key")?,
                    headers: Default::default(),
                    payload: hex_field("payload")?
                        .ok_or_else(|| corrupt("a record without payload"))?,
                    timestamp_ms: r["timestamp_ms"].as_i64().unwrap_or(0),
                })
            })
            .collect()
    }

    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        if topic != Topic::Events {
            return Err(not_served("topics other than the events"));
        }
        let layout = self.fetch("/v1/log/layout".into()).await?;
        layout["ends"]
            .as_array()
            .and_then(|ends| ends.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| broker("the serve's layout has no end offsets".into()))
    }

    async fn committed_offsets(&self, _group: &str, _topic: Topic) -> Result<Vec<u64>, LogError> {
        Err(not_served("consumer groups"))
    }
}
