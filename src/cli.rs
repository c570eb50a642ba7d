//! The `ledger` and `replay-tool` command lines as clap types: every subcommand, its flags and
//! their help. The binaries parse into these and hand each subcommand to [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::LedgerConfig;
use crate::log_admin::LogOptions;

#[derive(Parser)]
#[command(name = "ledger", version, about = "Event-sourced order ledger")]
pub struct Cli {
    /// A ledger.toml with the deployment's settings (see examples/ledger.toml); flags override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `replay-tool`: the auditor's commands of `ledger replay` as a binary of their own, with the
/// same configuration file and log flags (so both fold with the deployment's settlement rules).
#[derive(Parser)]
#[command(
    name = "replay-tool",
    version,
    about = "Verify, export and trace the order ledger's event log"
)]
pub struct ReplayToolCli {
    /// A ledger.toml with the deployment's settings (see examples/ledger.toml); flags override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub replay: ReplayArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print every business rule (rejection code) and the order state machine.
    Rules(RulesArgs),
    /// Decide a file of JSON commands in memory and report each answer.
    ///
    /// Exit status: 0 when every command was accepted or rejected by a business rule (use
    /// --strict to fail on rejections), 1 with --strict and a rejection, 2 when a command
    /// could not be decoded, 3 on a problem with the files themselves.
    Validate(ValidateArgs),
    /// Write the JSON Schema of every command and event into a directory.
    Schemas(SchemasArgs),
    /// Create the deployment's topics where missing, check them, and print their end offsets.
    Topics(TopicsArgs),
    /// Run the command handler until SIGINT or SIGTERM (then finish the batch and commit).
    Serve(ServeArgs),
    /// Publish JSON command lines and print one JSON result per line.
    ///
    /// On an embedded directory no `ledger serve` owns, the commands are processed in this
    /// process. Exit status: 0 all accepted, 1 some rejected, 2 some invalid or unanswered.
    Submit(SubmitArgs),
    /// Query the read models: orders, inventory, balances, reports, exceptions.
    ///
    /// Through the serve that owns the data directory when one runs; otherwise the read
    /// models are caught up with the log in this process first. Prints JSON, or a table
    /// (--table) or CSV (--csv).
    Query(QueryArgs),
    /// Rebuild the read models from the log: a fresh copy beside the live one, then a switch.
    ///
    /// Through the serve that owns the data directory when one runs (it keeps answering
    /// queries from the live copy meanwhile); otherwise in this process.
    Rebuild(RebuildArgs),
    /// Audit the event log (read-only): verify chains and transitions, export, trace history.
    /// The same commands as the `replay-tool` binary.
    Replay(ReplayArgs),
    /// Reconcile a payment provider's settlement report (CSV) against the ledger's captures and
    /// refunds. Exit status 1 when unexplained breaks remain, 3 when it could not run.
    Reconcile(ReconcileArgs),
    /// Simulate a shop end to end on the embedded log and print what the read models say.
    Demo(DemoArgs),
    /// Measure the front door: the peer's workload (place, wait until awaiting payment,
    /// capture, ship) through HTTP with C clients against a fresh `ledger serve` per run;
    /// prints orders/s, commands/s, CPU per order and p50/p99 per command.
    Bench(BenchArgs),
    /// Print the order id the ledger derives from a channel and external reference.
    OrderId(OrderIdArgs),
    /// Make a new HTTP API token: prints the token (give it to its holder) and the `[auth]`
    /// entry with its SHA-256 (put that in ledger.toml; the token itself is stored nowhere).
    Token(TokenArgs),
}

#[derive(clap::Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// JSON commands, one after another (JSON Lines or pretty-printed); `-` for stdin.
    pub file: PathBuf,
    /// Exported events (JSON Lines) to start from instead of an empty ledger.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Write the accepted events here as JSON Lines (usable as a later --history).
    #[arg(long)]
    pub events: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit with status 1 if any command is rejected.
    #[arg(long)]
    pub strict: bool,
}

#[derive(clap::Args)]
pub struct SchemasArgs {
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// This instance's stable name; give each `serve --kafka` instance its own [default: 0].
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Most commands decided per transaction [default: 500].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// HTTP address for POST /v1/commands and GET /metrics [default: 127.0.0.1:0].
    #[arg(long)]
    pub listen: Option<String>,
    /// Speak HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// --tls-key [default: [serve] tls_cert].
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key [default: [serve] tls_key].
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// JSON command lines; `-` for stdin.
    pub file: PathBuf,
    /// How long to wait for each command's result.
    #[arg(long, default_value_t = 30)]
    pub wait_secs: u64,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub what: QueryWhat,
    /// Print a readable table instead of JSON.
    #[arg(long, global = true, conflicts_with = "csv")]
    pub table: bool,
    /// Print CSV (one row per order, item or account) for spreadsheets.
    #[arg(long, global = true)]
    pub csv: bool,
    /// Events-topic positions P:O,P:O (from a command result) the answer must include.
    #[arg(long, global = true)]
    pub at_least: Option<String>,
}

#[derive(clap::Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: replay_tool::cli::ReplayCommand,
}

#[derive(clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The provider's report. Default columns: psp_reference, type (capture, refund,
    /// chargeback, fee, payout), gross, fee, net, currency, date, and optionally order_id
    /// and payment_id.
    #[arg(long)]
    pub psp: PathBuf,
    /// Another layout's column for a field, e.g. gross=Amount (repeatable); and
    /// date_format=%d.%m.%Y for dates not written YYYY-MM-DD.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub mappings: Vec<String>,
    /// First day of the period [default: the report's first date].
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day of the period [default: the report's last date].
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Days a line's date may be from the ledger's for a match by amount alone.
    #[arg(long, default_value_t = 3)]
    pub window_days: u32,
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::reconcile::ReportFormat,
    /// The payment provider whose report it is (recorded with the run).
    #[arg(long, default_value = crate::reconcile::DEFAULT_PROVIDER)]
    pub provider: String,
    /// The report is this carrier's cash-on-delivery report instead: `cod` lines (the
    /// parcel's tracking number as the reference; gross collected, the carrier's fee, net)
    /// and `payout` lines (remittances), reconciled against the cash the carrier collected
    /// and remitted. The run is recorded under the carrier's name.
    #[arg(long, conflicts_with = "provider")]
    pub carrier: Option<String>,
    /// The run's id [default: <provider>-<UTC time>].
    #[arg(long)]
    pub run_id: Option<String>,
    /// Who reconciles, as KIND:ID (recorded with the run).
    #[arg(long, default_value = crate::reconcile::DEFAULT_ACTOR)]
    pub actor: String,
    /// Do not record the run as an event (e.g. on a read-only copy of the log).
    #[arg(long)]
    pub no_record: bool,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Orders to place.
    #[arg(long, default_value_t = 3000)]
    pub orders: u32,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data directory for the run (cleared first if an earlier demo made it).
    #[arg(long, default_value = "demo-data")]
    pub data: PathBuf,
    /// Then keep the shop up: serve its log (API and console) on this address until Ctrl-C,
    /// printing the console's address and an admin token to sign in with.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub serve: Option<String>,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Orders per run.
    #[arg(long, default_value_t = 3000)]
    pub orders: usize,
    /// Client counts, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
    pub clients: Vec<usize>,
    /// SKUs the orders are spread over.
    #[arg(long, default_value_t = 100)]
    pub skus: usize,
    /// Where each run's data directory is made (and removed after it).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub scratch: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct OrderIdArgs {
    #[arg(long)]
    pub channel: String,
    #[arg(long)]
    pub reference: String,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Who will hold it.
    #[arg(long)]
    pub name: String,
    /// Its roles.
    #[arg(long = "role", value_enum, required = true)]
    pub roles: Vec<crate::auth::Role>,
}

#[derive(Subcommand)]
pub enum QueryWhat {
    /// Orders by placement time, filtered and paged.
    Orders {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        /// Placed at or after (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Placed before (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        /// The `next` cursor of the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// One order: status, timeline, lines, payments, shipments, returns.
    Order { id: String },
    /// One order's journal entries.
    Settlement { id: String },
    /// Stock per SKU and warehouse.
    Inventory {
        #[arg(long)]
        sku: Option<String>,
        /// Only items below their safety stock.
        #[arg(long)]
        low: bool,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        after: Option<String>,
    },
    /// Account balances of the settlement ledger (--merchants: what each merchant is owed, what
    /// a payout holds back now for open return windows, and what is available to pay out).
    Balances {
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        merchants: bool,
        #[arg(long, requires = "merchants")]
        merchant: Option<String>,
    },
    /// The sum of all accounts per currency: zero when the books balance.
    TrialBalance,
    /// Recorded reconciliation runs: who reconciled which provider report, when, what came out.
    Reconciliations,
    /// What customers were told (the notifications outbox), in the order it was recorded.
    Notifications {
        /// The webhook deliveries parked after their last attempt failed, instead.
        #[arg(long, conflicts_with_all = ["limit", "after"])]
        failed: bool,
        #[arg(long)]
        limit: Option<String>,
        /// The `next` cursor of the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Orders, GMV, average order value, processing time and rates per day and channel.
    Reports {
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        channel: Option<String>,
    },
    /// Orders on hold, and orders longer in their status than its SLA.
    Exceptions {
        #[arg(long)]
        limit: Option<String>,
    },
    /// Projection lag, gaps and undecodable records.
    Status,
    /// Pick waves, newest first, and their progress.
    Waves {
        #[arg(long)]
        warehouse: Option<String>,
        /// Only waves still picking.
        #[arg(long)]
        open: bool,
        #[arg(long)]
        limit: Option<String>,
    },
    /// One pick wave.
    Wave { id: String },
    /// A wave's pick list in walking order (with --csv: the file for a handheld scanner).
    PickList { id: String },
    /// The next wave the planner proposes for a warehouse: its ready orders, express first,
    /// then longest waiting, as a PlanWave command to submit.
    NextWave {
        warehouse: String,
        /// The id to give the wave.
        #[arg(long)]
        wave_id: String,
        /// Most orders in it [default: 50].
        #[arg(long)]
        orders_max: Option<String>,
        /// Only orders the carrier table routes to this carrier.
        #[arg(long)]
        carrier: Option<String>,
        /// Only orders of this service level (standard, express, economy).
        #[arg(long)]
        service_level: Option<String>,
        /// The carrier's cut-off the wave is for (RFC 3339).
        #[arg(long)]
        cutoff_at: Option<String>,
    },
    /// Replenishment per SKU and warehouse: sales velocity, days of cover, reorder point and
    /// the quantity to order.
    Replenishment {
        #[arg(long)]
        warehouse: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        /// Days of sales the velocity is measured over [default: 28].
        #[arg(long)]
        window_days: Option<String>,
        /// Days from ordering to stock on the shelf [default: 7].
        #[arg(long)]
        lead_time_days: Option<String>,
        /// Days of sales an order should cover after it arrives [default: 14].
        #[arg(long)]
        cover_days: Option<String>,
        /// Only items at or below their reorder point.
        #[arg(long)]
        reorder: bool,
        /// The window's last day (YYYY-MM-DD) [default: today].
        #[arg(long)]
        as_of: Option<String>,
    },
}

impl QueryWhat {
    pub fn into_query(self, at_least: Option<String>) -> crate::query::CliQuery {
        use crate::api::Route;
        let mut params: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                params.push((name.to_owned(), value));
            }
        };
        add("at_least", at_least);
        let (route, path) = match self {
            QueryWhat::Orders {
                status,
                merchant,
                customer,
                channel,
                from,
                to,
                limit,
                after,
            } => {
                add("status", status);
                add("merchant", merchant);
                add("customer", customer);
                add("channel", channel);
                add("from", from);
                add("to", to);
                add("limit", limit);
                add("after", after);
                (Route::Orders, Vec::new())
            }
            QueryWhat::Order { id } => (Route::Order, vec![id]),
            QueryWhat::Settlement { id } => (Route::OrderSettlement, vec![id]),
            QueryWhat::Inventory {
                sku,
                low,
                limit,
                after,
            } => {
                add("sku", sku);
                add("low", low.then(|| "true".to_owned()));
                add("limit", limit);
                add("after", after);
                (Route::Inventory, Vec::new())
            }
            QueryWhat::Balances {
                currency,
                merchants,
                merchant,
            } => {
                add("currency", currency);
                if merchants {
                    add("merchant", merchant);
                    (Route::MerchantBalances, Vec::new())
                } else {
                    (Route::Balances, Vec::new())
                }
            }
            QueryWhat::TrialBalance => (Route::TrialBalance, Vec::new()),
            QueryWhat::Reconciliations => (Route::Reconciliations, Vec::new()),
            QueryWhat::Notifications { failed: true, .. } => {
                (Route::FailedNotifications, Vec::new())
            }
            QueryWhat::Notifications { limit, after, .. } => {
                add("limit", limit);
                add("after", after);
                (Route::Notifications, Vec::new())
            }
            QueryWhat::Reports { from, to, channel } => {
                add("from", from);
                add("to", to);
                add("channel", channel);
                (Route::Reports, Vec::new())
            }
            QueryWhat::Exceptions { limit } => {
                add("limit", limit);
                (Route::Exceptions, Vec::new())
            }
            QueryWhat::Status => (Route::Status, Vec::new()),
            QueryWhat::Waves {
                warehouse,
                open,
                limit,
            } => {
                add("warehouse", warehouse);
                add("open", open.then(|| "true".to_owned()));
                add("limit", limit);
                (Route::Waves, Vec::new())
            }
            QueryWhat::Wave { id } => (Route::Wave, vec![id]),
            QueryWhat::PickList { id } => (Route::PickList, vec![id]),
            QueryWhat::NextWave {
                warehouse,
                wave_id,
                orders_max,
                carrier,
                service_level,
                cutoff_at,
            } => {
                add("wave_id", Some(wave_id));
                add("orders_max", orders_max);
                add("carrier", carrier);
                add("service_level", service_level);
                add("cutoff_at", cutoff_at);
                (Route::NextWave, vec![warehouse])
            }
            QueryWhat::Replenishment {
                warehouse,
                sku,
                window_days,
                lead_time_days,
                cover_days,
                reorder,
                as_of,
            } => {
                add("as_of", as_of);
                add("warehouse", warehouse);
                add("sku", sku);
                add("window_days", window_days);
                add("lead_time_days", lead_time_days);
                add("cover_days", cover_days);
                add("reorder", reorder.then(|| "true".to_owned()));
                (Route::Replenishment, Vec::new())
            }
        };
        crate::query::CliQuery {
            route,
            path,
            params,
        }
    }
}

/// Where the log is: an embedded directory (default) or a Kafka cluster. Unset flags come from
/// the configuration file, then the defaults.
#[derive(clap::Args)]
pub struct LogArgs {
    /// Embedded data directory (ignored with --kafka) [default: ledger-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Kafka bootstrap servers, e.g. localhost:9092.
    #[arg(long, global = true)]
    kafka: Option<String>,
    /// A librdkafka property, e.g. security.protocol=SASL_SSL (repeatable).
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", global = true)]
    kafka_config: Vec<String>,
    /// A file of librdkafka properties (key=value lines).
    #[arg(long, global = true)]
    kafka_config_file: Option<PathBuf>,
    /// Topic prefix: topics are <prefix>.commands, .events, .command-results, .dead-letter
    /// [default: orders].
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Partitions of topics this command creates [default: 8].
    #[arg(long, global = true)]
    partitions: Option<u32>,
    /// Replication factor of topics this command creates (Kafka) [default: 1].
    #[arg(long, global = true)]
    replication_factor: Option<u16>,
}

impl LogArgs {
    pub fn options(self, config: &LedgerConfig) -> LogOptions {
        let section = &config.log;
        // The file's [kafka] properties first, so flags given on the command line win.
        let mut kafka_config: Vec<String> = config
            .kafka
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        kafka_config.extend(self.kafka_config);
        LogOptions {
            data: self.data.unwrap_or_else(|| section.data.clone()),
            kafka: self.kafka.or_else(|| section.kafka.clone()),
            kafka_config,
            kafka_config_file: self.kafka_config_file,
            prefix: self.prefix.unwrap_or_else(|| section.prefix.clone()),
            partitions: self.partitions.unwrap_or(section.partitions),
            replication_factor: self
                .replication_factor
                .unwrap_or(section.replication_factor),
        }
    }
}
