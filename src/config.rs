//! `ledger.toml`: everything a deployment sets, in one file. Every key is optional and has the
//! default shown in `examples/ledger.toml`; command-line flags override the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use order_events::ids::{Sku, WarehouseId};
use order_events::process::ProcessRules;
use order_events::shipping::{Catalog, Shipping};
use order_events::Policy;
use serde::{Deserialize, Serialize};

/// The read models' directory inside an embedded data directory.
pub const READ_MODELS_DIR: &str = "read-models";
/// Overrides `[projections] store` (a URL may carry a password, which may not belong in a file).
pub const STORE_ENV: &str = "LEDGER_PROJECTIONS_STORE";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    pub log: LogSection,
    /// librdkafka properties for every Kafka client (`"security.protocol" = "SASL_SSL"`).
    pub kafka: BTreeMap<String, String>,
    pub handler: HandlerSection,
    pub serve: ServeSection,
    /// The shop's rules: payment window, return window, auto-confirm days, order limits.
    pub policy: Policy,
    /// The order process's rule tables: shortage policy, warehouses, carriers.
    pub process: ProcessRules,
    /// Commission rates: the order process accrues merchants' earnings with them, and the
    /// settlement read model posts with them.
    pub settlement: order_events::settlement::SettlementRules,
    pub projections: ProjectionsSection,
    /// Who may use the HTTP API: bearer tokens (hashed) and their roles.
    pub auth: crate::auth::AuthSection,
    /// The signed checkpoints `ledger serve` publishes.
    pub checkpoints: CheckpointsSection,
    /// Webhooks the notifications outbox is delivered to.
    pub notifications: crate::notify::NotificationsSection,
    /// The SKUs' physical attributes (`[catalog."SKU"]`): weight, dimensions, handling. Parcels
    /// are weighed against them and labelled, routed and priced by them.
    pub catalog: Catalog,
    /// Per warehouse code, where each SKU is kept (`[warehouses."HAM-1".bins]`): the bin a
    /// pick list sends a picker to, unless a `SetBinLocation` set the item's own.
    pub warehouses: BTreeMap<WarehouseId, WarehouseSection>,
}

/// One warehouse's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarehouseSection {
    /// Bin codes by SKU.
    pub bins: BTreeMap<Sku, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointsSection {
    /// Seconds between two checkpoints a serve publishes; 0: only when asked
    /// (`POST /v1/checkpoints`).
    pub interval_secs: u64,
    /// The Ed25519 signing key file (from `ledger replay checkpoint-key`); unset: unsigned.
    pub signing_key: Option<PathBuf>,
}

impl Default for CheckpointsSection {
    fn default() -> CheckpointsSection {
        CheckpointsSection {
            interval_secs: 3600,
            signing_key: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectionsSection {
    /// The read models' store. Unset: `<data>/read-models` on the embedded log, a temporary
    /// directory on Kafka (rebuilt from the log at every start).
    pub store_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user@host:port/db`): the read models there, in schemas
    /// `read_models_g<N>`, instead of `store_dir`. `LEDGER_PROJECTIONS_STORE` overrides it.
    pub store: Option<String>,
    /// Consumer group prefix of the projection worker; each instance appends its instance id,
    /// because every instance keeps a full copy of the read models.
    pub group: String,
    /// Hours an order may stay in a status before the exception queue lists it, by status.
    /// Orders on hold are always listed.
    pub sla_hours: BTreeMap<order_events::order::OrderStatus, u32>,
    /// Hours a customer's claim may stay open before the exception queue lists its order.
    pub claim_sla_hours: u32,
}

impl Default for ProjectionsSection {
    fn default() -> ProjectionsSection {
        use order_events::order::OrderStatus;
        ProjectionsSection {
            store_dir: None,
            store: None,
            group: "order-ledger-projections".to_owned(),
            sla_hours: [
                (OrderStatus::Placed, 2),
                (OrderStatus::Backordered, 72),
                (OrderStatus::Paid, 48),
                (OrderStatus::ReadyToShip, 48),
                (OrderStatus::PartiallyShipped, 72),
                (OrderStatus::Shipped, 240),
                (OrderStatus::ReturnRequested, 240),
            ]
            .into(),
            claim_sla_hours: 48,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Embedded data directory, used when no Kafka bootstrap is given.
    pub data: PathBuf,
    /// Kafka bootstrap servers; unset means the embedded log.
    pub kafka: Option<String>,
    /// Topic prefix.
    pub prefix: String,
    /// Partitions of topics the ledger creates.
    pub partitions: u32,
    /// Replication factor of topics the ledger creates (Kafka).
    pub replication_factor: u16,
    /// The format the handler writes event records in: `bincode` (compact, the default) or
    /// `json` (any language reads them and checks their hashes; see contracts/asyncapi.json).
    /// Readers take both, so a deployment may switch.
    pub event_format: order_events::codec::EventFormat,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            data: PathBuf::from("ledger-data"),
            kafka: None,
            prefix: event_log::DEFAULT_PREFIX.to_owned(),
            partitions: event_log::DEFAULT_PARTITIONS,
            replication_factor: 1,
            event_format: order_events::codec::EventFormat::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandlerSection {
    /// Consumer group shared by all handler instances.
    pub group: String,
    /// This instance's stable name (its transactional id is `<group>-<instance_id>`).
    pub instance_id: String,
    /// Most commands decided per transaction.
    pub batch_size_max: usize,
    /// How long a poll waits for commands, in milliseconds.
    pub poll_wait_ms: u64,
    /// How long to wait for more commands to fill a transaction, in milliseconds.
    pub linger_ms: u64,
    /// Run the order process (reactions and timers) in the handler.
    pub process: bool,
    /// Most aggregates held in memory per partition; the rest are loaded from snapshots.
    pub cache_aggregates_max: usize,
    /// The handler's state store (snapshots, decided commands, deadlines). Unset: inside the
    /// embedded data directory (`<data>/handler-state`), or temporary on Kafka (each start
    /// then catches up from the beginning of the log).
    pub state_dir: Option<PathBuf>,
    /// Committed events between two writes of the state store (bounds a restart's tail).
    pub snapshot_every_events: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// Where `ledger serve` listens for HTTP (`POST /v1/commands`, `/metrics`); port 0 picks
    /// a free one, which an embedded serve writes to `<data>/serve.addr` for `ledger submit`.
    pub listen: String,
    /// A PEM certificate chain (the server's certificate first) and its private key: with
    /// both, the serve speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for ServeSection {
    fn default() -> ServeSection {
        ServeSection {
            listen: "127.0.0.1:0".to_owned(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ServeSection {
    /// The certificate and key to serve HTTPS with, if both are given (`cli` wins over this
    /// section); one without the other is an error.
    pub fn tls(
        &self,
        cli: (Option<PathBuf>, Option<PathBuf>),
    ) -> anyhow::Result<Option<crate::tls::TlsFiles>> {
        let cert = cli.0.or_else(|| self.tls_cert.clone());
        let key = cli.1.or_else(|| self.tls_key.clone());
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!("a TLS certificate without its key: give tls_key (--tls-key) too")
            }
            (None, Some(_)) => {
                anyhow::bail!("a TLS key without its certificate: give tls_cert (--tls-cert) too")
            }
        }
    }
}

impl Default for HandlerSection {
    fn default() -> HandlerSection {
        let defaults = command_handler::HandlerConfig::default();
        HandlerSection {
            group: defaults.group,
            instance_id: defaults.instance_id,
            batch_size_max: defaults.batch_size_max,
            poll_wait_ms: defaults.poll_wait.as_millis() as u64,
            linger_ms: defaults.linger.as_millis() as u64,
            process: defaults.process,
            cache_aggregates_max: defaults.cache_aggregates_max,
            state_dir: None,
            snapshot_every_events: defaults.snapshot_every_events,
        }
    }
}

impl LedgerConfig {
    /// Reads a configuration file; errors name the file, line and key.
    pub fn load(path: &Path) -> anyhow::Result<LedgerConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let config: LedgerConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// The token table: `[auth]` plus the tokens in `LEDGER_AUTH_TOKENS`.
    pub fn auth(&self) -> anyhow::Result<crate::auth::Auth> {
        let env = std::env::var(crate::auth::TOKENS_ENV).ok();
        let auth = crate::auth::Auth::from_config(&self.auth, env.as_deref())
            .map_err(|reason| anyhow::anyhow!("[auth]: {reason}"))?;
        Ok(auth)
    }

    /// Checks the values whose range is narrower than their type's.
    pub fn check(&self) -> Result<(), String> {
        self.policy
            .check()
            .map_err(|reason| format!("[policy]: {reason}"))?;
        self.settlement
            .check()
            .map_err(|reason| format!("[settlement]: {reason}"))?;
        self.check_shipping()?;
        crate::auth::Auth::from_config(&self.auth, None)
            .map(|_| ())
            .map_err(|reason| format!("[auth]: {reason}"))
    }

    /// The catalog's weights are positive, bins are short, and freight rates are amounts of
    /// their currency.
    fn check_shipping(&self) -> Result<(), String> {
        for (sku, attributes) in &self.catalog {
            if attributes.weight_grams == 0 {
                return Err(format!("[catalog.\"{sku}\"]: weight_grams is 0"));
            }
        }
        for (code, warehouse) in &self.warehouses {
            for (sku, bin) in &warehouse.bins {
                if bin.is_empty() || bin.chars().count() > 32 {
                    return Err(format!(
                        "[warehouses.\"{code}\".bins]: the bin of {sku} is not 1-32 characters"
                    ));
                }
            }
        }
        for rule in &self.process.carriers {
            for rate in &rule.rates {
                if rate.price.is_negative() || rate.price.0.scale() > rate.currency.minor_units() {
                    return Err(format!(
                        "[[process.carriers]] {}: rate {} is not an amount in {}",
                        rule.carrier, rate.price, rate.currency
                    ));
                }
            }
        }
        Ok(())
    }

    /// The policy decisions see: `[policy]` with the catalog and the carrier table.
    pub fn decision_policy(&self) -> Policy {
        Policy {
            shipping: std::sync::Arc::new(Shipping {
                catalog: self.catalog.clone(),
                carriers: self.process.carriers.clone(),
            }),
            ..self.policy.clone()
        }
    }

    /// Bins by warehouse, then SKU, as configured.
    pub fn bins(&self) -> BTreeMap<WarehouseId, BTreeMap<Sku, String>> {
        self.warehouses
            .iter()
            .map(|(code, section)| (code.clone(), section.bins.clone()))
            .collect()
    }

    /// The handler's settings for a log opened with `log`: without a configured state
    /// directory, an embedded log keeps the state store inside its data directory.
    pub fn handler_config_for(
        &self,
        log: &crate::log_admin::LogOptions,
    ) -> command_handler::HandlerConfig {
        let mut config = self.handler_config();
        if config.state_dir.is_none() && log.kafka.is_none() {
            config.state_dir = Some(log.data.join("handler-state"));
        }
        config
    }

    /// The read side of a serve on a log opened with `log`, for instance `instance_id`.
    pub fn read_side_for(
        &self,
        log: &crate::log_admin::LogOptions,
        instance_id: &str,
    ) -> crate::serve::ReadSide {
        let store_dir = self
            .projections
            .store_dir
            .clone()
            .or_else(|| log.kafka.is_none().then(|| log.data.join(READ_MODELS_DIR)));
        let postgres = std::env::var(STORE_ENV)
            .ok()
            .or_else(|| self.projections.store.clone());
        // On PostgreSQL the instances share the read models, so their workers share the
        // partitions: one group. Elsewhere every instance keeps a copy: a group each.
        let group = match postgres {
            Some(_) => self.projections.group.clone(),
            None => format!("{}-{instance_id}", self.projections.group),
        };
        crate::serve::ReadSide {
            store_dir,
            postgres,
            group,
            settlement: self.settlement.clone(),
            slas: projections::model::Slas {
                statuses: self.projections.sla_hours.clone(),
                claim_hours: self.projections.claim_sla_hours,
            },
            policy: self.decision_policy(),
            bins: self.bins(),
        }
    }

    pub fn handler_config(&self) -> command_handler::HandlerConfig {
        command_handler::HandlerConfig {
            group: self.handler.group.clone(),
            instance_id: self.handler.instance_id.clone(),
            batch_size_max: self.handler.batch_size_max,
            poll_wait: std::time::Duration::from_millis(self.handler.poll_wait_ms),
            linger: std::time::Duration::from_millis(self.handler.linger_ms),
            policy: self.policy.clone(),
            process: self.handler.process,
            decide_in_place: true,
            rules: ProcessRules {
                settlement: self.settlement.clone(),
                catalog: self.catalog.clone(),
                ..self.process.clone()
            },
            cache_aggregates_max: self.handler.cache_aggregates_max,
            state_dir: self.handler.state_dir.clone(),
            snapshot_every_events: self.handler.snapshot_every_events,
            event_format: self.log.event_format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_are_refused_when_the_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            (
                "[policy]\npayout_holdback_percent = 101\n",
                "[policy]: payout_holdback_percent is 101; at most 100",
            ),
            (
                "[settlement]\ncommission_rate = \"1.5\"\n",
                "[settlement]: commission rate 1.5 of default is not a fraction from 0 to 1",
            ),
        ] {
            let path = dir.path().join("ledger.toml");
            std::fs::write(&path, text).unwrap();
            let error = LedgerConfig::load(&path).unwrap_err().to_string();
            assert!(error.ends_with(expected), "{error}");
        }
    }

    #[test]
    fn the_settlement_rates_reach_the_order_process() {
        let config: LedgerConfig =
            toml::from_str("[settlement]\ncommission_rate = \"0.07\"\n").unwrap();
        assert_eq!(
            config.handler_config().rules.settlement.commission_rate,
            "0.07".parse().unwrap()
        );
    }

    #[test]
    fn the_example_file_documents_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ledger.toml");
        assert_eq!(LedgerConfig::load(&path).unwrap(), LedgerConfig::default());
    }

    #[test]
    fn partial_files_keep_defaults_and_typos_are_refused_by_name() {
        let config: LedgerConfig = toml::from_str("[policy]\nreturn_window_days = 30\n").unwrap();
        assert_eq!(config.policy.return_window_days, 30);
        assert_eq!(
            config.policy.auto_confirm_days,
            Policy::default().auto_confirm_days
        );
        let error = toml::from_str::<LedgerConfig>("[handler]\nbatch_size = 10\n").unwrap_err();
        assert!(error.to_string().contains("batch_size"), "{error}");
        let error =
            toml::from_str::<LedgerConfig>("[[process.carriers]]\ncarrier = \"dhl\"\nweight = 5\n")
                .unwrap_err();
        assert!(error.to_string().contains("weight"), "{error}");
    }

    #[test]
    fn rule_tables_read_from_the_file() {
        let text = r#"
            [process]
            short_resolution = "backorder"
            [[process.warehouses]]
            warehouse = "HAM-1"
            countries = ["DE", "AT"]
            priority = 1
            [[process.carriers]]
            carrier = "dhl"
            countries = ["DE"]
            weight_grams_max = 31500
            service_levels = ["standard", "express"]
        "#;
        let config: LedgerConfig = toml::from_str(text).unwrap();
        let handler = config.handler_config();
        assert_eq!(
            handler.rules.short_resolution,
            order_events::order::ShortResolution::Backorder
        );
        assert_eq!(handler.rules.warehouses[0].countries, ["DE", "AT"]);
        assert_eq!(handler.rules.carriers[0].weight_grams_max, Some(31_500));
    }

    #[test]
    fn the_catalog_bins_and_rates_read_from_the_file_and_reach_the_decisions() {
        let text = r#"
            [catalog."MUG-01"]
            weight_grams = 400
            fragile = true
            [warehouses."HAM-1".bins]
            "MUG-01" = "A-01-03"
            [[process.carriers]]
            carrier = "dhl"
            handling = ["fragile"]
            rates = [{ currency = "EUR", weight_grams_max = 2000, price = "4.90" }]
        "#;
        let config: LedgerConfig = toml::from_str(text).unwrap();
        config.check().unwrap();
        let policy = config.decision_policy();
        let mug = Sku::from("MUG-01");
        assert_eq!(policy.shipping.catalog[&mug].weight_grams, 400);
        assert_eq!(
            policy.shipping.carriers[0].rates[0].price,
            "4.90".parse().unwrap()
        );
        assert_eq!(config.bins()[&WarehouseId::from("HAM-1")][&mug], "A-01-03");
        assert_eq!(config.handler_config().rules.catalog, config.catalog);
        let error =
            toml::from_str::<LedgerConfig>("[catalog.\"MUG-01\"]\nweight = 4\n").unwrap_err();
        assert!(error.to_string().contains("weight"), "{error}");
        let zero: LedgerConfig =
            toml::from_str("[catalog.\"MUG-01\"]\nweight_grams = 0\n").unwrap();
        assert!(zero.check().unwrap_err().contains("weight_grams is 0"));
    }
}
