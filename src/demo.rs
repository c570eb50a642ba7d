//! `ledger demo`: the whole system on one machine, no broker. A seeded shop
//! ([`order_events::simulation::Shop`]) sends its traffic through the embedded log to the
//! command handler (with the order process and its timers on a simulated clock), a projection
//! worker folds the events, and the shop reads each order's state back from the read models
//! to decide its next step. Then it prints what the read models say.

mod warehouse;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{TimeZone, Utc};
use command_handler::client::json_record;
use command_handler::{Clock, Handler, ManualClock};
use command_handler::{CommandResult, Outcome, ResultRecord};
use event_log::{Log, Topic, TopicPartition};
use order_events::account::PayoutMerchant;
use order_events::codec::json;
use order_events::order::OrderStatus;
use order_events::simulation::{Shop, ShopConfig};
use projections::query::OrderFilter;

use crate::background::Background;
use crate::config::LedgerConfig;
use crate::log_admin::{self, LogOptions};

/// Marks a directory `ledger demo` made, so a rerun may clear it (and nothing else).
const MARKER: &str = ".ledger-demo";

pub struct DemoOptions {
    pub orders: u32,
    pub seed: u64,
    pub data: PathBuf,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What the run did, for its last lines and for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSummary {
    pub orders: u32,
    pub commands: u64,
    pub events: u64,
    pub rejected: u64,
    pub elapsed: Duration,
    pub balanced: bool,
    pub statuses: BTreeMap<OrderStatus, u64>,
}

/// Makes `data` an empty demo directory: refuses a directory with anything but an earlier
/// demo's data in it.
fn prepare(data: &Path) -> anyhow::Result<()> {
    if data.exists() {
        let empty = std::fs::read_dir(data)?.next().is_none();
        if !empty {
            anyhow::ensure!(
                data.join(MARKER).exists(),
                "{} exists and was not made by `ledger demo`; pass --data with a new directory",
                data.display()
            );
            std::fs::remove_dir_all(data)
                .with_context(|| format!("clearing the earlier demo in {}", data.display()))?;
        }
    }
    std::fs::create_dir_all(data)?;
    std::fs::write(
        data.join(MARKER),
        "made by `ledger demo`; rerunning it clears this directory\n",
    )?;
    Ok(())
}

/// Runs the demo and prints its summary to `out`.
/// The demo's log: embedded in `data`, with the configuration's topic layout.
pub fn log_options(config: &LedgerConfig, data: &std::path::Path) -> LogOptions {
    LogOptions {
        data: data.to_owned(),
        kafka: None,
        kafka_config: Vec::new(),
        kafka_config_file: None,
        prefix: config.log.prefix.clone(),
        partitions: config.log.partitions,
        replication_factor: 1,
    }
}

pub async fn run(
    config: &LedgerConfig,
    options: &DemoOptions,
    out: &mut impl Write,
) -> anyhow::Result<DemoSummary> {
    prepare(&options.data)?;
    let log_options = log_options(config, &options.data);
    let log = log_admin::open(&log_options).await?;
    let start = Utc
        .with_ymd_and_hms(2026, 11, 2, 8, 0, 0)
        .single()
        .expect("valid");
    let clock = Arc::new(ManualClock::new(start));
    let mut handler_config = config.handler_config_for(&log_options);
    handler_config.process = true;
    // The same seed gives the same log: every step of the order process goes through a poll,
    // so its steps and the timers the simulated clock makes due interleave the same way each
    // run (decided in place, a wave's reservations may land before or after the releases of
    // the orders it expires, by who wins a race with the clock).
    handler_config.decide_in_place = false;
    // The shop's customers have two hours to pay (the default window is 30 minutes), and its
    // parcels leave the carrier to the rules half of the time.
    handler_config.policy.payment_window_minutes =
        handler_config.policy.payment_window_minutes.max(120);
    // Its parcels are weighed against the shop's own catalog and carrier table, unless the
    // configuration has them.
    if handler_config.rules.carriers.is_empty() {
        handler_config.rules.carriers = Shop::carriers();
    }
    // Its shop offers cash on delivery up to 150.00 on every channel, unless the
    // configuration says where it is offered.
    let cod_max: order_events::Amount = "150.00".parse().expect("a valid amount");
    if handler_config.policy.cash_on_delivery.is_empty() {
        handler_config.policy.cash_on_delivery = vec![order_events::CashOnDeliveryOffer {
            channel: None,
            merchant: None,
            currency: order_events::Currency::EUR,
            max_order_value: cod_max,
        }];
    }
    let shop_config = ShopConfig {
        orders: options.orders,
        carrier_rules: true,
        cash_on_delivery_max: Some(cod_max),
        warehouse_flow: true,
        ..ShopConfig::default()
    };
    let mut shop = Shop::new(options.seed, shop_config, start);
    if handler_config.rules.catalog.is_empty() {
        handler_config.rules.catalog = shop.catalog();
    }
    let group = handler_config.group.clone();
    let policy = handler_config.policy.clone();
    let handler = Background::spawn({
        let handler = Handler::new(log.clone(), handler_config, clock.clone());
        |stopped| handler.run(stopped.wait())
    });
    let read_side = config.read_side_for(&log_options, "demo");
    let read_models = crate::serve::open_read_models(&read_side)?;
    let store = read_models.store().clone();
    let (worker, projections) =
        projections::worker::ProjectionWorker::new(log.clone(), read_models, read_side.group)?;
    let worker = Background::spawn(|stopped| worker.run(stopped.wait()));

    let bar = if options.progress {
        indicatif::ProgressBar::new(u64::from(options.orders))
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} orders placed  {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let opening = shop.opening_stock(start);
    publish(log.as_ref(), &opening).await?;
    settle(log.as_ref(), &group, &projections).await?;
    while let Some(now) = shop.next_time() {
        clock.set(now);
        let order_of = |id| store.order_state(id).ok().flatten();
        let mut commands = shop.step(now, &order_of);
        commands.extend(
            shop.warehouse_step(now, &order_of, &|key| store.stock_state(key).ok().flatten()),
        );
        publish(log.as_ref(), &commands).await?;
        settle(log.as_ref(), &group, &projections).await?;
        bar.set_position(u64::from(shop.placed()));
        let events: u64 = log.end_offsets(Topic::Events).await?.iter().sum();
        bar.set_message(format!(
            "{}  {} active  {:.0} events/s",
            now.format("%a %d %b %H:%M"),
            shop.active(),
            events as f64 / started.elapsed().as_secs_f64()
        ));
    }
    // Let the last timers (auto-confirmation, expiry) fire.
    let last_sale = clock.now().date_naive();
    let end = clock.now() + chrono::Duration::days(30);
    clock.set(end);
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle(log.as_ref(), &group, &projections).await?;
    // Month end: the carriers remit the cash they collected, and finance pays every merchant
    // what is available.
    let remittances = shop.cod_remittances(end, &|id| store.order_state(id).ok().flatten());
    publish(log.as_ref(), &remittances).await?;
    settle(log.as_ref(), &group, &projections).await?;
    let payouts = payouts(&store, end, &policy)?;
    publish(log.as_ref(), &payouts).await?;
    settle(log.as_ref(), &group, &projections).await?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let handler_stats = handler.stop().await??;
    worker.stop().await??;
    let summary = summarize(
        log.as_ref(),
        &store,
        options,
        elapsed,
        &read_side.slas,
        (end, &policy, last_sale),
        out,
    )
    .await?;
    tracing::info!(?handler_stats, "demo done");
    Ok(summary)
}

/// A `PayoutMerchant` of what is available for every merchant with something available, by
/// finance, at `now`. The payout reference names the merchant, currency and day, so a rerun
/// of the same month end is the same payout.
fn payouts(
    store: &projections::ProjectionStore,
    now: chrono::DateTime<Utc>,
    policy: &order_events::Policy,
) -> anyhow::Result<Vec<order_events::CommandEnvelope>> {
    let balances = store.merchant_balances(None, None, now, policy)?;
    Ok(balances
        .into_iter()
        .filter(|balance| balance.available.is_positive())
        .map(|balance| {
            let reference = format!(
                "PO-{}-{}-{}",
                balance.merchant_id,
                balance.currency,
                now.format("%Y%m%d")
            );
            let command_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, reference.as_bytes());
            order_events::CommandEnvelope {
                command_id,
                correlation_id: command_id,
                causation_id: None,
                actor: order_events::Actor::new(order_events::ActorKind::Staff, "finance"),
                issued_at: now,
                command: PayoutMerchant {
                    merchant_id: balance.merchant_id,
                    currency: balance.currency,
                    amount: balance.available,
                    payout_reference: reference,
                }
                .into(),
            }
        })
        .collect())
}

async fn publish(log: &dyn Log, commands: &[order_events::CommandEnvelope]) -> anyhow::Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let records = commands
        .iter()
        .map(|c| json_record(log, json::encode_command_json(c).as_bytes(), c))
        .collect();
    log.publish(records).await?;
    Ok(())
}

/// Waits until the handler has decided everything published (and the process's reactions),
/// and the read models have folded every event.
async fn settle(
    log: &dyn Log,
    group: &str,
    projections: &projections::worker::Projections,
) -> anyhow::Result<()> {
    let wait = Duration::from_secs(120);
    anyhow::ensure!(
        crate::submit::settle(log, group, wait).await?,
        "the command handler did not catch up within {} s",
        wait.as_secs()
    );
    let ends = log.end_offsets(Topic::Events).await?;
    let positions: Vec<(u32, u64)> = ends
        .iter()
        .enumerate()
        .filter(|(_, &end)| end > 0)
        .map(|(p, &end)| (p as u32, end - 1))
        .collect();
    projections.wait_for(&positions, wait).await?;
    Ok(())
}

/// The command results in the log: by outcome (`accepted` or the rule that refused it), the
/// accepted ones by command type, and how claims were resolved.
#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<String, u64>,
    accepted: BTreeMap<String, u64>,
    resolutions: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn count(&mut self, result: Option<CommandResult>) {
        let key = match result {
            Some(result) => match result.outcome {
                Outcome::Accepted { events } => {
                    if result.command_type == "ResolveClaim" {
                        let with = |kind: &str| events.iter().any(|e| e.event_type == kind);
                        let how = match (with("RefundIssued"), with("ExchangeRequested")) {
                            (true, _) => "refunded",
                            (_, true) => "replaced",
                            _ => "rejected",
                        };
                        *self.resolutions.entry(how).or_default() += 1;
                    }
                    *self.accepted.entry(result.command_type).or_default() += 1;
                    "accepted".to_owned()
                }
                Outcome::Rejected { rule, .. } => rule,
            },
            None => "unreadable result".to_owned(),
        };
        *self.outcomes.entry(key).or_default() += 1;
    }

    fn accepted(&self, command_type: &str) -> u64 {
        self.accepted.get(command_type).copied().unwrap_or(0)
    }
}

/// Every command result in the log, tallied.
async fn tally(log: &dyn event_log::LogReader) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    each_record(log, Topic::CommandResults, |record| {
        tally.count(CommandResult::from_record(record))
    })
    .await?;
    Ok(tally)
}

/// Hands `f` every record of `topic`, partition by partition.
async fn each_record(
    log: &dyn event_log::LogReader,
    topic: Topic,
    mut f: impl FnMut(&event_log::StoredRecord),
) -> anyhow::Result<()> {
    let name = log.topics().name(topic);
    for (partition, &end) in log.end_offsets(topic).await?.iter().enumerate() {
        let tp = TopicPartition::new(name.clone(), partition as u32);
        let mut offset = 0;
        while offset < end {
            let records = log.read(&tp, offset, 1000).await?;
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            records.iter().for_each(&mut f);
        }
    }
    Ok(())
}

/// Cash on delivery: what the carriers collected and remitted, and the parcels refused at the
/// door.
fn write_cash_on_delivery(
    tally: &Tally,
    store: &projections::ProjectionStore,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "Cash on delivery: {} collected at the door, {} remittances; {} parcels refused at the door",
        tally.accepted("CollectCashOnDelivery"),
        tally.accepted("RecordCodRemittance"),
        tally.accepted("RefuseDelivery"),
    )?;
    for account in store.balances(None)? {
        if let Some(carrier) = account.account.strip_prefix("carrier_cod_receivable:") {
            writeln!(
                out,
                "  {carrier:<10} collected {} {c}  remitted {} {c}  still owed {} {c}",
                account.debits,
                account.credits,
                account.balance,
                c = account.currency
            )?;
        }
    }
    Ok(())
}

/// What customers were told: the notifications outbox by kind.
fn write_notifications(
    store: &projections::ProjectionStore,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut cursor = projections::query::NotificationCursor::new();
    loop {
        let page = store.notifications(&cursor, 1000)?;
        for notification in &page.items {
            *by_kind.entry(notification.notice.kind()).or_default() += 1;
        }
        if page.items.len() < 1000 {
            break;
        }
        cursor = projections::query::notification_cursor(&page.next)?;
    }
    let total: u64 = by_kind.values().sum();
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    writeln!(
        out,
        "Notifications to customers: {total} ({})",
        kinds.join(", ")
    )?;
    Ok(())
}

/// Reviews, claims and the order defect rate's parts, with the merchants that rate worst.
fn write_reviews_and_claims(
    tally: &Tally,
    report: &projections::model::ReportView,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let resolved = |how| tally.resolutions.get(how).copied().unwrap_or(0);
    writeln!(out)?;
    writeln!(
        out,
        "Reviews and claims: {} reviews ({} revised), {} claims ({} refunded, {} replaced, {} rejected)",
        tally.accepted("ReviewOrder"),
        tally.accepted("ReviseReview"),
        tally.accepted("OpenClaim"),
        resolved("refunded"),
        resolved("replaced"),
        resolved("rejected"),
    )?;
    let d = report.defects;
    writeln!(
        out,
        "  defective orders {}: {} with a 1-2 star review, {} with a claim, {} with a defective return",
        d.defective, d.negative_reviews, d.claims, d.defective_returns
    )?;
    for merchant in report.by_merchant.iter().take(3) {
        writeln!(
            out,
            "  {:<14} order defect rate {:>5.2} %  ({} of {} orders)",
            merchant.merchant_id.as_str(),
            100.0 * merchant.order_defect_rate,
            merchant.defects.defective,
            merchant.orders
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn summarize(
    log: &dyn Log,
    store: &projections::ProjectionStore,
    options: &DemoOptions,
    elapsed: Duration,
    slas: &projections::model::Slas,
    (now, policy, last_sale): (
        chrono::DateTime<Utc>,
        &order_events::Policy,
        chrono::NaiveDate,
    ),
    out: &mut impl Write,
) -> anyhow::Result<DemoSummary> {
    let mut statuses: BTreeMap<OrderStatus, u64> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.orders(&OrderFilter::default(), 1000, after.as_deref())?;
        for order in &page.items {
            *statuses.entry(order.status).or_default() += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let tally = tally(log).await?;
    let outcomes = &tally.outcomes;
    let commands: u64 = outcomes.values().sum();
    let rejected = commands - outcomes.get("accepted").copied().unwrap_or(0);
    let events: u64 = log.end_offsets(Topic::Events).await?.iter().sum();
    let seconds = elapsed.as_secs_f64();

    writeln!(
        out,
        "order-ledger demo: {} orders, seed {}, data in {}",
        options.orders,
        options.seed,
        options.data.display()
    )?;
    writeln!(out)?;
    writeln!(out, "Orders by status")?;
    for (status, count) in &statuses {
        writeln!(out, "  {:<20} {count:>7}", status.to_string())?;
    }

    let exceptions = store.exceptions(now, slas, 1000)?;
    writeln!(out)?;
    writeln!(
        out,
        "Exception queue: {} orders (on hold, or past their status SLA)",
        exceptions.len()
    )?;
    for exception in exceptions.iter().take(5) {
        writeln!(
            out,
            "  {}  {:<18} {:?} {}h in status",
            exception.order.order_id,
            exception.order.status.to_string(),
            exception.kind,
            exception.hours_in_status
        )?;
    }

    let low = store.inventory(None, true, 1000, None)?;
    writeln!(out)?;
    writeln!(
        out,
        "Low stock: {} SKU/warehouse items below safety stock",
        low.items.len()
    )?;
    for item in low.items.iter().take(8) {
        writeln!(
            out,
            "  {:<10} {:<7} on hand {:>4}  reserved {:>4}  available {:>4}  safety {:>3}",
            item.sku.as_str(),
            item.warehouse.as_str(),
            item.on_hand,
            item.reserved,
            item.available,
            item.safety_stock
        )?;
    }

    let trial = store.trial_balance()?;
    writeln!(out)?;
    writeln!(out, "Settlement balances (debits − credits)")?;
    for currency in &trial.currencies {
        for account in currency.accounts.iter().filter(|a| {
            !a.account.starts_with("merchant_payable:")
                && !a.account.starts_with("carrier_payable:")
        }) {
            writeln!(
                out,
                "  {} {:<30} {:>14}",
                currency.currency,
                account.account,
                account.balance.to_string()
            )?;
        }
        let payable: order_events::Amount = currency
            .accounts
            .iter()
            .filter(|a| a.account.starts_with("merchant_payable:"))
            .map(|a| a.balance)
            .sum();
        let carriers: order_events::Amount = currency
            .accounts
            .iter()
            .filter(|a| a.account.starts_with("carrier_payable:"))
            .map(|a| a.balance)
            .sum();
        writeln!(
            out,
            "  {} {:<30} {:>14}",
            currency.currency,
            "merchant_payable (all)",
            payable.to_string()
        )?;
        writeln!(
            out,
            "  {} {:<30} {:>14}",
            currency.currency,
            "carrier_payable (all)",
            carriers.to_string()
        )?;
        writeln!(
            out,
            "  trial balance {}: debits {} credits {} difference {}",
            currency.currency, currency.debits, currency.credits, currency.difference
        )?;
    }
    writeln!(
        out,
        "  books balanced: {}",
        if trial.balanced { "yes" } else { "NO" }
    )?;

    writeln!(out)?;
    writeln!(
        out,
        "Merchant payouts at month end (return windows closed; refunds after a payout are owed)"
    )?;
    for merchant in store.merchant_balances(None, None, now, policy)? {
        writeln!(
            out,
            "  {} {:<14} paid out {:>12}  payable {:>10}  held back {:>10}  available {:>10}",
            merchant.currency,
            merchant.merchant_id.as_str(),
            merchant.totals.payouts.to_string(),
            merchant.payable.to_string(),
            merchant.held_back.to_string(),
            merchant.available.to_string()
        )?;
    }

    let report = store.report(None, None, None)?;
    writeln!(out)?;
    writeln!(out, "Reports")?;
    for totals in &report.by_currency {
        writeln!(
            out,
            "  orders {}  gross GMV {} {c}  net sales {} {c}  average order value {}",
            totals.orders,
            totals.gross_gmv,
            totals.net_sales,
            totals.average_order_value,
            c = totals.currency,
        )?;
    }
    let hours = |h: Option<f64>| h.map_or("-".to_owned(), |h| format!("{h:.1} h"));
    writeln!(
        out,
        "  placed → shipped  p50 {}  p95 {}",
        hours(report.processing_hours_p50),
        hours(report.processing_hours_p95)
    )?;
    writeln!(
        out,
        "  cancellation rate {:.1} %  return rate {:.1} %  order defect rate {:.1} %",
        100.0 * report.cancellation_rate,
        100.0 * report.return_rate,
        100.0 * report.order_defect_rate
    )?;
    write_reviews_and_claims(&tally, &report, out)?;
    write_cash_on_delivery(&tally, store, out)?;
    let mis_packs = tally
        .outcomes
        .get("pack_sku_not_picked")
        .copied()
        .unwrap_or(0)
        + tally
            .outcomes
            .get("pack_exceeds_picked")
            .copied()
            .unwrap_or(0);
    warehouse::write(log, store, mis_packs, last_sale, out).await?;
    write_notifications(store, out)?;

    writeln!(out)?;
    writeln!(
        out,
        "Commands: {commands} ({rejected} rejected by a business rule)"
    )?;
    for (rule, count) in outcomes
        .iter()
        .filter(|(rule, _)| rule.as_str() != "accepted")
    {
        writeln!(out, "  {rule:<34} {count:>6}")?;
    }
    writeln!(
        out,
        "Throughput: {commands} commands and {events} events in {seconds:.1} s ({:.0} commands/s, {:.0} events/s), handler and read models included",
        commands as f64 / seconds,
        events as f64 / seconds
    )?;
    writeln!(out)?;
    writeln!(out, "Explore: ledger query --data {} orders --table   (also: inventory --low, balances, trial-balance, reports, exceptions, waves, replenishment)", options.data.display())?;
    writeln!(out, "Or see it in the console: ledger demo --serve (keeps the shop up at http://127.0.0.1:8080/)")?;
    Ok(DemoSummary {
        orders: options.orders,
        commands,
        events,
        rejected,
        elapsed,
        balanced: trial.balanced,
        statuses,
    })
}
