//! The read models: what the read side stores per row, and the views it answers queries with.
//!
//! Rows hold what folding needs (the domain's own folded state plus what only the read side
//! tracks, like the time of every transition); views are what queries return, built from rows
//! on read. Views are JSON on the HTTP API and have JSON Schemas for its OpenAPI document.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use order_events::ids::{
    CarrierId, Channel, ClaimId, CustomerId, MerchantId, OrderId, PaymentId, ReturnId, ShipmentId,
    Sku, WarehouseId,
};
use order_events::money::{Amount, Currency};
use order_events::order::{
    CarrierExceptionKind, ClaimKind, ClaimResolution, Discount, HoldReason, LineQuantity, Order,
    OrderStatus, ParcelPacked, PaymentTerms, ReturnDisposition, ReturnReason, ServiceLevel,
};
use order_events::stock::StockItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Order status
// ---------------------------------------------------------------------------------------------

/// One status the order entered, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChange {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
}

/// A carrier problem, with when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CarrierExceptionView {
    pub shipment_id: ShipmentId,
    pub kind: CarrierExceptionKind,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// What the read side tracks about a return case beyond the domain state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnTimes {
    pub return_id: ReturnId,
    pub reason: ReturnReason,
    pub requested_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
}

/// Which of an order's outcomes the reports have counted, so each counts once per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counted {
    pub cancelled: bool,
    pub expired: bool,
    pub returned: bool,
    pub defective: bool,
    pub shipped: bool,
    pub negative_review: bool,
    pub claim: bool,
    pub defective_return: bool,
}

impl Counted {
    /// Counts the defect parts `event` brings that the order has not counted yet: what to add
    /// to its day's and its merchant's defects (each 0 or 1).
    pub fn defects(&mut self, event: &order_events::order::OrderEvent) -> Defects {
        let parts = defect_parts(event);
        let first = |brings: bool, counted: &mut bool| {
            let new = brings && !*counted;
            *counted |= brings;
            u64::from(new)
        };
        let added = Defects {
            defective: 0,
            negative_reviews: first(parts.negative_review, &mut self.negative_review),
            claims: first(parts.claim, &mut self.claim),
            defective_returns: first(parts.defective_return, &mut self.defective_return),
        };
        let any = parts.negative_review || parts.claim || parts.defective_return;
        Defects {
            defective: first(any, &mut self.defective),
            ..added
        }
    }
}

/// One order as stored: the domain's folded state plus the read side's own bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    pub state: Order,
    pub timeline: Vec<StatusChange>,
    pub updated_at: DateTime<Utc>,
    /// Dispatch time of every shipment, in shipment order.
    pub dispatched_at: Vec<DateTime<Utc>>,
    pub carrier_exceptions: Vec<CarrierExceptionView>,
    pub returns: Vec<ReturnTimes>,
    pub counted: Counted,
    /// Commission charged on this order's captures, and given back on its refunds.
    pub commission_charged: Amount,
    pub commission_reversed: Amount,
}

/// One event of an aggregate: what it was, who recorded it when, where it is in the log and
/// its hash in the aggregate's chain — what an auditor asks a proof of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventRef {
    pub sequence: u64,
    /// The event's type, as in the log's JSON (`OrderPlaced`, …).
    pub event_type: String,
    pub event_id: uuid::Uuid,
    pub recorded_at: DateTime<Utc>,
    pub actor: order_events::Actor,
    /// The events topic's partition and offset of its record.
    pub partition: u32,
    pub offset: u64,
    /// SHA-256 of the event and the hash before it (hex).
    pub hash: String,
}

impl OrderRow {
    pub fn status(&self) -> OrderStatus {
        self.state.status
    }

    /// When the order entered its current status.
    pub fn status_since(&self) -> DateTime<Utc> {
        self.timeline
            .last()
            .map_or(self.updated_at, |change| change.at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLineView {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Amount,
    /// The warehouse the line ships from: the one allocated to it, else the one its units are
    /// reserved at when that is one; `null` while nothing is reserved or when it is split.
    pub warehouse: Option<WarehouseId>,
    /// Where the line's units are reserved and shipped from, one entry per warehouse, in the
    /// order shipments take from them.
    pub warehouses: Vec<LineWarehouse>,
    pub shipped: u32,
    pub returned: u32,
}

/// A line's units at one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineWarehouse {
    pub warehouse: WarehouseId,
    /// Units reserved there for the line.
    pub reserved: u32,
    /// Of those, units shipped.
    pub shipped: u32,
}

/// Where `line`'s units are reserved and shipped from: shipments take units off the
/// reservations in the order they are listed, as the order process commits them.
fn line_warehouses(
    line: &order_events::order::OrderLine,
    reservations: &[order_events::order::ReservedLine],
) -> Vec<LineWarehouse> {
    let mut unshipped_before = line.shipped;
    reservations
        .iter()
        .filter(|reservation| reservation.sku == line.sku)
        .map(|reservation| {
            let shipped = unshipped_before.min(reservation.quantity);
            unshipped_before -= shipped;
            LineWarehouse {
                warehouse: reservation.warehouse.clone(),
                reserved: reservation.quantity,
                shipped,
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentView {
    pub payment_id: PaymentId,
    /// The captured amount; `null` for a failed payment.
    pub captured: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShipmentView {
    pub shipment_id: ShipmentId,
    pub carrier: CarrierId,
    pub tracking_number: String,
    pub lines: Vec<LineQuantity>,
    pub freight_cost: Amount,
    pub dispatched_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub exceptions: Vec<CarrierExceptionKind>,
    /// When it was refused at the door (it then travels back to the sender).
    pub refused_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReturnView {
    pub return_id: ReturnId,
    pub lines: Vec<LineQuantity>,
    /// An exchange (goods replaced) rather than a plain return.
    pub exchange: bool,
    pub reason: ReturnReason,
    /// `null` until the goods arrived back.
    pub disposition: Option<ReturnDisposition>,
    pub requested_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
}

/// The customer's review of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewView {
    /// 1 (worst) to 5 (best); 1 and 2 count toward the order defect rate.
    pub rating: u8,
    pub text: String,
    /// `null` for a rating recorded by the retired `RecordFeedback`, which had no date.
    pub reviewed_at: Option<DateTime<Utc>>,
    pub revised_at: Option<DateTime<Utc>>,
}

/// A claim about the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimView {
    /// `null` for a claim recorded by the retired `RecordFeedback`.
    pub claim_id: Option<ClaimId>,
    pub kind: ClaimKind,
    pub opened_at: Option<DateTime<Utc>>,
    /// How staff resolved it; `null` while it is open.
    pub resolution: Option<ClaimResolution>,
}

/// Everything the read side knows about one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    /// When the order entered its current status.
    pub status_since: DateTime<Utc>,
    pub channel: Channel,
    pub external_reference: String,
    pub customer_id: CustomerId,
    pub merchant_id: MerchantId,
    pub currency: Currency,
    pub placed_at: DateTime<Utc>,
    pub payment_due_at: DateTime<Utc>,
    /// Prepaid, or cash on delivery (the carrier collects the total at the door).
    pub payment_terms: PaymentTerms,
    /// The delivery service the customer chose.
    pub service_level: ServiceLevel,
    /// Time of the last event folded into this view.
    pub updated_at: DateTime<Utc>,
    /// Every status the order entered, in order, starting with `placed`.
    pub timeline: Vec<StatusChange>,
    pub lines: Vec<OrderLineView>,
    pub subtotal: Amount,
    pub discounts: Vec<Discount>,
    pub discount_total: Amount,
    pub shipping_fee: Amount,
    /// What the customer pays: lines plus shipping minus discounts.
    pub total: Amount,
    pub captured: Amount,
    pub refunded: Amount,
    /// What a cancellation or a refusal at the door left due back to the customer and no
    /// refund has paid yet.
    pub refund_owed: Amount,
    pub payments: Vec<PaymentView>,
    pub shipments: Vec<ShipmentView>,
    pub carrier_exceptions: Vec<CarrierExceptionView>,
    pub returns: Vec<ReturnView>,
    /// Why the order is on hold; `null` when it is not.
    pub hold: Option<HoldReason>,
    pub review: Option<ReviewView>,
    pub claims: Vec<ClaimView>,
    /// Units picked by pick waves and not yet packed or shipped.
    pub picked: Vec<LineQuantity>,
    /// Parcels packed and weighed, not yet shipped: contents, measured and expected weight,
    /// the weight limit, handling labels, and whether the weight is off or too heavy.
    pub parcels: Vec<ParcelPacked>,
    /// Every event of the order, in sequence order, with where it is in the log and its hash
    /// (only on the order's own route: listings leave it empty).
    pub events: Vec<EventRef>,
}

impl OrderView {
    /// The view of a stored row. `None` for a row of an order never placed (which the fold
    /// never stores).
    pub fn of(row: &OrderRow) -> Option<OrderView> {
        let state = &row.state;
        let header = state.header.as_ref()?;
        Some(OrderView {
            order_id: header.order_id,
            status: state.status,
            status_since: row.status_since(),
            channel: header.channel.clone(),
            external_reference: header.external_reference.clone(),
            customer_id: header.customer_id.clone(),
            merchant_id: header.merchant_id.clone(),
            currency: header.currency,
            placed_at: header.placed_at,
            payment_due_at: header.payment_due_at,
            payment_terms: header.payment_terms,
            service_level: header.service_level,
            updated_at: row.updated_at,
            timeline: row.timeline.clone(),
            lines: state
                .lines
                .iter()
                .map(|line| {
                    let warehouses = line_warehouses(line, &state.reservations);
                    let warehouse =
                        line.warehouse
                            .clone()
                            .or_else(|| match warehouses.as_slice() {
                                [only] => Some(only.warehouse.clone()),
                                _ => None,
                            });
                    OrderLineView {
                        sku: line.sku.clone(),
                        quantity: line.quantity,
                        unit_price: line.unit_price,
                        warehouse,
                        warehouses,
                        shipped: line.shipped,
                        returned: line.returned,
                    }
                })
                .collect(),
            subtotal: state.subtotal(),
            discounts: state.discounts.clone(),
            discount_total: state.discount_total(),
            shipping_fee: state.shipping_fee,
            total: state.total(),
            captured: state.captured(),
            refunded: state.refunded(),
            refund_owed: state.refund_owed,
            payments: state
                .payments
                .iter()
                .map(|p| PaymentView {
                    payment_id: p.payment_id.clone(),
                    captured: p.captured,
                })
                .collect(),
            shipments: state
                .shipments
                .iter()
                .zip(&row.dispatched_at)
                .map(|(s, &dispatched_at)| ShipmentView {
                    shipment_id: s.shipment_id.clone(),
                    carrier: s.carrier.clone(),
                    tracking_number: s.tracking_number.clone(),
                    lines: s.lines.clone(),
                    freight_cost: s.freight_cost,
                    dispatched_at,
                    delivered_at: s.delivered_at,
                    exceptions: s.exceptions.clone(),
                    refused_at: s.refused_at,
                })
                .collect(),
            carrier_exceptions: row.carrier_exceptions.clone(),
            returns: state
                .returns
                .iter()
                .zip(&row.returns)
                .map(|(case, times)| ReturnView {
                    return_id: case.return_id.clone(),
                    lines: case.lines.clone(),
                    exchange: case.exchange,
                    reason: times.reason,
                    disposition: case.disposition,
                    requested_at: times.requested_at,
                    received_at: times.received_at,
                })
                .collect(),
            hold: state.hold.map(|hold| hold.reason),
            events: Vec::new(),
            review: state.review.as_ref().map(|review| ReviewView {
                rating: review.rating,
                text: review.text.clone(),
                reviewed_at: review.reviewed_at,
                revised_at: review.revised_at,
            }),
            claims: state
                .claims
                .iter()
                .map(|claim| ClaimView {
                    claim_id: claim.claim_id.clone(),
                    kind: claim.kind,
                    opened_at: claim.opened_at,
                    resolution: claim.resolution.clone(),
                })
                .collect(),
            picked: state.picked.clone(),
            parcels: state.parcels.clone(),
        })
    }
}

/// One line of an order listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSummary {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub status_since: DateTime<Utc>,
    pub channel: Channel,
    pub merchant_id: MerchantId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub total: Amount,
    pub captured: Amount,
    pub refunded: Amount,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&OrderView> for OrderSummary {
    fn from(view: &OrderView) -> OrderSummary {
        OrderSummary {
            order_id: view.order_id,
            status: view.status,
            status_since: view.status_since,
            channel: view.channel.clone(),
            merchant_id: view.merchant_id.clone(),
            customer_id: view.customer_id.clone(),
            currency: view.currency,
            total: view.total,
            captured: view.captured,
            refunded: view.refunded,
            placed_at: view.placed_at,
            updated_at: view.updated_at,
        }
    }
}

/// An order in the exception queue, and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExceptionView {
    pub order: OrderSummary,
    /// `on_hold` (with the hold reason in `hold`), `sla_breached`, or `claim_open` (a claim
    /// open longer than its SLA, in `claim`).
    pub kind: ExceptionKind,
    pub hold: Option<HoldReason>,
    /// Hours the order has been in its status, at the time of the query (0 when its status was
    /// recorded by a clock ahead of the query's).
    pub hours_in_status: i64,
    /// The SLA in hours of the status (or of claims), when it has one.
    pub sla_hours: Option<u32>,
    /// The open claim of a `claim_open` exception.
    pub claim: Option<ClaimView>,
    /// Hours the claim has been open.
    pub claim_hours_open: Option<i64>,
    /// The parcel of a `weight_mismatch` or `overweight` exception.
    pub parcel: Option<ParcelPacked>,
}

/// When the exception queue lists an order: hours in a status, by status, and hours a claim
/// may stay open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slas {
    pub statuses: BTreeMap<OrderStatus, u32>,
    pub claim_hours: u32,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    OnHold,
    SlaBreached,
    ClaimOpen,
    /// A cancelled order (or one refused at the door) with money still owed back: refund it.
    RefundDue,
    /// A packed parcel weighs more or less than its contents should, beyond the tolerance:
    /// check what is in it.
    WeightMismatch,
    /// A packed parcel is heavier than any allowed service takes: arrange its transport.
    Overweight,
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

/// One stock item as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRow {
    pub sku: Sku,
    pub warehouse: WarehouseId,
    pub state: StockItem,
    pub updated_at: DateTime<Utc>,
    /// The last cycle count, if any.
    pub last_count: Option<CountView>,
}

/// A cycle count: the book against what was counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CountView {
    pub counted_at: DateTime<Utc>,
    pub book_quantity: u64,
    pub counted_quantity: u64,
    /// Counted minus book: the adjustment posted.
    pub difference: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationView {
    pub order_id: OrderId,
    pub quantity: u32,
    pub expires_at: DateTime<Utc>,
}

/// Stock of one SKU in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryView {
    pub sku: Sku,
    pub warehouse: WarehouseId,
    /// Units physically in the warehouse, reserved or not.
    pub on_hand: u64,
    /// Units held by active reservations.
    pub reserved: u64,
    /// Units free to reserve: on hand minus reserved.
    pub available: u64,
    pub safety_stock: u64,
    /// Available below the safety stock.
    pub low_stock: bool,
    pub reservations: Vec<ReservationView>,
    /// Where the item is kept in the warehouse, once set.
    pub bin: Option<String>,
    /// Units pick waves are picking (no cycle count until they are done).
    pub picking: u64,
    /// Units picked for orders and not yet shipped: at the pack station, out of the bin (a
    /// cycle count counts the bin against on hand less these).
    pub staged: u64,
    /// The last cycle count.
    pub last_count: Option<CountView>,
    pub updated_at: DateTime<Utc>,
}

impl From<&StockRow> for InventoryView {
    fn from(row: &StockRow) -> InventoryView {
        InventoryView {
            sku: row.sku.clone(),
            warehouse: row.warehouse.clone(),
            on_hand: row.state.on_hand,
            reserved: row.state.reserved(),
            available: row.state.available(),
            safety_stock: row.state.safety_stock,
            low_stock: row.state.is_low(),
            reservations: row
                .state
                .reservations
                .iter()
                .map(|(order_id, r)| ReservationView {
                    order_id: *order_id,
                    quantity: r.quantity,
                    expires_at: r.expires_at,
                })
                .collect(),
            bin: row.state.bin.clone(),
            picking: row.state.picking.values().sum(),
            staged: row.state.staged_total(),
            last_count: row.last_count.clone(),
            updated_at: row.updated_at,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------------------------

/// One side of a journal entry. Exactly one of `debit` and `credit` is non-zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Posting {
    pub account: String,
    pub debit: Amount,
    pub credit: Amount,
}

/// What a journal entry records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Capture,
    Commission,
    Freight,
    Refund,
    CommissionReversal,
    /// A merchant payout: what the platform owes the merchant, paid from the bank.
    Payout,
    /// A payment provider's settlement batch: clearing emptied into the bank, less fees.
    PspSettlement,
    /// A carrier invoice billing more (or less) than the freight charged at dispatch.
    FreightVariance,
    /// A carrier invoice paid from the bank.
    CarrierPayment,
    /// Cash a carrier collected at the door: owed by the carrier, payable to the merchant.
    CashOnDelivery,
    /// A carrier's remittance of cash collected: to the bank, less its fees and any invoice
    /// it nets.
    CodRemittance,
    /// Freight of a delivery refused at the door, charged to the merchant.
    FreightRecharge,
}

/// Balanced postings for one money movement: debits equal credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JournalEntry {
    pub kind: EntryKind,
    /// The event that caused it.
    pub event_id: Uuid,
    pub order_id: Option<OrderId>,
    pub currency: Currency,
    pub at: DateTime<Utc>,
    pub postings: Vec<Posting>,
}

impl JournalEntry {
    /// The entry's total debits and total credits: equal in a balanced entry.
    pub fn totals(&self) -> (Amount, Amount) {
        let debits = self.postings.iter().map(|p| p.debit).sum();
        let credits = self.postings.iter().map(|p| p.credit).sum();
        (debits, credits)
    }
}

/// Turnover and balance of one account in one currency. `balance` = debits − credits: positive
/// for assets and expenses, negative for liabilities and revenue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AccountBalance {
    pub debits: Amount,
    pub credits: Amount,
}

impl AccountBalance {
    pub fn balance(&self) -> Amount {
        self.debits - self.credits
    }
}

/// Adds `part`'s counts to `sum`'s, dropping keys that come to zero.
pub fn add_counts<K: Ord + Clone>(sum: &mut BTreeMap<K, u64>, part: &BTreeMap<K, u64>) {
    for (key, n) in part {
        *sum.entry(key.clone()).or_default() += n;
    }
    sum.retain(|_, n| *n > 0);
}

/// A row kept in [parts](crate::keys#parts), one per events partition: the whole row is the
/// sum of its parts.
pub trait Part {
    fn add(&mut self, part: &Self);
}

impl Part for AccountBalance {
    fn add(&mut self, part: &Self) {
        self.debits += part.debits;
        self.credits += part.credits;
    }
}

impl Part for MerchantTotals {
    fn add(&mut self, part: &Self) {
        self.captures += part.captures;
        self.commission += part.commission;
        self.refunds += part.refunds;
        self.commission_reversals += part.commission_reversals;
        self.payouts += part.payouts;
        self.freight_charges += part.freight_charges;
    }
}

impl Part for DayRow {
    fn add(&mut self, part: &Self) {
        self.orders += part.orders;
        self.gmv += part.gmv;
        self.net_sales += part.net_sales;
        self.cancelled += part.cancelled;
        self.expired += part.expired;
        self.returned += part.returned;
        self.cash_on_delivery += part.cash_on_delivery;
        self.refused += part.refused;
        self.defects += part.defects;
        add_counts(&mut self.by_status, &part.by_status);
        for (merchant, day) in &part.by_merchant {
            let mine = self.by_merchant.entry(merchant.clone()).or_default();
            mine.orders += day.orders;
            mine.defects += day.defects;
        }
    }
}

/// An account's balance as a query answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountView {
    pub currency: Currency,
    pub account: String,
    pub debits: Amount,
    pub credits: Amount,
    /// Debits minus credits.
    pub balance: Amount,
}

/// What the platform owes one merchant in one currency, and how it came about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MerchantTotals {
    pub captures: Amount,
    pub commission: Amount,
    pub refunds: Amount,
    pub commission_reversals: Amount,
    pub payouts: Amount,
    /// Freight of deliveries refused at the door, charged to the merchant by the policy.
    #[serde(default)]
    pub freight_charges: Amount,
}

impl MerchantTotals {
    /// Captures − commission − refunds + commission reversals − freight charges − payouts.
    pub fn payable(&self) -> Amount {
        self.captures - self.commission - self.refunds + self.commission_reversals
            - self.freight_charges
            - self.payouts
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MerchantBalanceView {
    pub currency: Currency,
    pub merchant_id: MerchantId,
    #[serde(flatten)]
    pub totals: MerchantTotals,
    /// Captures − commission − refunds + commission reversals − freight charges − payouts.
    pub payable: Amount,
    /// What a payout holds back now: the policy's share of the earnings of orders whose return
    /// window is open or not yet begun.
    pub held_back: Amount,
    /// Payable − held back: the most a payout may take now (below zero: the merchant owes).
    pub available: Amount,
}

/// The settlement of one order: its journal entries and the net effect on each account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrderBalanceView {
    pub entries: Vec<JournalEntry>,
    /// Account → debits − credits over this order's entries.
    pub accounts: BTreeMap<String, Amount>,
}

/// The sum of every account of one currency's ledger: zero when the books balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CurrencyTrialBalance {
    pub currency: Currency,
    pub debits: Amount,
    pub credits: Amount,
    /// Debits minus credits over all accounts; always zero.
    pub difference: Amount,
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrialBalanceView {
    /// True when every currency's difference is zero.
    pub balanced: bool,
    pub currencies: Vec<CurrencyTrialBalance>,
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

/// Counters for the orders placed on one day, through one channel, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayRow {
    pub orders: u64,
    /// Gross GMV: the totals of the orders placed, whatever became of them.
    pub gmv: Amount,
    /// Captured less refunded, on those orders.
    pub net_sales: Amount,
    pub cancelled: u64,
    pub expired: u64,
    /// Orders with at least one return received.
    pub returned: u64,
    /// Orders placed cash on delivery.
    #[serde(default)]
    pub cash_on_delivery: u64,
    /// Orders refused at the door.
    #[serde(default)]
    pub refused: u64,
    /// Orders with a defect, and with each kind of defect (see [`defect_parts`]).
    pub defects: Defects,
    /// The day's orders by the status they are in now.
    pub by_status: BTreeMap<OrderStatus, u64>,
    /// The day's orders and their defects, per merchant.
    pub by_merchant: BTreeMap<MerchantId, MerchantDay>,
}

/// One merchant's orders of a day and their defects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MerchantDay {
    pub orders: u64,
    pub defects: Defects,
}

/// Orders with a defect — counted once however many it has — and orders with each kind: the
/// order defect rate and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Defects {
    pub defective: u64,
    /// Orders whose customer reviewed them with 1 or 2 stars.
    pub negative_reviews: u64,
    /// Orders with a claim (whatever became of it).
    pub claims: u64,
    /// Orders with a return or exchange for goods defective, not as described, the wrong item
    /// or damaged in transit.
    pub defective_returns: u64,
}

impl std::ops::AddAssign for Defects {
    fn add_assign(&mut self, other: Defects) {
        self.defective += other.defective;
        self.negative_reviews += other.negative_reviews;
        self.claims += other.claims;
        self.defective_returns += other.defective_returns;
    }
}

/// Which parts of the order defect rate an order event brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DefectParts {
    pub negative_review: bool,
    pub claim: bool,
    pub defective_return: bool,
}

/// The defects an order event brings, negative outcomes the merchant is answerable for: a
/// review rated 1 or 2 (when recorded or revised: a review revised upward keeps the order
/// counted); a claim; a return or exchange for goods that were defective, not as described,
/// the wrong item, or damaged in transit (a change of mind or "other" is no defect). A parcel
/// the carrier lost or damaged counts once its customer claims.
pub fn defect_parts(event: &order_events::order::OrderEvent) -> DefectParts {
    use order_events::order::{OrderEvent, ReturnReason};
    let defective_reason = |reason: ReturnReason| {
        matches!(
            reason,
            ReturnReason::Defective
                | ReturnReason::NotAsDescribed
                | ReturnReason::WrongItem
                | ReturnReason::DamagedInTransit
        )
    };
    let none = DefectParts::default();
    match event {
        OrderEvent::FeedbackRecorded(e) => DefectParts {
            negative_review: e.rating <= 2,
            claim: e.claim.is_some(),
            ..none
        },
        OrderEvent::ReviewRecorded(e) => DefectParts {
            negative_review: e.rating <= 2,
            ..none
        },
        OrderEvent::ReviewRevised(e) => DefectParts {
            negative_review: e.rating <= 2,
            ..none
        },
        OrderEvent::ClaimOpened(_) => DefectParts {
            claim: true,
            ..none
        },
        OrderEvent::ReturnRequested(e) => DefectParts {
            defective_return: defective_reason(e.reason),
            ..none
        },
        OrderEvent::ExchangeRequested(e) => DefectParts {
            defective_return: defective_reason(e.reason),
            ..none
        },
        _ => none,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DayReport {
    pub date: NaiveDate,
    pub channel: Channel,
    pub currency: Currency,
    pub orders: u64,
    /// Gross GMV: the totals of the orders placed that day, cancelled and expired ones too.
    pub gross_gmv: Amount,
    /// Net sales: captured less refunded, on the orders placed that day.
    pub net_sales: Amount,
    /// Gross GMV / orders, rounded to the currency's minor units.
    pub average_order_value: Amount,
    pub cancelled: u64,
    pub expired: u64,
    pub returned: u64,
    /// Orders placed cash on delivery.
    pub cash_on_delivery: u64,
    /// Orders refused at the door.
    pub refused: u64,
    /// Orders with a defect, and with each kind (see [`defect_parts`]).
    #[serde(flatten)]
    pub defects: Defects,
    /// The day's orders by the status they are in now (statuses none is in are left out).
    pub by_status: BTreeMap<OrderStatus, u64>,
    /// The day's orders and their defects per merchant.
    pub by_merchant: BTreeMap<MerchantId, MerchantDay>,
}

/// One merchant's orders over a report's range, their defects and its order defect rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MerchantDefects {
    pub merchant_id: MerchantId,
    pub orders: u64,
    #[serde(flatten)]
    pub defects: Defects,
    /// Defective / orders (0 to 1).
    pub order_defect_rate: f64,
}

/// One placement day of a report, over its channels and currencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DateSummary {
    pub date: NaiveDate,
    pub orders: u64,
    /// Placement to fully shipped, over that day's orders that shipped; `null` when none did.
    pub processing_hours_p50: Option<f64>,
    pub processing_hours_p95: Option<f64>,
}

/// Gross GMV, net sales and average order value of one currency over a report's range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CurrencyTotals {
    pub currency: Currency,
    pub orders: u64,
    /// The totals of the orders placed, cancelled and expired ones too.
    pub gross_gmv: Amount,
    /// Captured less refunded, on those orders.
    pub net_sales: Amount,
    /// Gross GMV / orders.
    pub average_order_value: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReportView {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub channel: Option<Channel>,
    pub days: Vec<DayReport>,
    /// Each placement day over every channel and currency (what a chart per day shows).
    pub dates: Vec<DateSummary>,
    pub orders: u64,
    /// The range's orders by the status they are in now.
    pub by_status: BTreeMap<OrderStatus, u64>,
    pub by_currency: Vec<CurrencyTotals>,
    /// Cancelled / placed orders (0 to 1).
    pub cancellation_rate: f64,
    /// Orders with a return received / placed orders.
    pub return_rate: f64,
    /// Orders placed cash on delivery.
    pub cash_on_delivery: u64,
    /// Orders refused at the door, cash on delivery or prepaid.
    pub refused: u64,
    /// Refused / placed orders (0 to 1).
    pub refusal_rate: f64,
    /// Orders with a defect / placed orders. A defect: a review rated 1 or 2; a claim; a
    /// return or exchange for goods defective, not as described, the wrong item or damaged in
    /// transit.
    pub order_defect_rate: f64,
    /// The range's orders with a defect, and with each kind.
    pub defects: Defects,
    /// Per merchant, worst order defect rate first.
    pub by_merchant: Vec<MerchantDefects>,
    /// Placement to fully shipped, over the orders that shipped; `null` when none did.
    pub processing_hours_p50: Option<f64>,
    pub processing_hours_p95: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Health of the fold
// ---------------------------------------------------------------------------------------------

/// An aggregate whose events arrived with a sequence gap. Its read models stop at the event
/// before the gap: nothing after it is folded until the log is repaired and rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GapAlarm {
    pub aggregate: String,
    pub expected_sequence: u64,
    pub found_sequence: u64,
    pub partition: u32,
    pub offset: u64,
    /// Events of this aggregate not folded since the gap.
    pub held_back: u64,
}

/// A recorded reconciliation run: who reconciled which provider report, when, and what came
/// out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReconciliationView {
    pub run_id: String,
    pub recorded_at: DateTime<Utc>,
    pub actor: order_events::Actor,
    pub outcome: order_events::reconciliation::ReconciliationOutcome,
}

/// An events-topic record that is not an event this build can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UndecodableAlarm {
    pub partition: u32,
    pub offset: u64,
    pub reason: String,
}

// ---------------------------------------------------------------------------------------------
// Money as answers show it
// ---------------------------------------------------------------------------------------------

/// A view whose amounts are shown with their currency's minor units (`"0.00"`, `"45.70"`,
/// not `"0"`, `"45.7"`), whatever scale the events and sums carried. The store's queries
/// answer every view through it, so JSON and CSV show money alike.
pub trait InMinorUnits {
    fn in_minor_units(self) -> Self;
}

impl<T: InMinorUnits> InMinorUnits for Vec<T> {
    fn in_minor_units(self) -> Self {
        self.into_iter().map(T::in_minor_units).collect()
    }
}

impl<T: InMinorUnits> InMinorUnits for Option<T> {
    fn in_minor_units(self) -> Self {
        self.map(T::in_minor_units)
    }
}

impl InMinorUnits for OrderView {
    fn in_minor_units(mut self) -> Self {
        let c = self.currency;
        for line in &mut self.lines {
            line.unit_price = line.unit_price.in_minor_units(c);
        }
        for payment in &mut self.payments {
            payment.captured = payment.captured.map(|a| a.in_minor_units(c));
        }
        for shipment in &mut self.shipments {
            shipment.freight_cost = shipment.freight_cost.in_minor_units(c);
        }
        Amount::rescale_all(
            c,
            [
                &mut self.subtotal,
                &mut self.discount_total,
                &mut self.shipping_fee,
                &mut self.total,
                &mut self.captured,
                &mut self.refunded,
            ],
        );
        self
    }
}

impl InMinorUnits for OrderSummary {
    fn in_minor_units(mut self) -> Self {
        let c = self.currency;
        Amount::rescale_all(c, [&mut self.total, &mut self.captured, &mut self.refunded]);
        self
    }
}

impl InMinorUnits for AccountView {
    fn in_minor_units(mut self) -> Self {
        let c = self.currency;
        Amount::rescale_all(c, [&mut self.debits, &mut self.credits, &mut self.balance]);
        self
    }
}

impl InMinorUnits for MerchantBalanceView {
    fn in_minor_units(mut self) -> Self {
        let c = self.currency;
        let t = &mut self.totals;
        Amount::rescale_all(
            c,
            [
                &mut t.captures,
                &mut t.commission,
                &mut t.refunds,
                &mut t.commission_reversals,
                &mut t.payouts,
                &mut self.payable,
                &mut self.held_back,
                &mut self.available,
            ],
        );
        self
    }
}

impl InMinorUnits for JournalEntry {
    fn in_minor_units(mut self) -> Self {
        for posting in &mut self.postings {
            posting.debit = posting.debit.in_minor_units(self.currency);
            posting.credit = posting.credit.in_minor_units(self.currency);
        }
        self
    }
}

impl InMinorUnits for OrderBalanceView {
    /// An order settles in one currency, its entries'.
    fn in_minor_units(self) -> Self {
        let Some(currency) = self.entries.first().map(|e| e.currency) else {
            return self;
        };
        OrderBalanceView {
            entries: self.entries.in_minor_units(),
            accounts: self
                .accounts
                .into_iter()
                .map(|(account, amount)| (account, amount.in_minor_units(currency)))
                .collect(),
        }
    }
}

impl InMinorUnits for TrialBalanceView {
    fn in_minor_units(mut self) -> Self {
        for total in &mut self.currencies {
            let c = total.currency;
            Amount::rescale_all(
                c,
                [&mut total.debits, &mut total.credits, &mut total.difference],
            );
            total.accounts = std::mem::take(&mut total.accounts).in_minor_units();
        }
        self
    }
}

impl InMinorUnits for ReportView {
    fn in_minor_units(mut self) -> Self {
        for day in &mut self.days {
            let c = day.currency;
            Amount::rescale_all(
                c,
                [
                    &mut day.gross_gmv,
                    &mut day.net_sales,
                    &mut day.average_order_value,
                ],
            );
        }
        for total in &mut self.by_currency {
            let c = total.currency;
            Amount::rescale_all(
                c,
                [
                    &mut total.gross_gmv,
                    &mut total.net_sales,
                    &mut total.average_order_value,
                ],
            );
        }
        self
    }
}

impl InMinorUnits for ReconciliationView {
    fn in_minor_units(mut self) -> Self {
        for net in &mut self.outcome.currencies {
            let c = net.currency;
            Amount::rescale_all(
                c,
                [
                    &mut net.expected_net,
                    &mut net.reported_net,
                    &mut net.variance,
                ],
            );
        }
        self
    }
}
