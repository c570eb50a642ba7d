//! Folding one event into every read model. Pure apart from the rows it reads and writes, which
//! come through [`Rows`]: the sled store in production, a `BTreeMap` in tests and references.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use order_events::account::merchant::OpenOrder;
use order_events::account::AccountEvent;
use order_events::codec::encode_cache_value;
use order_events::envelope::{AggregateKind, Event, EventEnvelope};
use order_events::ids::OrderId;
use order_events::money::{Amount, Currency};
use order_events::order::{self, FreightPayer, OrderEvent, OrderHeader, OrderStatus, PaymentTerms};
use order_events::reconciliation::ReconciliationEvent;
pub use order_events::settlement::{CommissionSoFar, SettlementRules};
use order_events::stock::{self, StockEvent, StockItem};
use serde::{Deserialize, Serialize};

use crate::keys::{self, OrderIndex};
use crate::model::{
    AccountBalance, CarrierExceptionView, DayRow, EntryKind, EventRef, GapAlarm, JournalEntry,
    MerchantTotals, OrderBalanceView, OrderRow, Posting, ReconciliationView, ReturnTimes,
    StatusChange, StockRow,
};
use crate::row::{get, keep, put, take};
pub use crate::row::{Decoded, MemoryRows, Rows};
use crate::StoreError;

/// An aggregate's progress through the read models: the last sequence folded, and whether a
/// gap stopped it there (its alarm row then says where). One row read per event answers both
/// (a gap's alarm row used to be looked up for every event, to find it missing).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Progress {
    last: u64,
    gapped: bool,
}

/// The accounts of the settlement ledger (one ledger per currency).
pub mod accounts {
    /// Captured money held at the payment provider, less what was refunded from it.
    pub const CLEARING: &str = "customer_payments_clearing";
    /// The platform's commission income.
    pub const COMMISSION: &str = "platform_commission_revenue";
    /// Freight the platform pays carriers.
    pub const FREIGHT: &str = "freight_expense";
    /// Refunds passing from merchants back to customers: debited with what a customer gets
    /// back, credited with what the merchant bears, so its turnover is the refunds issued.
    pub const REFUNDS: &str = "refunds";
    /// The platform's bank account: what payment providers pay out arrives here; payouts to
    /// merchants and payments to carriers leave from here.
    pub const BANK: &str = "bank";
    /// What carriers invoiced beyond the freight charged at dispatch (a credit: below it).
    pub const FREIGHT_VARIANCE: &str = "freight_variance";
    /// What payment providers charge for processing.
    pub const PSP_FEES: &str = "psp_fee_expense";

    pub fn merchant_payable(merchant: &str) -> String {
        format!("merchant_payable:{merchant}")
    }

    pub fn carrier_payable(carrier: &str) -> String {
        format!("carrier_payable:{carrier}")
    }

    /// Cash a carrier collected on delivery and has not remitted yet.
    pub fn carrier_cod_receivable(carrier: &str) -> String {
        format!("carrier_cod_receivable:{carrier}")
    }

    /// What carriers charge for collecting cash on delivery.
    pub const COD_FEES: &str = "cod_fee_expense";
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    Applied,
    /// Its sequence was folded before: ignored.
    Duplicate,
    /// Its aggregate has a gap: held back, counted on the alarm.
    HeldBack,
    /// It opened a gap: alarm raised, not folded.
    Gap,
}

/// Folds events into the read models.
#[derive(Debug, Clone, Default)]
pub struct Projector {
    pub settlement: SettlementRules,
}

fn debit(account: impl Into<String>, amount: Amount) -> Posting {
    Posting {
        account: account.into(),
        debit: amount,
        credit: Amount::ZERO,
    }
}

fn credit(account: impl Into<String>, amount: Amount) -> Posting {
    Posting {
        account: account.into(),
        debit: Amount::ZERO,
        credit: amount,
    }
}

impl Projector {
    pub fn new(settlement: SettlementRules) -> Projector {
        Projector { settlement }
    }

    /// The rows folding `envelope` reads first, whatever the event: its aggregate's sequence,
    /// an order's row and settlement, a stock item's row. A store far from the fold
    /// (PostgreSQL) fetches a step's in one query instead of one round trip each.
    pub fn rows_read(envelope: &EventEnvelope) -> Vec<Vec<u8>> {
        let aggregate = format!("{}:{}", envelope.aggregate_kind, envelope.aggregate_id);
        let mut read = vec![keys::with_str(keys::SEQUENCE, &aggregate)];
        if envelope.aggregate_kind == AggregateKind::Order {
            if let Ok(id) = envelope.aggregate_id.parse::<uuid::Uuid>() {
                read.push(keys::order(keys::ORDER, id));
                read.push(keys::order(keys::ORDER_BALANCE, id));
                read.push(keys::order(keys::ORDER_EVENTS, id));
            }
        }
        if envelope.aggregate_kind == AggregateKind::StockItem {
            if let Some((sku, warehouse)) = envelope.aggregate_id.split_once('@') {
                read.push(keys::stock(sku, warehouse));
            }
        }
        if envelope.aggregate_kind == AggregateKind::Wave {
            read.push(crate::warehouse::wave_key(&envelope.aggregate_id));
        }
        read
    }

    /// Folds one event read at `partition`/`offset`. The caller writes the checkpoint.
    pub fn fold(
        &self,
        rows: &mut dyn Rows,
        partition: u32,
        offset: u64,
        envelope: &EventEnvelope,
    ) -> Result<Folded, StoreError> {
        let aggregate = format!("{}:{}", envelope.aggregate_kind, envelope.aggregate_id);
        let gap_key = keys::with_str(keys::GAP, &aggregate);
        let sequence_key = keys::with_str(keys::SEQUENCE, &aggregate);
        let progress = take::<Progress>(rows, &sequence_key, "sequence")?.unwrap_or_default();
        if progress.gapped {
            let mut gap = get::<GapAlarm>(rows, &gap_key, "gap alarm")?.ok_or_else(|| {
                StoreError::Corrupt {
                    key: aggregate.clone(),
                    reason: "a gap is noted without its alarm".into(),
                }
            })?;
            gap.held_back += 1;
            put(rows, gap_key, &gap);
            keep(rows, sequence_key, progress);
            return Ok(Folded::HeldBack);
        }
        let last = progress.last;
        if envelope.sequence <= last {
            keep(rows, sequence_key, progress);
            return Ok(Folded::Duplicate);
        }
        if envelope.sequence != last + 1 {
            tracing::error!(
                %aggregate, expected = last + 1, found = envelope.sequence, partition, offset,
                "sequence gap in the event log: this aggregate's read models stop here"
            );
            metrics::counter!(crate::metrics::GAPS).increment(1);
            let alarm = GapAlarm {
                aggregate,
                expected_sequence: last + 1,
                found_sequence: envelope.sequence,
                partition,
                offset,
                held_back: 0,
            };
            put(rows, gap_key, &alarm);
            let gapped = Progress { last, gapped: true };
            keep(rows, sequence_key, gapped);
            return Ok(Folded::Gap);
        }
        let progress = Progress {
            last: envelope.sequence,
            gapped: false,
        };
        keep(rows, sequence_key, progress);
        match (&envelope.event, envelope.aggregate_kind) {
            (Event::Order(event), AggregateKind::Order) => {
                let order_id = envelope.aggregate_id.parse().map(OrderId).map_err(|_| {
                    StoreError::Corrupt {
                        key: aggregate.clone(),
                        reason: "an order event on an aggregate id that is not a UUID".into(),
                    }
                })?;
                self.fold_order(rows, (partition, offset), order_id, envelope, event)?;
            }
            (Event::Stock(event), AggregateKind::StockItem) => {
                fold_stock(rows, envelope, event)?;
            }
            (Event::Wave(event), AggregateKind::Wave) => {
                crate::warehouse::fold_wave(rows, envelope, event)?;
            }
            (Event::Account(event), AggregateKind::Account) => {
                let entries = Projector::account_entries(envelope, event);
                post_entries(rows, partition, &entries)?;
                fold_merchant_account(rows, partition, event)?;
            }
            (Event::Reconciliation(event), AggregateKind::Reconciliation) => {
                let ReconciliationEvent::ReconciliationRecorded(run) = event;
                let view = ReconciliationView {
                    run_id: envelope.aggregate_id.clone(),
                    recorded_at: envelope.recorded_at,
                    actor: envelope.actor.clone(),
                    outcome: run.outcome.clone(),
                };
                put(
                    rows,
                    keys::reconciliation(envelope.recorded_at, &envelope.aggregate_id),
                    &view,
                );
            }
            _ => {
                return Err(StoreError::Corrupt {
                    key: aggregate,
                    reason: "an event of one aggregate kind on another's id".into(),
                })
            }
        }
        Ok(Folded::Applied)
    }

    /// Folds an order's event, read at `position` (partition, offset): the partition is the
    /// [part](keys#parts) of the shared rows it adds to.
    fn fold_order(
        &self,
        rows: &mut dyn Rows,
        position: (u32, u64),
        order_id: OrderId,
        envelope: &EventEnvelope,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let at = envelope.recorded_at;
        let row_key = keys::order(keys::ORDER, order_id.0);
        let previous: Option<OrderRow> = take(rows, &row_key, "order row")?;
        let indexed_before = previous.as_ref().map(index_entries).unwrap_or_default();
        let mut row = previous.unwrap_or_else(|| OrderRow {
            state: order::Order::default(),
            timeline: Vec::new(),
            updated_at: at,
            dispatched_at: Vec::new(),
            carrier_exceptions: Vec::new(),
            returns: Vec::new(),
            counted: Default::default(),
            commission_charged: Amount::ZERO,
            commission_reversed: Amount::ZERO,
        });
        if row.state.header.is_none() && !matches!(event, OrderEvent::OrderPlaced(_)) {
            return Err(StoreError::Corrupt {
                key: order_id.to_string(),
                reason: format!("{} before OrderPlaced", event.type_name()),
            });
        }
        let total_before = row.state.total();
        let status_before = row.state.status;
        order::apply(&mut row.state, event);
        row.updated_at = at;
        let (part, offset) = position;
        let told =
            order_events::notification::notification(&row.state, event, envelope.event_id, at);
        if let Some(notification) = told {
            let json = serde_json::to_vec(&notification).map_err(|e| StoreError::Corrupt {
                key: order_id.to_string(),
                reason: format!("a notification does not encode: {e}"),
            })?;
            rows.put_new(keys::notification(part, offset), json);
        }
        let events_key = keys::order(keys::ORDER_EVENTS, order_id.0);
        let mut events: Vec<EventRef> =
            take(rows, &events_key, "order events")?.unwrap_or_default();
        events.push(EventRef {
            sequence: envelope.sequence,
            event_type: event.type_name().to_owned(),
            event_id: envelope.event_id,
            recorded_at: at,
            actor: envelope.actor.clone(),
            partition: part,
            offset,
            hash: envelope.hash.to_hex(),
        });
        keep(rows, events_key, events);
        if row.state.status != status_before {
            row.timeline.push(StatusChange {
                status: row.state.status,
                at,
            });
        }
        match event {
            OrderEvent::ShipmentDispatched(e) => row.dispatched_at.push(e.dispatched_at),
            OrderEvent::CarrierExceptionRecorded(e) => {
                row.carrier_exceptions.push(CarrierExceptionView {
                    shipment_id: e.shipment_id.clone(),
                    kind: e.kind,
                    note: e.note.clone(),
                    at,
                })
            }
            OrderEvent::ReturnRequested(order::ReturnRequested {
                return_id, reason, ..
            })
            | OrderEvent::ExchangeRequested(order::ExchangeRequested {
                return_id, reason, ..
            }) => row.returns.push(ReturnTimes {
                return_id: return_id.clone(),
                reason: *reason,
                requested_at: at,
                received_at: None,
            }),
            OrderEvent::DeliveryRefused(e) => row.returns.push(ReturnTimes {
                return_id: e.return_id.clone(),
                reason: order::ReturnReason::DeliveryRefused,
                requested_at: at,
                received_at: None,
            }),
            OrderEvent::ReturnReceived(e) => {
                if let Some(times) = row.returns.iter_mut().find(|t| t.return_id == e.return_id) {
                    times.received_at = Some(at);
                }
            }
            _ => {}
        }
        let before = (total_before, status_before);
        self.count_in_reports(rows, part, &mut row, event, before, at)?;
        self.settle(rows, part, &mut row, envelope, event)?;
        update_indexes(rows, &indexed_before, &row);
        keep(rows, row_key, row);
        Ok(())
    }

    /// Counts an order's event in its placement day's report; `before`: the order's total and
    /// status before the event.
    fn count_in_reports(
        &self,
        rows: &mut dyn Rows,
        part: u32,
        row: &mut OrderRow,
        event: &OrderEvent,
        before: (Amount, OrderStatus),
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (total_before, status_before) = before;
        let header = row
            .state
            .header
            .as_ref()
            .expect("placed orders have a header");
        let key = keys::day(
            header.placed_at.date_naive(),
            header.channel.as_str(),
            header.currency,
            part,
        );
        let mut day: DayRow = take(rows, &key, "day report")?.unwrap_or_default();
        let merchant = day
            .by_merchant
            .entry(header.merchant_id.clone())
            .or_default();
        match event {
            OrderEvent::OrderPlaced(placed) => {
                day.orders += 1;
                merchant.orders += 1;
                if placed.payment_terms == PaymentTerms::CashOnDelivery {
                    day.cash_on_delivery += 1;
                }
            }
            // Once per order: a refusal cancels it.
            OrderEvent::DeliveryRefused(_) => day.refused += 1,
            _ => {}
        }
        let defects = row.counted.defects(event);
        merchant.defects += defects;
        day.defects += defects;
        // GMV is the current total of the day's orders: price changes, discounts and split
        // shortages move it; cancellations do not (they count in the cancellation rate).
        day.gmv += row.state.total() - total_before;
        let status = row.state.status;
        if status != status_before {
            if let Some(n) = day.by_status.get_mut(&status_before) {
                *n = n.saturating_sub(1);
            }
            day.by_status.retain(|_, n| *n > 0);
            *day.by_status.entry(status).or_default() += 1;
        }
        let counted = &mut row.counted;
        if status == OrderStatus::Cancelled && !counted.cancelled {
            counted.cancelled = true;
            day.cancelled += 1;
        }
        if status == OrderStatus::Expired && !counted.expired {
            counted.expired = true;
            day.expired += 1;
        }
        if matches!(event, OrderEvent::ReturnReceived(_)) && !counted.returned {
            counted.returned = true;
            day.returned += 1;
        }
        match event {
            OrderEvent::PaymentCaptured(e) => day.net_sales += e.amount,
            OrderEvent::RefundIssued(e) => day.net_sales -= e.amount,
            _ => {}
        }
        if status == OrderStatus::Shipped && !counted.shipped {
            counted.shipped = true;
            let minutes = (at - header.placed_at).num_minutes().max(0);
            let key = keys::processing(
                header.placed_at.date_naive(),
                header.channel.as_str(),
                header.currency,
                u32::try_from(minutes).unwrap_or(u32::MAX),
                part,
            );
            let shipped = get::<u64>(rows, &key, "processing time")?.unwrap_or(0);
            put(rows, key, &(shipped + 1));
        }
        keep(rows, key, day);
        Ok(())
    }

    /// Posts the journal entries of a money event.
    fn settle(
        &self,
        rows: &mut dyn Rows,
        part: u32,
        row: &mut OrderRow,
        envelope: &EventEnvelope,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let header = row
            .state
            .header
            .as_ref()
            .expect("placed orders have a header");
        let mut commission = CommissionSoFar {
            charged: row.commission_charged,
            reversed: row.commission_reversed,
        };
        let Some((entries, totals)) =
            self.journal_entries(header, &mut commission, envelope, event)
        else {
            return Ok(());
        };
        let (currency, order_id, merchant) =
            (header.currency, header.order_id, header.merchant_id.clone());
        row.commission_charged = commission.charged;
        row.commission_reversed = commission.reversed;
        post(rows, part, order_id, &entries)?;
        let key = keys::merchant(currency, merchant.as_str(), part);
        let mut merchant_totals: MerchantTotals =
            take(rows, &key, "merchant totals")?.unwrap_or_default();
        merchant_totals.captures += totals.captures;
        merchant_totals.commission += totals.commission;
        merchant_totals.refunds += totals.refunds;
        merchant_totals.commission_reversals += totals.commission_reversals;
        merchant_totals.payouts += totals.payouts;
        merchant_totals.freight_charges += totals.freight_charges;
        keep(rows, key, merchant_totals);
        Ok(())
    }

    /// The journal entries a finance account's event posts. Pure, like
    /// [`journal_entries`](Self::journal_entries): the replay tool checks them too. The
    /// accruals the order process feeds the accounts post nothing: the order events they come
    /// from already did.
    pub fn account_entries(envelope: &EventEnvelope, event: &AccountEvent) -> Vec<JournalEntry> {
        let entry = |kind, currency, postings| JournalEntry {
            kind,
            event_id: envelope.event_id,
            order_id: None,
            currency,
            at: envelope.recorded_at,
            postings,
        };
        match event {
            AccountEvent::PspSettlementRecorded(e) => {
                let mut postings = vec![
                    debit(accounts::BANK, e.net),
                    credit(accounts::CLEARING, e.gross),
                ];
                if e.fees.is_positive() {
                    postings.insert(1, debit(accounts::PSP_FEES, e.fees));
                }
                vec![entry(EntryKind::PspSettlement, e.currency, postings)]
            }
            AccountEvent::MerchantPaidOut(e) => vec![entry(
                EntryKind::Payout,
                e.currency,
                vec![
                    debit(accounts::merchant_payable(e.merchant_id.as_str()), e.amount),
                    credit(accounts::BANK, e.amount),
                ],
            )],
            AccountEvent::CarrierInvoiceRecorded(e) => {
                let payable = accounts::carrier_payable(e.carrier.as_str());
                let variance = e.variance();
                let postings = if variance.is_positive() {
                    vec![
                        debit(accounts::FREIGHT_VARIANCE, variance),
                        credit(payable, variance),
                    ]
                } else if variance.is_negative() {
                    let under = Amount::ZERO - variance;
                    vec![
                        debit(payable, under),
                        credit(accounts::FREIGHT_VARIANCE, under),
                    ]
                } else {
                    return Vec::new();
                };
                vec![entry(EntryKind::FreightVariance, e.currency, postings)]
            }
            AccountEvent::CarrierPaid(e) => vec![entry(
                EntryKind::CarrierPayment,
                e.currency,
                vec![
                    debit(accounts::carrier_payable(e.carrier.as_str()), e.amount),
                    credit(accounts::BANK, e.amount),
                ],
            )],
            AccountEvent::CodRemitted(e) => {
                let mut postings = vec![debit(accounts::BANK, e.net)];
                if e.fees.is_positive() {
                    postings.push(debit(accounts::COD_FEES, e.fees));
                }
                if e.netted_amount().is_positive() {
                    let payable = accounts::carrier_payable(e.carrier.as_str());
                    postings.push(debit(payable, e.netted_amount()));
                }
                let receivable = accounts::carrier_cod_receivable(e.carrier.as_str());
                postings.push(credit(receivable, e.gross));
                vec![entry(EntryKind::CodRemittance, e.currency, postings)]
            }
            AccountEvent::MerchantEarningsAccrued(_)
            | AccountEvent::MerchantRefundCharged(_)
            | AccountEvent::ReturnWindowStarted(_)
            | AccountEvent::CarrierFreightAccrued(_)
            | AccountEvent::CarrierCodAccrued(_)
            | AccountEvent::MerchantFreightCharged(_) => Vec::new(),
        }
    }

    /// The journal entries a money event of the order with `header` posts, and what they add
    /// to the merchant's totals; `None` for an event that moves no money. Pure: the settlement
    /// read model posts them, and the replay tool recomputes them to check the trial balance.
    pub fn journal_entries(
        &self,
        header: &OrderHeader,
        commission: &mut CommissionSoFar,
        envelope: &EventEnvelope,
        event: &OrderEvent,
    ) -> Option<(Vec<JournalEntry>, MerchantTotals)> {
        let currency = header.currency;
        let merchant = &header.merchant_id;
        let payable = accounts::merchant_payable(merchant.as_str());
        let rate = self.settlement.rate_of(merchant);
        let entry = |kind, postings| JournalEntry {
            kind,
            event_id: envelope.event_id,
            order_id: Some(header.order_id),
            currency,
            at: envelope.recorded_at,
            postings,
        };
        let mut entries = Vec::new();
        let mut totals = MerchantTotals::default();
        // Cash on delivery never passes the payment provider: it is owed by the carrier, and
        // refunds of it leave from the bank.
        let cash_on_delivery = header.payment_terms == PaymentTerms::CashOnDelivery;
        let paid_from = if cash_on_delivery {
            accounts::BANK
        } else {
            accounts::CLEARING
        };
        let mut charge_commission = |entries: &mut Vec<JournalEntry>, amount: Amount| {
            let charged = commission.charge(amount, rate, currency);
            if charged.is_positive() {
                entries.push(entry(
                    EntryKind::Commission,
                    vec![
                        debit(&payable, charged),
                        credit(accounts::COMMISSION, charged),
                    ],
                ));
            }
            charged
        };
        match event {
            OrderEvent::PaymentCaptured(e) => {
                entries.push(entry(
                    EntryKind::Capture,
                    vec![
                        debit(accounts::CLEARING, e.amount),
                        credit(&payable, e.amount),
                    ],
                ));
                totals.captures = e.amount;
                totals.commission = charge_commission(&mut entries, e.amount);
            }
            OrderEvent::CashCollected(e) => {
                let receivable = accounts::carrier_cod_receivable(e.carrier.as_str());
                entries.push(entry(
                    EntryKind::CashOnDelivery,
                    vec![debit(receivable, e.amount), credit(&payable, e.amount)],
                ));
                totals.captures = e.amount;
                totals.commission = charge_commission(&mut entries, e.amount);
            }
            OrderEvent::DeliveryRefused(e)
                if e.freight_payer == FreightPayer::Merchant && e.freight.is_positive() =>
            {
                entries.push(entry(
                    EntryKind::FreightRecharge,
                    vec![
                        debit(&payable, e.freight),
                        credit(accounts::FREIGHT, e.freight),
                    ],
                ));
                totals.freight_charges = e.freight;
            }
            OrderEvent::RefundIssued(e) => {
                entries.push(entry(
                    EntryKind::Refund,
                    vec![
                        debit(accounts::REFUNDS, e.amount),
                        credit(paid_from, e.amount),
                        debit(&payable, e.amount),
                        credit(accounts::REFUNDS, e.amount),
                    ],
                ));
                totals.refunds = e.amount;
                let reversal = commission.reverse(e.amount, rate, currency);
                if reversal.is_positive() {
                    entries.push(entry(
                        EntryKind::CommissionReversal,
                        vec![
                            debit(accounts::COMMISSION, reversal),
                            credit(&payable, reversal),
                        ],
                    ));
                    totals.commission_reversals = reversal;
                }
            }
            OrderEvent::ShipmentDispatched(e) if e.freight_cost.is_positive() => {
                entries.push(entry(
                    EntryKind::Freight,
                    vec![
                        debit(accounts::FREIGHT, e.freight_cost),
                        credit(
                            accounts::carrier_payable(e.carrier.as_str()),
                            e.freight_cost,
                        ),
                    ],
                ));
            }
            _ => return None,
        }
        Some((entries, totals))
    }
}

/// What a merchant account's event changes besides the books: payouts in the merchant's
/// totals, and the per-order earnings a payout holds back while return windows are open.
fn fold_merchant_account(
    rows: &mut dyn Rows,
    part: u32,
    event: &AccountEvent,
) -> Result<(), StoreError> {
    // Moves (or creates) an order's hold row to sit under `delivered_at`, changed by `change`.
    let mut update = |currency: Currency,
                      merchant: &str,
                      order_id: OrderId,
                      delivered_at: Option<Option<DateTime<Utc>>>,
                      change: &dyn Fn(&mut OpenOrder)|
     -> Result<(), StoreError> {
        let at_key = keys::hold_at(currency, merchant, order_id.0);
        let was: Option<Option<DateTime<Utc>>> = get(rows, &at_key, "hold position")?;
        let old_key = keys::hold(currency, merchant, was.flatten(), order_id.0);
        let mut hold: OpenOrder = get(rows, &old_key, "hold")?.unwrap_or_default();
        change(&mut hold);
        let now_at = delivered_at.unwrap_or_else(|| was.flatten());
        let new_key = keys::hold(currency, merchant, now_at, order_id.0);
        if new_key == old_key {
            put(rows, new_key, &hold);
        } else {
            rows.remove(old_key);
            rows.put_new(new_key, encode_cache_value(&hold));
        }
        put(rows, at_key, &now_at);
        Ok(())
    };
    match event {
        AccountEvent::MerchantEarningsAccrued(e) => update(
            e.currency,
            e.merchant_id.as_str(),
            e.order_id,
            None,
            &|hold| hold.accrue(e),
        ),
        AccountEvent::MerchantRefundCharged(e) => update(
            e.currency,
            e.merchant_id.as_str(),
            e.order_id,
            None,
            &|hold| hold.charge_refund(e),
        ),
        AccountEvent::ReturnWindowStarted(e) => update(
            e.currency,
            e.merchant_id.as_str(),
            e.order_id,
            Some(Some(e.delivered_at)),
            &|hold| hold.delivered_at = Some(e.delivered_at),
        ),
        AccountEvent::MerchantPaidOut(e) => {
            let key = keys::merchant(e.currency, e.merchant_id.as_str(), part);
            let mut totals: MerchantTotals =
                take(rows, &key, "merchant totals")?.unwrap_or_default();
            totals.payouts += e.amount;
            keep(rows, key, totals);
            Ok(())
        }
        AccountEvent::PspSettlementRecorded(_)
        | AccountEvent::CarrierFreightAccrued(_)
        | AccountEvent::CarrierInvoiceRecorded(_)
        | AccountEvent::CarrierPaid(_)
        | AccountEvent::CarrierCodAccrued(_)
        | AccountEvent::CodRemitted(_)
        // The order's `DeliveryRefused` posted the charge and added it to the totals.
        | AccountEvent::MerchantFreightCharged(_) => Ok(()),
    }
}

/// Writes balanced entries to partition `part`'s part of the account balances.
fn post_entries(
    rows: &mut dyn Rows,
    part: u32,
    entries: &[JournalEntry],
) -> Result<(), StoreError> {
    for entry in entries {
        let (debits, credits) = entry.totals();
        assert_eq!(
            debits, credits,
            "a journal entry must balance: {entry:?} (trial balance invariant)"
        );
        for posting in &entry.postings {
            let key = keys::account(entry.currency, &posting.account, part);
            let mut balance: AccountBalance = take(rows, &key, "account")?.unwrap_or_default();
            balance.debits += posting.debit;
            balance.credits += posting.credit;
            keep(rows, key, balance);
        }
    }
    Ok(())
}

/// Writes balanced entries to the account balances and the order's settlement.
fn post(
    rows: &mut dyn Rows,
    part: u32,
    order_id: OrderId,
    entries: &[JournalEntry],
) -> Result<(), StoreError> {
    post_entries(rows, part, entries)?;
    let order_key = keys::order(keys::ORDER_BALANCE, order_id.0);
    let mut order_balance: OrderBalanceView =
        take(rows, &order_key, "order balance")?.unwrap_or_default();
    for entry in entries {
        for posting in &entry.postings {
            *order_balance
                .accounts
                .entry(posting.account.clone())
                .or_insert(Amount::ZERO) += posting.debit - posting.credit;
        }
        order_balance.entries.push(entry.clone());
    }
    keep(rows, order_key, order_balance);
    Ok(())
}

fn index_entries(row: &OrderRow) -> BTreeSet<Vec<u8>> {
    let Some(header) = row.state.header.as_ref() else {
        return BTreeSet::new();
    };
    let id = header.order_id.0;
    let placed = header.placed_at;
    let status = keys::status_code(row.state.status);
    let open_claim = row
        .state
        .claims
        .iter()
        .find(|claim| claim.is_open())
        .and_then(|claim| claim.opened_at);
    let claim_entry = open_claim.map(|at| keys::index_entry(OrderIndex::OpenClaim, None, at, id));
    let owed = row.state.status == OrderStatus::Cancelled && row.state.refund_owed.is_positive();
    let owed_entry =
        owed.then(|| keys::index_entry(OrderIndex::RefundOwed, None, row.status_since(), id));
    let parcel_entry = |index, flagged: fn(&order_events::order::ParcelPacked) -> bool| {
        let packed_at = row.state.parcels.iter().find(|p| flagged(p))?.packed_at;
        Some(keys::index_entry(index, None, packed_at, id))
    };
    let mismatch_entry = parcel_entry(OrderIndex::WeightMismatch, |p| p.weight_mismatch);
    let overweight_entry = parcel_entry(OrderIndex::Overweight, |p| p.overweight);
    let indexed: [(OrderIndex, Option<&str>, DateTime<Utc>); 6] = [
        (OrderIndex::Time, None, placed),
        (OrderIndex::Status, Some(&status), placed),
        (
            OrderIndex::Merchant,
            Some(header.merchant_id.as_str()),
            placed,
        ),
        (
            OrderIndex::Customer,
            Some(header.customer_id.as_str()),
            placed,
        ),
        (OrderIndex::Channel, Some(header.channel.as_str()), placed),
        (OrderIndex::InStatus, Some(&status), row.status_since()),
    ];
    indexed
        .into_iter()
        .map(|(index, value, at)| keys::index_entry(index, value, at, id))
        .chain(claim_entry)
        .chain(owed_entry)
        .chain(mismatch_entry)
        .chain(overweight_entry)
        .collect()
}

/// Moves `row`'s index entries from `before` (its entries before the event) to its own.
fn update_indexes(rows: &mut dyn Rows, before: &BTreeSet<Vec<u8>>, row: &OrderRow) {
    let after = index_entries(row);
    for gone in before.difference(&after) {
        rows.remove(gone.clone());
    }
    for new in after.difference(before) {
        rows.put_new(new.clone(), Vec::new());
    }
}

fn fold_stock(
    rows: &mut dyn Rows,
    envelope: &EventEnvelope,
    event: &StockEvent,
) -> Result<(), StoreError> {
    let (sku, warehouse) =
        envelope
            .aggregate_id
            .split_once('@')
            .ok_or_else(|| StoreError::Corrupt {
                key: envelope.aggregate_id.clone(),
                reason: "a stock event on an id that is not SKU@WAREHOUSE".into(),
            })?;
    let key = keys::stock(sku, warehouse);
    let mut row: StockRow = take(rows, &key, "stock row")?.unwrap_or_else(|| StockRow {
        sku: sku.into(),
        warehouse: warehouse.into(),
        state: StockItem::default(),
        updated_at: envelope.recorded_at,
        last_count: None,
    });
    stock::apply(&mut row.state, event);
    row.updated_at = envelope.recorded_at;
    if let StockEvent::StockCounted(counted) = event {
        row.last_count = Some(crate::model::CountView {
            counted_at: envelope.recorded_at,
            book_quantity: counted.book_quantity,
            counted_quantity: counted.counted_quantity,
            difference: counted.difference,
            reason: counted.reason.clone(),
        });
    }
    keep(rows, key, row);
    crate::warehouse::count_sales(rows, (sku, warehouse), envelope, event)
}
