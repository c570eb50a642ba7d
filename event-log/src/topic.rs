//! The ledger's topics: four per deployment, under one prefix.

use std::fmt;

use crate::LogError;

/// The kinds of topic a deployment has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Commands from services, keyed by aggregate id.
    Commands,
    /// The event log, keyed by aggregate id; same partition count as commands.
    Events,
    /// One result per command (accepted or rejected), keyed by command id.
    CommandResults,
    /// Records that could not be decoded, with the reason.
    DeadLetter,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Topic::Commands,
        Topic::Events,
        Topic::CommandResults,
        Topic::DeadLetter,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Topic::Commands => "commands",
            Topic::Events => "events",
            Topic::CommandResults => "command-results",
            Topic::DeadLetter => "dead-letter",
        }
    }
}

/// Default topic prefix.
pub const DEFAULT_PREFIX: &str = "orders";
/// Default partition count of every topic.
pub const DEFAULT_PARTITIONS: u32 = 8;

/// A deployment's topic names and partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    /// Partitions of topics this deployment creates.
    pub partitions: u32,
    /// Replication factor of topics this deployment creates (Kafka only).
    pub replication_factor: u16,
}

impl Topics {
    /// Checks the prefix: Kafka topic names allow `[a-zA-Z0-9._-]`, at most 249 characters.
    pub fn new(prefix: &str, partitions: u32) -> Result<Topics, LogError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 200
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(LogError::Config(format!(
                "topic prefix '{prefix}' must be 1-200 of a-z A-Z 0-9 . _ -"
            )));
        }
        if partitions == 0 || partitions > 10_000 {
            return Err(LogError::Config(format!(
                "partition count {partitions} must be between 1 and 10000"
            )));
        }
        Ok(Topics {
            prefix: prefix.to_owned(),
            partitions,
            replication_factor: 1,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<suffix>`, e.g. `orders.events`.
    pub fn name(&self, topic: Topic) -> String {
        format!("{}.{}", self.prefix, topic.suffix())
    }
}

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Refuses a deployment whose commands and events topics differ in partition count: an
/// aggregate's events must live on the partition number its commands arrive on.
pub fn check_partition_counts(commands: u32, events: u32) -> Result<(), LogError> {
    if commands != events {
        return Err(LogError::PartitionMismatch { commands, events });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefix_validation() {
        let topics = Topics::new("orders", 8).unwrap();
        assert_eq!(topics.name(Topic::CommandResults), "orders.command-results");
        assert!(Topics::new("bad prefix", 8).is_err());
        assert!(Topics::new("", 8).is_err());
        assert!(Topics::new("ok", 0).is_err());
        assert!(matches!(
            check_partition_counts(8, 4),
            Err(LogError::PartitionMismatch {
                commands: 8,
                events: 4
            })
        ));
    }
}
