//! Kafka client settings: the bootstrap servers, the ledger's own timeouts, and any librdkafka
//! property passed through (`security.protocol`, `sasl.*`, `ssl.*`, ...), from a properties
//! file or `key=value` arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::port::LogError;

/// Properties the ledger sets itself because exactly-once depends on them; a passed-through
/// value for one of these is refused rather than silently ignored.
const RESERVED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "transactional.id",
    "enable.idempotence",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "enable.partition.eof",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// librdkafka properties for every client the ledger makes.
    pub properties: BTreeMap<String, String>,
    /// Consumer group session timeout; a dead member's partitions move after this long.
    pub session_timeout_ms: u32,
    /// How long a transaction may stay open before the broker aborts it.
    pub transaction_timeout_ms: u32,
    /// Bound on each blocking client call (metadata, init/commit/abort transaction).
    pub operation_timeout: Duration,
}

impl KafkaSettings {
    pub fn new(bootstrap: &str) -> KafkaSettings {
        KafkaSettings {
            bootstrap: bootstrap.to_owned(),
            properties: BTreeMap::new(),
            session_timeout_ms: 10_000,
            transaction_timeout_ms: 60_000,
            operation_timeout: Duration::from_secs(30),
        }
    }

    /// Adds one `key=value` property.
    pub fn with_property(mut self, assignment: &str) -> Result<KafkaSettings, LogError> {
        let (key, value) = parse_assignment(assignment)
            .ok_or_else(|| LogError::Config(format!("'{assignment}' is not key=value")))?;
        self.set(key, value)?;
        Ok(self)
    }

    /// Adds the properties of a Java-style properties file: `key=value` lines, `#` or `!`
    /// comments, blank lines ignored.
    pub fn with_properties_file(mut self, text: &str) -> Result<KafkaSettings, LogError> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (key, value) = parse_assignment(line).ok_or_else(|| {
                LogError::Config(format!(
                    "properties line {}: '{line}' is not key=value",
                    index + 1
                ))
            })?;
            self.set(key, value)?;
        }
        Ok(self)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), LogError> {
        if RESERVED.contains(&key) {
            return Err(LogError::Config(format!(
                "'{key}' is set by the ledger itself and cannot be passed through"
            )));
        }
        self.properties.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// The base configuration of every client: bootstrap servers and the passed-through
    /// properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        self.apply_overrides(&mut config);
        config
    }

    /// Re-applies the passed-through properties over the ledger's defaults, so a user's
    /// `session.timeout.ms` or `acks` wins.
    pub(crate) fn apply_overrides(&self, config: &mut ClientConfig) {
        for (key, value) in &self.properties {
            config.set(key, value);
        }
    }
}

fn parse_assignment(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then_some((key, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;

    #[test]
    fn properties_pass_through_to_librdkafka() {
        let settings = KafkaSettings::new("127.0.0.1:1")
            .with_properties_file(
                "# TLS\nsecurity.protocol = SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\n",
            )
            .unwrap()
            .with_property("sasl.username=ledger")
            .unwrap()
            .with_property("sasl.password=secret")
            .unwrap();
        let config = settings.client_config();
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("ledger"));
        // librdkafka itself validates what it is given: SCRAM over SSL with credentials is
        // accepted (built with the ssl feature); without a password, or with an unknown
        // property, client creation is refused by name.
        let client: Result<BaseProducer, _> = config.create();
        assert!(client.is_ok(), "{:?}", client.err());
        let mut no_password = settings.clone();
        no_password.properties.remove("sasl.password");
        let error = no_password
            .client_config()
            .create::<BaseProducer>()
            .err()
            .expect("refused");
        assert!(error.to_string().contains("sasl.password"), "{error}");
        let unknown = KafkaSettings::new("127.0.0.1:1")
            .with_property("no.such.property=1")
            .unwrap();
        let error = unknown
            .client_config()
            .create::<BaseProducer>()
            .err()
            .expect("refused");
        assert!(error.to_string().contains("no.such.property"), "{error}");
    }

    #[test]
    fn reserved_and_malformed_properties_are_refused() {
        assert!(KafkaSettings::new("b")
            .with_property("isolation.level=read_uncommitted")
            .is_err());
        assert!(KafkaSettings::new("b").with_property("novalue").is_err());
        let error = KafkaSettings::new("b")
            .with_properties_file("a=1\nbroken line\n")
            .unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
