//! The order's commands and events, and the value types they share.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{
    CarrierId, Channel, ClaimId, CustomerId, MerchantId, OrderId, PaymentId, RefundId, ReturnId,
    ShipmentId, Sku, WarehouseId, WaveId,
};
use crate::message::message_set;
use crate::money::{Amount, Currency};
use crate::shipping::Handling;
pub use crate::shipping::ServiceLevel;

/// Derives shared by every message and value type: comparable, printable, serde, JSON Schema.
macro_rules! value_type {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )+
    };
}

/// Derives for the closed vocabularies (reasons, kinds): snake_case on the wire.
macro_rules! vocabulary {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
            #[serde(rename_all = "snake_case")]
            $item
        )+
    };
}

value_type! {
    /// One line of an order as placed.
    pub struct LineItem {
        pub sku: Sku,
        /// Units ordered; 1 to the policy's maximum.
        pub quantity: u32,
        /// Price of one unit in the order's currency, before discounts.
        pub unit_price: Amount,
    }

    /// Where the goods go.
    pub struct Address {
        pub recipient: String,
        /// Digits with an optional leading `+`; spaces, dots, hyphens and parentheses allowed.
        pub phone: String,
        pub street: String,
        pub city: String,
        pub postal_code: String,
        /// ISO 3166-1 alpha-2, upper case (`DE`, `US`).
        pub country: String,
    }

    /// A coupon or promotion taking a fixed amount off the order.
    pub struct Discount {
        /// The coupon or promotion code; applied at most once per order.
        pub code: String,
        /// Amount taken off, in the order's currency.
        pub amount: Amount,
    }

    /// A quantity of one SKU: shipment lines, return lines, shortages.
    pub struct LineQuantity {
        pub sku: Sku,
        pub quantity: u32,
    }

    /// A reservation made for one line: the SKU, where, and how much.
    pub struct ReservedLine {
        pub sku: Sku,
        pub warehouse: WarehouseId,
        pub quantity: u32,
    }

    /// The warehouse chosen to ship a SKU of the order.
    pub struct Allocation {
        pub sku: Sku,
        pub warehouse: WarehouseId,
    }

    /// A claim resolved with money back, through the order's refunds.
    pub struct ClaimRefund {
        pub refund_id: RefundId,
        pub amount: Amount,
        pub psp_reference: String,
    }

    /// A claim resolved with the goods replaced: an exchange, the claimed lines sent back and
    /// the same sent again.
    pub struct ClaimReplacement {
        pub return_id: ReturnId,
        pub lines: Vec<LineQuantity>,
    }

    /// A claim turned down, and why (told to the customer).
    pub struct ClaimRejection {
        pub reason: String,
    }
}

/// How staff resolve a claim: exactly one of a refund, a replacement, or a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimResolution {
    Refund(ClaimRefund),
    Replacement(ClaimReplacement),
    Rejected(ClaimRejection),
}

vocabulary! {
    /// What to do with an order some of whose lines could not be reserved.
    pub enum ShortResolution {
        /// Keep the order and wait for stock.
        Backorder,
        /// Drop the short quantities and sell the rest.
        Split,
        /// Cancel the whole order.
        Cancel,
    }

    pub enum CancelReason {
        CustomerRequest,
        MerchantRequest,
        StockShort,
        PaymentFailed,
        SuspectedFraud,
        Other,
        /// The parcel was refused at the door (`RefuseDelivery`).
        DeliveryRefused,
    }

    pub enum PaymentMethod {
        Card,
        Wallet,
        BankTransfer,
        CashOnDelivery,
        GiftCard,
        Other,
    }

    pub enum CarrierExceptionKind {
        Delayed,
        Lost,
        Damaged,
    }

    pub enum ReturnReason {
        Defective,
        NotAsDescribed,
        WrongItem,
        DamagedInTransit,
        ChangedMind,
        Other,
        /// The parcel was refused at the door and goes back to the sender (the return case
        /// `RefuseDelivery` opens).
        DeliveryRefused,
    }

    /// What the warehouse does with returned goods.
    pub enum ReturnDisposition {
        /// Back on the shelf: the stock item is restocked.
        Restock,
        /// Not sellable: written off.
        WriteOff,
    }

    pub enum RefundReason {
        Return,
        Cancellation,
        PriceAdjustment,
        Goodwill,
        Other,
        /// Resolving a customer's claim (`ResolveClaim`).
        Claim,
    }

    /// What a customer's claim says went wrong; every claim counts toward the order defect
    /// rate.
    pub enum ClaimKind {
        NotReceived,
        Defective,
        NotAsDescribed,
        Counterfeit,
        Damaged,
    }

    /// How the customer pays: before shipping (the default), or cash to the carrier at the door.
    #[derive(Default)]
    pub enum PaymentTerms {
        /// Paid before shipping: the order waits for its captures (`awaiting_payment`).
        #[default]
        Prepaid,
        /// Ships unpaid; the carrier collects the outstanding total at delivery
        /// (`CollectCashOnDelivery`) and remits it later.
        CashOnDelivery,
    }

    /// Who bears the freight of a parcel refused at the door.
    #[derive(Default)]
    pub enum FreightPayer {
        /// Charged to the merchant: their payable is debited, the platform's freight expense
        /// recovered.
        #[default]
        Merchant,
        /// The platform keeps the expense.
        Platform,
    }

    /// How much of a prepaid order refused at the door is due back to the customer.
    #[derive(Default)]
    pub enum RefusalRefund {
        /// Everything captured and not yet refunded.
        #[default]
        Full,
        /// The goods only: the shipping fee charged to the customer is kept.
        GoodsOnly,
    }

    /// Why an order is on hold (in exception).
    pub enum HoldReason {
        PaymentFailed,
        ParcelLost,
        ParcelDamaged,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

value_type! {
    /// Place an order imported from a sales channel. The order id is derived from the channel and
    /// external reference ([`OrderId::for_external_reference`]), so importing the same order twice
    /// is refused (`order_already_placed`).
    ///
    /// Schema version 2: `payment_terms` may ask for cash on delivery, where the policy offers
    /// it; version 1 orders were all prepaid.
    pub struct PlaceOrder {
        pub channel: Channel,
        /// The order's reference in its channel (web checkout id, marketplace order number).
        pub external_reference: String,
        pub customer_id: CustomerId,
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub lines: Vec<LineItem>,
        /// Shipping charged to the customer.
        pub shipping_fee: Amount,
        #[serde(default)]
        pub discounts: Vec<Discount>,
        pub shipping_address: Address,
        /// Prepaid unless cash on delivery is asked for (and offered: `[[policy.cash_on_delivery]]`).
        #[serde(default)]
        pub payment_terms: PaymentTerms,
        /// The delivery service the customer chose: express orders are picked first.
        #[serde(default)]
        pub service_level: ServiceLevel,
    }

    /// Change a line's unit price. Only before any payment.
    pub struct ModifyPrice {
        pub order_id: OrderId,
        pub sku: Sku,
        pub unit_price: Amount,
        pub reason: String,
    }

    /// Apply a coupon or promotion. Only before any payment.
    pub struct ApplyDiscount {
        pub order_id: OrderId,
        pub discount: Discount,
    }

    /// Cancel an order that has not shipped. Anything captured becomes due for refund.
    pub struct CancelOrder {
        pub order_id: OrderId,
        pub reason: CancelReason,
        #[serde(default)]
        pub note: String,
    }

    /// Expire an unpaid order whose payment deadline has passed (issued by the handler's timer).
    pub struct ExpireOrder {
        pub order_id: OrderId,
    }

    /// Record that every line of the order is reserved.
    pub struct ConfirmStockReserved {
        pub order_id: OrderId,
        pub reservations: Vec<ReservedLine>,
    }

    /// Record where the order process will reserve each line (issued by the process manager
    /// from the warehouse rules). Quantities not planned anywhere count as short.
    pub struct PlanReservations {
        pub order_id: OrderId,
        /// One entry per SKU and warehouse; a line may be split across warehouses.
        pub reservations: Vec<ReservedLine>,
        /// True: more reservations for the current plan, whose answers all came in and left
        /// lines short, asked of warehouses it has not asked yet. False: a new plan.
        #[serde(default)]
        pub continues: bool,
    }

    /// Record how one planned reservation went (issued by the process manager when the stock
    /// item reserved or refused).
    pub struct RecordReservation {
        pub order_id: OrderId,
        pub sku: Sku,
        pub warehouse: WarehouseId,
        /// False when the stock item refused (not enough available).
        pub reserved: bool,
        /// The units the stock item held, when it held fewer than planned (a reservation
        /// with a minimum); absent: all that was planned. Only with `reserved`.
        #[serde(default)]
        pub quantity: Option<u32>,
    }

    /// Record that some lines could not be reserved, and what to do about it.
    pub struct MarkStockShort {
        pub order_id: OrderId,
        /// Per SKU, the quantity that could not be reserved.
        pub short_lines: Vec<LineQuantity>,
        pub resolution: ShortResolution,
    }

    /// Record a captured payment. Several captures may add up to the total.
    pub struct CapturePayment {
        pub order_id: OrderId,
        pub payment_id: PaymentId,
        pub method: PaymentMethod,
        pub amount: Amount,
        pub currency: Currency,
        /// The payment provider's reference, for reconciliation.
        pub psp_reference: String,
    }

    /// Record a failed payment; the order goes on hold for someone to look at.
    pub struct FailPayment {
        pub order_id: OrderId,
        pub payment_id: PaymentId,
        pub reason: String,
    }

    /// Take an order off hold, back to the status it had.
    pub struct ReleaseHold {
        pub order_id: OrderId,
        #[serde(default)]
        pub note: String,
    }

    /// Choose the warehouse that ships each SKU.
    pub struct AllocateWarehouse {
        pub order_id: OrderId,
        pub allocations: Vec<Allocation>,
    }

    /// Dispatch a parcel with a carrier. Partial shipments are allowed.
    ///
    /// Schema version 3: a parcel packed through `PackParcel` (`shipment_id` = its
    /// `parcel_id`) ships with its packed lines and weight, so `lines` and `weight_grams` may
    /// be left out; `freight_cost` may be left out for the carrier table's rate. Version 2
    /// required all three; version 1 also required the carrier (`upcast.rs`).
    pub struct Ship {
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        /// The carrier; when absent, the first row of the carrier table that takes the parcel
        /// (destination, weight, service level, handling).
        #[serde(default)]
        pub carrier: Option<CarrierId>,
        #[serde(default)]
        pub service_level: ServiceLevel,
        pub tracking_number: String,
        /// The units in the parcel; empty: the packed parcel's.
        #[serde(default)]
        pub lines: Vec<LineQuantity>,
        /// Freight the carrier charges for the parcel, in the order's currency; absent: the
        /// carrier table's rate for its weight.
        #[serde(default)]
        pub freight_cost: Option<Amount>,
        /// Parcel weight in grams; absent: the packed parcel's measured weight.
        #[serde(default)]
        pub weight_grams: Option<u32>,
    }

    /// The units a pick wave picked for the order, issued by the order process once the wave
    /// has recorded every line of the order: what the pack station may pack.
    pub struct RecordPicks {
        pub order_id: OrderId,
        pub wave_id: WaveId,
        pub warehouse: WarehouseId,
        /// Units picked per SKU (a short pick has fewer than the wave asked; 0 is left out).
        pub lines: Vec<LineQuantity>,
    }

    /// A parcel packed at the pack station: the SKUs and quantities scanned into it and its
    /// measured weight. The contents must be what was picked for the order; a weight outside
    /// the expected weight (from the catalog) by more than the policy's tolerance lists the
    /// order as a `weight_mismatch`.
    pub struct PackParcel {
        pub order_id: OrderId,
        /// The parcel's id; `Ship` ships it under the same `shipment_id`.
        pub parcel_id: ShipmentId,
        pub lines: Vec<LineQuantity>,
        /// The measured weight in grams.
        pub weight_grams: u32,
    }

    /// Record a carrier problem. Lost and damaged parcels put the order on hold.
    pub struct RecordCarrierException {
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        pub kind: CarrierExceptionKind,
        #[serde(default)]
        pub note: String,
    }

    /// Record that a parcel was delivered.
    pub struct RecordDelivery {
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
    }

    /// The carrier collected a cash-on-delivery order's outstanding total at the door and
    /// handed the parcel over: the collection and the delivery, recorded together.
    pub struct CollectCashOnDelivery {
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        /// The collection's id, as payments are named (one per payment).
        pub payment_id: PaymentId,
        /// Must be the order's outstanding total.
        pub amount: Amount,
        pub currency: Currency,
    }

    /// The customer refused the parcel at the door. Nothing of the order was delivered; every
    /// parcel goes back to the sender (a return case, received with `ReceiveReturn`, which
    /// restocks it), and the order is cancelled: nothing to refund on cash on delivery, the
    /// policy's refund on a prepaid order. The failed delivery's freight goes to whom the
    /// policy says.
    pub struct RefuseDelivery {
        pub order_id: OrderId,
        /// The parcel at the door.
        pub shipment_id: ShipmentId,
        #[serde(default)]
        pub note: String,
    }

    /// Confirm receipt: by the customer, by staff, or by the system once the auto-confirm period
    /// after delivery has passed.
    pub struct ConfirmReceipt {
        pub order_id: OrderId,
    }

    /// Open a return case within the return window.
    pub struct RequestReturn {
        pub order_id: OrderId,
        pub return_id: ReturnId,
        pub lines: Vec<LineQuantity>,
        pub reason: ReturnReason,
    }

    /// Open an exchange: a return whose goods are replaced instead of refunded.
    pub struct RequestExchange {
        pub order_id: OrderId,
        pub return_id: ReturnId,
        pub lines: Vec<LineQuantity>,
        /// What the customer gets instead.
        pub replacement: Vec<LineQuantity>,
        pub reason: ReturnReason,
    }

    /// Record that the goods of a return case arrived at the warehouse.
    pub struct ReceiveReturn {
        pub order_id: OrderId,
        pub return_id: ReturnId,
        pub disposition: ReturnDisposition,
    }

    /// Refund money to the customer. Refunds never add up to more than was captured.
    pub struct Refund {
        pub order_id: OrderId,
        pub refund_id: RefundId,
        pub amount: Amount,
        pub reason: RefundReason,
        pub psp_reference: String,
    }

    /// Retired: record a rating and any claim in one, by any actor. Refused since reviews and
    /// claims became commands of their own (`ReviewOrder`, `OpenClaim`); kept so that older
    /// commands still decode and are answered with what to send instead.
    pub struct RecordFeedback {
        pub order_id: OrderId,
        /// 1 (worst) to 5 (best).
        pub rating: u8,
        #[serde(default)]
        pub comment: String,
        #[serde(default)]
        pub claim: Option<ClaimKind>,
    }

    /// The order's customer reviews it, once, after delivery.
    pub struct ReviewOrder {
        pub order_id: OrderId,
        /// 1 (worst) to 5 (best); 1 and 2 count toward the order defect rate.
        pub rating: u8,
        #[serde(default)]
        pub text: String,
    }

    /// The order's customer changes their review, within `[policy] review_revision_days` of
    /// the first one.
    pub struct ReviseReview {
        pub order_id: OrderId,
        pub rating: u8,
        #[serde(default)]
        pub text: String,
    }

    /// A claim about the order (by its customer, or staff on their behalf): after delivery —
    /// or, for a parcel not received, once its expected delivery has passed — and within
    /// `[policy] claim_window_days` of that.
    pub struct OpenClaim {
        pub order_id: OrderId,
        pub claim_id: ClaimId,
        pub kind: ClaimKind,
        #[serde(default)]
        pub text: String,
    }

    /// Staff resolve an open claim: a refund, a replacement, or a rejection.
    pub struct ResolveClaim {
        pub order_id: OrderId,
        pub claim_id: ClaimId,
        pub resolution: ClaimResolution,
    }
}

message_set! {
    /// Every command the order aggregate decides.
    pub enum OrderCommand {
        PlaceOrder = 3,
        ModifyPrice = 1,
        ApplyDiscount = 1,
        CancelOrder = 1,
        ExpireOrder = 1,
        PlanReservations = 2,
        RecordReservation = 2,
        ConfirmStockReserved = 1,
        MarkStockShort = 1,
        CapturePayment = 1,
        FailPayment = 1,
        ReleaseHold = 1,
        AllocateWarehouse = 1,
        Ship = 3,
        RecordCarrierException = 1,
        RecordDelivery = 1,
        CollectCashOnDelivery = 1,
        RefuseDelivery = 1,
        ConfirmReceipt = 1,
        RequestReturn = 1,
        RequestExchange = 1,
        ReceiveReturn = 1,
        Refund = 1,
        RecordFeedback = 1,
        ReviewOrder = 1,
        ReviseReview = 1,
        OpenClaim = 1,
        ResolveClaim = 1,
        RecordPicks = 1,
        PackParcel = 1,
    }
}

impl LineQuantity {
    /// `lines` as the carrier table and the catalog read them: (SKU, units).
    pub fn units(lines: &[LineQuantity]) -> Vec<(&Sku, u32)> {
        lines
            .iter()
            .map(|line| (&line.sku, line.quantity))
            .collect()
    }
}

impl OrderCommand {
    /// The order the command addresses.
    pub fn order_id(&self) -> OrderId {
        match self {
            OrderCommand::PlaceOrder(c) => {
                OrderId::for_external_reference(c.channel.as_str(), &c.external_reference)
            }
            OrderCommand::ModifyPrice(c) => c.order_id,
            OrderCommand::ApplyDiscount(c) => c.order_id,
            OrderCommand::CancelOrder(c) => c.order_id,
            OrderCommand::ExpireOrder(c) => c.order_id,
            OrderCommand::PlanReservations(c) => c.order_id,
            OrderCommand::RecordReservation(c) => c.order_id,
            OrderCommand::ConfirmStockReserved(c) => c.order_id,
            OrderCommand::MarkStockShort(c) => c.order_id,
            OrderCommand::CapturePayment(c) => c.order_id,
            OrderCommand::FailPayment(c) => c.order_id,
            OrderCommand::ReleaseHold(c) => c.order_id,
            OrderCommand::AllocateWarehouse(c) => c.order_id,
            OrderCommand::Ship(c) => c.order_id,
            OrderCommand::RecordCarrierException(c) => c.order_id,
            OrderCommand::RecordDelivery(c) => c.order_id,
            OrderCommand::CollectCashOnDelivery(c) => c.order_id,
            OrderCommand::RefuseDelivery(c) => c.order_id,
            OrderCommand::ConfirmReceipt(c) => c.order_id,
            OrderCommand::RequestReturn(c) => c.order_id,
            OrderCommand::RequestExchange(c) => c.order_id,
            OrderCommand::ReceiveReturn(c) => c.order_id,
            OrderCommand::Refund(c) => c.order_id,
            OrderCommand::RecordFeedback(c) => c.order_id,
            OrderCommand::ReviewOrder(c) => c.order_id,
            OrderCommand::ReviseReview(c) => c.order_id,
            OrderCommand::OpenClaim(c) => c.order_id,
            OrderCommand::ResolveClaim(c) => c.order_id,
            OrderCommand::RecordPicks(c) => c.order_id,
            OrderCommand::PackParcel(c) => c.order_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

value_type! {
    /// Schema version 2 adds `payment_terms`; version 1 orders were prepaid. Version 3 adds
    /// `service_level`; earlier orders were standard (`upcast.rs`).
    pub struct OrderPlaced {
        pub order_id: OrderId,
        pub channel: Channel,
        pub external_reference: String,
        pub customer_id: CustomerId,
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub lines: Vec<LineItem>,
        pub shipping_fee: Amount,
        pub discounts: Vec<Discount>,
        pub shipping_address: Address,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub placed_at: DateTime<Utc>,
        /// When the order expires if not paid in full (a cash-on-delivery order: if its stock
        /// is not reserved by then).
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub payment_due_at: DateTime<Utc>,
        pub payment_terms: PaymentTerms,
        pub service_level: ServiceLevel,
    }

    pub struct PriceModified {
        pub sku: Sku,
        pub previous_unit_price: Amount,
        pub unit_price: Amount,
        pub reason: String,
    }

    pub struct DiscountApplied {
        pub discount: Discount,
    }

    /// Schema version 2: `reason` is a closed vocabulary plus a free-text note. Version 1 had a
    /// free-text reason only; see `upcast.rs`.
    pub struct OrderCancelled {
        pub reason: CancelReason,
        pub note: String,
        /// Captured minus refunded at the moment of cancellation: what must still be refunded.
        pub refund_due: Amount,
    }

    pub struct OrderExpired {
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub expired_at: DateTime<Utc>,
    }

    pub struct ReservationsPlanned {
        pub reservations: Vec<ReservedLine>,
        /// True: added to the current plan (its earlier answers stand); false: a new plan.
        pub continues: bool,
    }

    pub struct ReservationRecorded {
        pub sku: Sku,
        pub warehouse: WarehouseId,
        /// The planned quantity this outcome is for.
        pub quantity: u32,
        /// Whether the stock item held any units.
        pub reserved: bool,
        /// The units it held: the planned quantity, fewer when it had only part of it, 0 when
        /// it refused.
        pub reserved_quantity: u32,
    }

    pub struct StockReservationConfirmed {
        pub reservations: Vec<ReservedLine>,
    }

    pub struct StockShortRecorded {
        pub short_lines: Vec<LineQuantity>,
        pub resolution: ShortResolution,
    }

    pub struct PaymentCaptured {
        pub payment_id: PaymentId,
        pub method: PaymentMethod,
        pub amount: Amount,
        pub psp_reference: String,
    }

    pub struct PaymentFailed {
        pub payment_id: PaymentId,
        pub reason: String,
    }

    pub struct HoldReleased {
        pub note: String,
    }

    pub struct WarehouseAllocated {
        pub allocations: Vec<Allocation>,
    }

    /// Units a pick wave picked for the order.
    pub struct PicksRecorded {
        pub wave_id: WaveId,
        pub warehouse: WarehouseId,
        pub lines: Vec<LineQuantity>,
    }

    /// A parcel packed and weighed, its contents verified against the picks.
    pub struct ParcelPacked {
        pub parcel_id: ShipmentId,
        pub lines: Vec<LineQuantity>,
        /// The measured weight in grams.
        pub weight_grams: u32,
        /// The contents' weight by the catalog, in grams; absent when a SKU has none.
        pub expected_weight_grams: Option<u32>,
        /// The heaviest parcel any carrier allowed for it takes, in grams; absent: no limit
        /// known.
        pub weight_limit_grams: Option<u32>,
        /// Special handling its contents need, printed on its label.
        pub handling: Vec<Handling>,
        /// The measured weight is off the expected one by more than the tolerance.
        pub weight_mismatch: bool,
        /// Heavier than `weight_limit_grams`: no allowed service takes it as it is.
        pub overweight: bool,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub packed_at: DateTime<Utc>,
    }

    pub struct ShipmentDispatched {
        pub shipment_id: ShipmentId,
        pub carrier: CarrierId,
        pub tracking_number: String,
        pub lines: Vec<LineQuantity>,
        pub freight_cost: Amount,
        pub weight_grams: u32,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub dispatched_at: DateTime<Utc>,
    }

    pub struct CarrierExceptionRecorded {
        pub shipment_id: ShipmentId,
        pub kind: CarrierExceptionKind,
        pub note: String,
    }

    pub struct ShipmentDelivered {
        pub shipment_id: ShipmentId,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub delivered_at: DateTime<Utc>,
    }

    /// The carrier collected a cash-on-delivery order's total at the door; the parcel's
    /// `ShipmentDelivered` is recorded with it. The carrier owes the cash until it remits it.
    pub struct CashCollected {
        pub payment_id: PaymentId,
        pub shipment_id: ShipmentId,
        pub carrier: CarrierId,
        pub tracking_number: String,
        pub amount: Amount,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub collected_at: DateTime<Utc>,
    }

    /// The order's parcels were refused at the door and go back to the sender as the return
    /// case `return_id`; the `OrderCancelled` recorded with it says what is due back.
    pub struct DeliveryRefused {
        /// The parcel at the door.
        pub shipment_id: ShipmentId,
        /// The return-to-sender case (`rts-<shipment_id>`); `ReceiveReturn` records its arrival.
        pub return_id: ReturnId,
        /// Every unit shipped, all coming back.
        pub lines: Vec<LineQuantity>,
        pub note: String,
        /// Freight of the failed delivery: what the refused parcels were charged at dispatch.
        pub freight: Amount,
        /// Who bears it, per the policy.
        pub freight_payer: FreightPayer,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub refused_at: DateTime<Utc>,
    }

    pub struct ReceiptConfirmed {
        /// True when the system confirmed after the auto-confirm period.
        pub automatic: bool,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub confirmed_at: DateTime<Utc>,
    }

    pub struct ReturnRequested {
        pub return_id: ReturnId,
        pub lines: Vec<LineQuantity>,
        pub reason: ReturnReason,
    }

    pub struct ExchangeRequested {
        pub return_id: ReturnId,
        pub lines: Vec<LineQuantity>,
        pub replacement: Vec<LineQuantity>,
        pub reason: ReturnReason,
    }

    pub struct ReturnReceived {
        pub return_id: ReturnId,
        pub disposition: ReturnDisposition,
        /// The lines of the return case, repeated so consumers (restocking) need no lookup.
        pub lines: Vec<LineQuantity>,
    }

    pub struct RefundIssued {
        pub refund_id: RefundId,
        pub amount: Amount,
        pub reason: RefundReason,
        pub psp_reference: String,
    }

    /// Recorded by the retired `RecordFeedback`; logs written before reviews and claims keep
    /// it. Read as the order's review (which cannot be revised: it has no date) and, with a
    /// claim, a claim that was never resolved through `ResolveClaim`.
    pub struct FeedbackRecorded {
        pub rating: u8,
        pub comment: String,
        pub claim: Option<ClaimKind>,
    }

    pub struct ReviewRecorded {
        pub rating: u8,
        pub text: String,
        pub reviewed_at: DateTime<Utc>,
    }

    pub struct ReviewRevised {
        pub rating: u8,
        pub text: String,
        pub revised_at: DateTime<Utc>,
    }

    pub struct ClaimOpened {
        pub claim_id: ClaimId,
        pub kind: ClaimKind,
        pub text: String,
        pub opened_at: DateTime<Utc>,
    }

    /// A claim resolved; a refund's `RefundIssued`, or a replacement's `ExchangeRequested`,
    /// is recorded with it.
    pub struct ClaimResolved {
        pub claim_id: ClaimId,
        pub resolution: ClaimResolution,
        pub resolved_at: DateTime<Utc>,
    }
}

message_set! {
    /// Every event of the order aggregate, with its current schema version.
    pub enum OrderEvent {
        OrderPlaced = 3,
        PriceModified = 1,
        DiscountApplied = 1,
        OrderCancelled = 2,
        OrderExpired = 1,
        ReservationsPlanned = 2,
        ReservationRecorded = 2,
        StockReservationConfirmed = 1,
        StockShortRecorded = 1,
        PaymentCaptured = 1,
        PaymentFailed = 1,
        HoldReleased = 1,
        WarehouseAllocated = 1,
        ShipmentDispatched = 1,
        CarrierExceptionRecorded = 1,
        ShipmentDelivered = 1,
        ReceiptConfirmed = 1,
        ReturnRequested = 1,
        ExchangeRequested = 1,
        ReturnReceived = 1,
        RefundIssued = 1,
        FeedbackRecorded = 1,
        ReviewRecorded = 1,
        ReviewRevised = 1,
        ClaimOpened = 1,
        ClaimResolved = 1,
        CashCollected = 1,
        DeliveryRefused = 1,
        PicksRecorded = 1,
        ParcelPacked = 1,
    }
}
