//! Upcasters: read events written at an older schema version as the current type.
//!
//! Stored events are never rewritten (their hashes cover the bytes as stored). Instead, when a
//! type's shape changes, its version number goes up and the old shape is kept here as a frozen
//! struct with a function that turns it into the current one. Decoding dispatches on the
//! (type name, version) pair found in the record, so an upcaster serves the binary and the
//! JSON form alike.
//!
//! ## Adding version N+1 of an event type
//! 1. Copy the type's current struct here as `<Type>V<N>`, unchanged, and never edit it again.
//! 2. Change the type in its aggregate's `messages.rs` and raise its version in the
//!    `message_set!` list to N+1.
//! 3. Write `fn <type>_v<N>(old: <Type>V<N>) -> <Type>` and add a `(type, N)` arm to both
//!    functions below.
//! 4. Run the tests with `LEDGER_BLESS=1` once to add the version N+1 golden fixtures and
//!    regenerate `schemas/`; the version N fixtures stay and must still decode.
//!
//! Commands follow the same recipe: services may keep publishing an older version, and the
//! handler reads it as the current type.
//!
//! The upcasters so far: `OrderCancelled` version 1 had a free-text `reason`; version 2 has
//! a [`CancelReason`] code and keeps the text as `note`. The `Ship` command version 1 required
//! a carrier; version 2 may leave it to the carrier rules and names a service level; version 3
//! ships a packed parcel with its packed lines and weight, and may leave the freight to the
//! carrier table's rates.
//! Reservations became graded: `ReserveStock` version 2 may name a `minimum` (hold what is
//! there, at least that many), `RecordReservation` version 2 says how many units were held,
//! and `ReservationRecorded` version 2 records them as `reserved_quantity` — version 1 was all
//! or nothing, so it held the planned quantity or none. `PlanReservations` and
//! `ReservationsPlanned` version 2 may continue a plan (`continues`); version 1 always made a
//! new one.
//!
//! Cash on delivery added payment terms: `OrderPlaced` version 2 records `payment_terms`, and
//! the `PlaceOrder` command version 2 may ask for them; every version 1 order was prepaid.
//! Pick waves added the order's service level (express orders are picked first): `PlaceOrder`
//! and `OrderPlaced` version 3 carry `service_level`; every earlier order was standard.
//! Picked units wait at the pack station until their order ships, out of the bin a cycle count
//! counts: `FinishPicks` and `PicksFinished` version 2 carry them by order (`orders`,
//! `staged`); version 1 staged nothing, as counts then took the pack station's units for the
//! bin's.
//!
//! Not every change is a new version. Reviews and claims replaced `RecordFeedback` with
//! commands and events of their own (`ReviewOrder`, `ReviseReview`, `OpenClaim`,
//! `ResolveClaim`; `ReviewRecorded`, `ReviewRevised`, `ClaimOpened`, `ClaimResolved`, all
//! version 1). One event cannot be upcast into two, and the old one lacked what the new ones
//! carry (a date, a claim id), so `FeedbackRecorded` stays a type of its own that still
//! decodes and folds: as the order's review, undated and so not revisable, and with its claim
//! as a claim that counts toward the defect rate and is never resolved. The command is
//! refused as `command_retired`, naming its replacements.

use serde::{Deserialize, Serialize};

use crate::codec::error::DecodeError;
use crate::codec::payload::{decode_payload, parse, Located};
use crate::envelope::{Command, Event};
use crate::ids::{
    CarrierId, Channel, CustomerId, MerchantId, OrderId, ShipmentId, Sku, StockKey, WarehouseId,
    WaveId,
};
use crate::money::{Amount, Currency};
use crate::order::{
    Address, CancelReason, Discount, LineItem, LineQuantity, OrderCancelled, OrderCommand,
    OrderEvent, OrderPlaced, PaymentTerms, PlaceOrder, PlanReservations, RecordReservation,
    ReservationRecorded, ReservationsPlanned, ReservedLine, ServiceLevel, Ship,
};
use crate::stock::{FinishPicks, PicksFinished, ReserveStock, StockCommand, StockEvent};

/// `OrderCancelled` at schema version 1. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelledV1 {
    /// Free text, as typed by whoever cancelled.
    pub reason: String,
    pub refund_due: Amount,
}

/// Maps the version 1 free text onto the version 2 vocabulary, keeping the text as the note.
pub fn order_cancelled_v1(old: OrderCancelledV1) -> OrderCancelled {
    let normalized = old
        .reason
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_");
    let reason = match normalized.as_str() {
        "customer_request" | "customer_requested" | "customer" => CancelReason::CustomerRequest,
        "merchant_request" | "merchant" => CancelReason::MerchantRequest,
        "stock_short" | "out_of_stock" => CancelReason::StockShort,
        "payment_failed" => CancelReason::PaymentFailed,
        "fraud" | "suspected_fraud" => CancelReason::SuspectedFraud,
        _ => CancelReason::Other,
    };
    OrderCancelled {
        reason,
        note: old.reason,
        refund_due: old.refund_due,
    }
}

/// Decodes a binary payload of an older version; `None` when no upcaster handles the pair.
pub(crate) fn decode_legacy_payload(
    type_name: &str,
    version: u16,
    bytes: &[u8],
) -> Option<Result<Event, DecodeError>> {
    match (type_name, version) {
        ("OrderCancelled", 1) => Some(
            decode_payload::<OrderCancelledV1>("OrderCancelled v1 payload", bytes)
                .map(|old| OrderEvent::OrderCancelled(order_cancelled_v1(old)).into()),
        ),
        ("ReservationRecorded", 1) => Some(
            decode_payload::<ReservationRecordedV1>("ReservationRecorded v1 payload", bytes)
                .map(|old| OrderEvent::ReservationRecorded(reservation_recorded_v1(old)).into()),
        ),
        ("ReservationsPlanned", 1) => Some(
            decode_payload::<ReservationsPlannedV1>("ReservationsPlanned v1 payload", bytes)
                .map(|old| OrderEvent::ReservationsPlanned(reservations_planned_v1(old)).into()),
        ),
        ("OrderPlaced", 1) => Some(
            decode_payload::<OrderPlacedV1>("OrderPlaced v1 payload", bytes)
                .map(|old| OrderEvent::OrderPlaced(order_placed_v1(old)).into()),
        ),
        ("OrderPlaced", 2) => Some(
            decode_payload::<OrderPlacedV2>("OrderPlaced v2 payload", bytes)
                .map(|old| OrderEvent::OrderPlaced(order_placed_v2(old)).into()),
        ),
        ("PicksFinished", 1) => Some(
            decode_payload::<PicksFinishedV1>("PicksFinished v1 payload", bytes)
                .map(|old| StockEvent::PicksFinished(picks_finished_v1(old)).into()),
        ),
        _ => None,
    }
}

/// Decodes a JSON payload of an older version; `None` when no upcaster handles the pair.
pub(crate) fn decode_legacy_json(
    type_name: &str,
    version: u16,
    payload: &str,
) -> Option<Result<Event, Located>> {
    match (type_name, version) {
        ("OrderCancelled", 1) => Some(
            parse::<OrderCancelledV1>(payload.as_bytes())
                .map(|old| OrderEvent::OrderCancelled(order_cancelled_v1(old)).into()),
        ),
        ("ReservationRecorded", 1) => Some(
            parse::<ReservationRecordedV1>(payload.as_bytes())
                .map(|old| OrderEvent::ReservationRecorded(reservation_recorded_v1(old)).into()),
        ),
        ("ReservationsPlanned", 1) => Some(
            parse::<ReservationsPlannedV1>(payload.as_bytes())
                .map(|old| OrderEvent::ReservationsPlanned(reservations_planned_v1(old)).into()),
        ),
        ("OrderPlaced", 1) => Some(
            parse::<OrderPlacedV1>(payload.as_bytes())
                .map(|old| OrderEvent::OrderPlaced(order_placed_v1(old)).into()),
        ),
        ("OrderPlaced", 2) => Some(
            parse::<OrderPlacedV2>(payload.as_bytes())
                .map(|old| OrderEvent::OrderPlaced(order_placed_v2(old)).into()),
        ),
        ("PicksFinished", 1) => Some(
            parse::<PicksFinishedV1>(payload.as_bytes())
                .map(|old| StockEvent::PicksFinished(picks_finished_v1(old)).into()),
        ),
        _ => None,
    }
}

/// The stored bytes of an older version's payload written as JSON (in that version's frozen
/// shape): what the record held, so its hash can be checked; `None` for a pair no upcaster
/// handles.
pub(crate) fn encode_legacy_json(
    type_name: &str,
    version: u16,
    payload: &str,
) -> Option<Result<Vec<u8>, Located>> {
    match (type_name, version) {
        ("OrderCancelled", 1) => Some(
            parse::<OrderCancelledV1>(payload.as_bytes())
                .map(|old| encode_order_cancelled_v1(&old)),
        ),
        ("ReservationRecorded", 1) => Some(
            parse::<ReservationRecordedV1>(payload.as_bytes())
                .map(|old| encode_reservation_recorded_v1(&old)),
        ),
        ("ReservationsPlanned", 1) => Some(
            parse::<ReservationsPlannedV1>(payload.as_bytes())
                .map(|old| encode_reservations_planned_v1(&old)),
        ),
        ("OrderPlaced", 1) => {
            Some(parse::<OrderPlacedV1>(payload.as_bytes()).map(|old| encode_order_placed_v1(&old)))
        }
        ("OrderPlaced", 2) => {
            Some(parse::<OrderPlacedV2>(payload.as_bytes()).map(|old| encode_order_placed_v2(&old)))
        }
        ("PicksFinished", 1) => Some(
            parse::<PicksFinishedV1>(payload.as_bytes()).map(|old| encode_picks_finished_v1(&old)),
        ),
        _ => None,
    }
}

/// The JSON form of an older version's stored payload, in that version's frozen shape; `None`
/// for a pair no upcaster handles or bytes that are not such a payload.
pub(crate) fn legacy_json(
    type_name: &str,
    version: u16,
    payload: &[u8],
) -> Option<serde_json::Value> {
    match (type_name, version) {
        ("OrderCancelled", 1) => decode_payload::<OrderCancelledV1>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        ("ReservationRecorded", 1) => decode_payload::<ReservationRecordedV1>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        ("ReservationsPlanned", 1) => decode_payload::<ReservationsPlannedV1>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        ("OrderPlaced", 1) => decode_payload::<OrderPlacedV1>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        ("OrderPlaced", 2) => decode_payload::<OrderPlacedV2>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        ("PicksFinished", 1) => decode_payload::<PicksFinishedV1>(type_name, payload)
            .ok()
            .and_then(|old| serde_json::to_value(old).ok()),
        _ => None,
    }
}

/// Encodes a version 1 payload: for the golden fixtures and the upcaster tests, which must
/// produce what a version 1 build wrote.
pub fn encode_order_cancelled_v1(old: &OrderCancelledV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// `ReservationRecorded` at schema version 1, when reservations were all or nothing. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationRecordedV1 {
    pub sku: Sku,
    pub warehouse: WarehouseId,
    pub quantity: u32,
    pub reserved: bool,
}

/// A version 1 outcome held the planned quantity or nothing.
pub fn reservation_recorded_v1(old: ReservationRecordedV1) -> ReservationRecorded {
    ReservationRecorded {
        reserved_quantity: if old.reserved { old.quantity } else { 0 },
        sku: old.sku,
        warehouse: old.warehouse,
        quantity: old.quantity,
        reserved: old.reserved,
    }
}

/// Encodes a version 1 `ReservationRecorded` payload, as a version 1 build wrote it.
pub fn encode_reservation_recorded_v1(old: &ReservationRecordedV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// `ReservationsPlanned` at schema version 1, when every plan was a new one. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationsPlannedV1 {
    pub reservations: Vec<ReservedLine>,
}

/// A version 1 plan was always a new plan.
pub fn reservations_planned_v1(old: ReservationsPlannedV1) -> ReservationsPlanned {
    ReservationsPlanned {
        reservations: old.reservations,
        continues: false,
    }
}

/// Encodes a version 1 `ReservationsPlanned` payload, as a version 1 build wrote it.
pub fn encode_reservations_planned_v1(old: &ReservationsPlannedV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// The `PlanReservations` command at schema version 1: always a new plan. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanReservationsV1 {
    pub order_id: OrderId,
    pub reservations: Vec<ReservedLine>,
}

/// A version 1 plan was always a new plan.
pub fn plan_reservations_v1(old: PlanReservationsV1) -> PlanReservations {
    PlanReservations {
        order_id: old.order_id,
        reservations: old.reservations,
        continues: false,
    }
}

/// The `ReserveStock` command at schema version 1: all or nothing. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveStockV1 {
    pub item: StockKey,
    pub order_id: OrderId,
    pub quantity: u32,
    #[serde(deserialize_with = "crate::wire::time")]
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A version 1 reservation has no minimum: all of its quantity or nothing.
pub fn reserve_stock_v1(old: ReserveStockV1) -> ReserveStock {
    ReserveStock {
        item: old.item,
        order_id: old.order_id,
        quantity: old.quantity,
        expires_at: old.expires_at,
        minimum: None,
    }
}

/// The `RecordReservation` command at schema version 1: reserved or not, no quantity. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordReservationV1 {
    pub order_id: OrderId,
    pub sku: Sku,
    pub warehouse: WarehouseId,
    pub reserved: bool,
}

/// A version 1 outcome held all that was planned, or nothing.
pub fn record_reservation_v1(old: RecordReservationV1) -> RecordReservation {
    RecordReservation {
        order_id: old.order_id,
        sku: old.sku,
        warehouse: old.warehouse,
        reserved: old.reserved,
        quantity: None,
    }
}

/// The `Ship` command at schema version 1. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipV1 {
    pub order_id: OrderId,
    pub shipment_id: ShipmentId,
    pub carrier: CarrierId,
    pub tracking_number: String,
    pub lines: Vec<LineQuantity>,
    pub freight_cost: Amount,
    pub weight_grams: u32,
}

/// A version 1 shipment always named its carrier, at the standard service level.
pub fn ship_v1(old: ShipV1) -> Ship {
    ship_v2(ShipV2 {
        order_id: old.order_id,
        shipment_id: old.shipment_id,
        carrier: Some(old.carrier),
        service_level: ServiceLevel::Standard,
        tracking_number: old.tracking_number,
        lines: old.lines,
        freight_cost: old.freight_cost,
        weight_grams: old.weight_grams,
    })
}

/// The `Ship` command at schema version 2, before packed parcels and freight rates. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipV2 {
    pub order_id: OrderId,
    pub shipment_id: ShipmentId,
    #[serde(default)]
    pub carrier: Option<CarrierId>,
    #[serde(default)]
    pub service_level: ServiceLevel,
    pub tracking_number: String,
    pub lines: Vec<LineQuantity>,
    pub freight_cost: Amount,
    pub weight_grams: u32,
}

/// A version 2 shipment named its lines, weight and freight.
pub fn ship_v2(old: ShipV2) -> Ship {
    Ship {
        order_id: old.order_id,
        shipment_id: old.shipment_id,
        carrier: old.carrier,
        service_level: old.service_level,
        tracking_number: old.tracking_number,
        lines: old.lines,
        freight_cost: Some(old.freight_cost),
        weight_grams: Some(old.weight_grams),
    }
}

/// `OrderPlaced` at schema version 1, before payment terms: every order was prepaid. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedV1 {
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
    pub placed_at: chrono::DateTime<chrono::Utc>,
    #[serde(deserialize_with = "crate::wire::time")]
    pub payment_due_at: chrono::DateTime<chrono::Utc>,
}

/// A version 1 order was prepaid.
pub fn order_placed_v1(old: OrderPlacedV1) -> OrderPlaced {
    order_placed_v2(OrderPlacedV2 {
        order_id: old.order_id,
        channel: old.channel,
        external_reference: old.external_reference,
        customer_id: old.customer_id,
        merchant_id: old.merchant_id,
        currency: old.currency,
        lines: old.lines,
        shipping_fee: old.shipping_fee,
        discounts: old.discounts,
        shipping_address: old.shipping_address,
        placed_at: old.placed_at,
        payment_due_at: old.payment_due_at,
        payment_terms: PaymentTerms::Prepaid,
    })
}

/// `OrderPlaced` at schema version 2, before the order's service level. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedV2 {
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
    pub placed_at: chrono::DateTime<chrono::Utc>,
    #[serde(deserialize_with = "crate::wire::time")]
    pub payment_due_at: chrono::DateTime<chrono::Utc>,
    pub payment_terms: PaymentTerms,
}

/// A version 2 order shipped at the standard service level.
pub fn order_placed_v2(old: OrderPlacedV2) -> OrderPlaced {
    OrderPlaced {
        order_id: old.order_id,
        channel: old.channel,
        external_reference: old.external_reference,
        customer_id: old.customer_id,
        merchant_id: old.merchant_id,
        currency: old.currency,
        lines: old.lines,
        shipping_fee: old.shipping_fee,
        discounts: old.discounts,
        shipping_address: old.shipping_address,
        placed_at: old.placed_at,
        payment_due_at: old.payment_due_at,
        payment_terms: old.payment_terms,
        service_level: ServiceLevel::Standard,
    }
}

/// Encodes a version 2 `OrderPlaced` payload, as a version 2 build wrote it.
pub fn encode_order_placed_v2(old: &OrderPlacedV2) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// Encodes a version 1 `OrderPlaced` payload, as a version 1 build wrote it.
pub fn encode_order_placed_v1(old: &OrderPlacedV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// The `PlaceOrder` command at schema version 1, before payment terms. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderV1 {
    pub channel: Channel,
    pub external_reference: String,
    pub customer_id: CustomerId,
    pub merchant_id: MerchantId,
    pub currency: Currency,
    pub lines: Vec<LineItem>,
    pub shipping_fee: Amount,
    #[serde(default)]
    pub discounts: Vec<Discount>,
    pub shipping_address: Address,
}

/// A version 1 placement asked for a prepaid order.
pub fn place_order_v1(old: PlaceOrderV1) -> PlaceOrder {
    place_order_v2(PlaceOrderV2 {
        channel: old.channel,
        external_reference: old.external_reference,
        customer_id: old.customer_id,
        merchant_id: old.merchant_id,
        currency: old.currency,
        lines: old.lines,
        shipping_fee: old.shipping_fee,
        discounts: old.discounts,
        shipping_address: old.shipping_address,
        payment_terms: PaymentTerms::Prepaid,
    })
}

/// The `PlaceOrder` command at schema version 2, before the service level. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderV2 {
    pub channel: Channel,
    pub external_reference: String,
    pub customer_id: CustomerId,
    pub merchant_id: MerchantId,
    pub currency: Currency,
    pub lines: Vec<LineItem>,
    pub shipping_fee: Amount,
    #[serde(default)]
    pub discounts: Vec<Discount>,
    pub shipping_address: Address,
    #[serde(default)]
    pub payment_terms: PaymentTerms,
}

/// A version 2 placement shipped at the standard service level.
pub fn place_order_v2(old: PlaceOrderV2) -> PlaceOrder {
    PlaceOrder {
        channel: old.channel,
        external_reference: old.external_reference,
        customer_id: old.customer_id,
        merchant_id: old.merchant_id,
        currency: old.currency,
        lines: old.lines,
        shipping_fee: old.shipping_fee,
        discounts: old.discounts,
        shipping_address: old.shipping_address,
        payment_terms: old.payment_terms,
        service_level: ServiceLevel::Standard,
    }
}

/// `(type name, version, schema maker)` of every command shape an older build wrote that this
/// build still reads: the published schemas accept them, as the decoder does.
pub fn legacy_command_schemas() -> Vec<(&'static str, u16, crate::message::SchemaMaker)> {
    fn maker<T: schemars::JsonSchema>(
        generator: &mut schemars::SchemaGenerator,
    ) -> schemars::Schema {
        generator.subschema_for::<T>()
    }
    vec![
        ("PlanReservations", 1, maker::<PlanReservationsV1>),
        ("ReserveStock", 1, maker::<ReserveStockV1>),
        ("RecordReservation", 1, maker::<RecordReservationV1>),
        ("Ship", 1, maker::<ShipV1>),
        ("Ship", 2, maker::<ShipV2>),
        ("PlaceOrder", 1, maker::<PlaceOrderV1>),
        ("PlaceOrder", 2, maker::<PlaceOrderV2>),
        ("FinishPicks", 1, maker::<FinishPicksV1>),
    ]
}

/// Decodes a binary command payload of an older version; `None` when no upcaster handles it.
pub(crate) fn decode_legacy_command_payload(
    type_name: &str,
    version: u16,
    bytes: &[u8],
) -> Option<Result<Command, DecodeError>> {
    match (type_name, version) {
        ("Ship", 1) => Some(
            decode_payload::<ShipV1>("Ship v1 payload", bytes)
                .map(|old| OrderCommand::Ship(ship_v1(old)).into()),
        ),
        ("Ship", 2) => Some(
            decode_payload::<ShipV2>("Ship v2 payload", bytes)
                .map(|old| OrderCommand::Ship(ship_v2(old)).into()),
        ),
        ("ReserveStock", 1) => Some(
            decode_payload::<ReserveStockV1>("ReserveStock v1 payload", bytes)
                .map(|old| StockCommand::ReserveStock(reserve_stock_v1(old)).into()),
        ),
        ("RecordReservation", 1) => Some(
            decode_payload::<RecordReservationV1>("RecordReservation v1 payload", bytes)
                .map(|old| OrderCommand::RecordReservation(record_reservation_v1(old)).into()),
        ),
        ("PlanReservations", 1) => Some(
            decode_payload::<PlanReservationsV1>("PlanReservations v1 payload", bytes)
                .map(|old| OrderCommand::PlanReservations(plan_reservations_v1(old)).into()),
        ),
        ("PlaceOrder", 1) => Some(
            decode_payload::<PlaceOrderV1>("PlaceOrder v1 payload", bytes)
                .map(|old| OrderCommand::PlaceOrder(place_order_v1(old)).into()),
        ),
        ("PlaceOrder", 2) => Some(
            decode_payload::<PlaceOrderV2>("PlaceOrder v2 payload", bytes)
                .map(|old| OrderCommand::PlaceOrder(place_order_v2(old)).into()),
        ),
        ("FinishPicks", 1) => Some(
            decode_payload::<FinishPicksV1>("FinishPicks v1 payload", bytes)
                .map(|old| StockCommand::FinishPicks(finish_picks_v1(old)).into()),
        ),
        _ => None,
    }
}

/// Decodes a JSON command payload of an older version; `None` when no upcaster handles it.
pub(crate) fn decode_legacy_command_json(
    type_name: &str,
    version: u16,
    payload: &str,
) -> Option<Result<Command, Located>> {
    match (type_name, version) {
        ("Ship", 1) => Some(
            parse::<ShipV1>(payload.as_bytes()).map(|old| OrderCommand::Ship(ship_v1(old)).into()),
        ),
        ("Ship", 2) => Some(
            parse::<ShipV2>(payload.as_bytes()).map(|old| OrderCommand::Ship(ship_v2(old)).into()),
        ),
        ("ReserveStock", 1) => Some(
            parse::<ReserveStockV1>(payload.as_bytes())
                .map(|old| StockCommand::ReserveStock(reserve_stock_v1(old)).into()),
        ),
        ("RecordReservation", 1) => Some(
            parse::<RecordReservationV1>(payload.as_bytes())
                .map(|old| OrderCommand::RecordReservation(record_reservation_v1(old)).into()),
        ),
        ("PlanReservations", 1) => Some(
            parse::<PlanReservationsV1>(payload.as_bytes())
                .map(|old| OrderCommand::PlanReservations(plan_reservations_v1(old)).into()),
        ),
        ("PlaceOrder", 1) => Some(
            parse::<PlaceOrderV1>(payload.as_bytes())
                .map(|old| OrderCommand::PlaceOrder(place_order_v1(old)).into()),
        ),
        ("PlaceOrder", 2) => Some(
            parse::<PlaceOrderV2>(payload.as_bytes())
                .map(|old| OrderCommand::PlaceOrder(place_order_v2(old)).into()),
        ),
        ("FinishPicks", 1) => Some(
            parse::<FinishPicksV1>(payload.as_bytes())
                .map(|old| StockCommand::FinishPicks(finish_picks_v1(old)).into()),
        ),
        _ => None,
    }
}

/// `PicksFinished` at schema version 1, before picked units were staged by order. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PicksFinishedV1 {
    pub wave_id: WaveId,
    pub quantity: u64,
    pub picked_quantity: u64,
}

/// A version 1 finish staged nothing: its units stayed in the bin by the book.
pub fn picks_finished_v1(old: PicksFinishedV1) -> PicksFinished {
    PicksFinished {
        wave_id: old.wave_id,
        quantity: old.quantity,
        picked_quantity: old.picked_quantity,
        staged: Vec::new(),
    }
}

/// Encodes a version 1 `PicksFinished` payload, as a version 1 build wrote it.
pub fn encode_picks_finished_v1(old: &PicksFinishedV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

/// The `FinishPicks` command at schema version 1: the units picked, not by order. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishPicksV1 {
    pub item: StockKey,
    pub wave_id: WaveId,
    pub picked_quantity: u64,
}

/// A version 1 finish names no orders: nothing is staged.
pub fn finish_picks_v1(old: FinishPicksV1) -> FinishPicks {
    FinishPicks {
        item: old.item,
        wave_id: old.wave_id,
        picked_quantity: old.picked_quantity,
        orders: Vec::new(),
    }
}

/// Encodes a version 1 `Ship` payload, as a version 1 publisher wrote it (for tests).
pub fn encode_ship_v1(old: &ShipV1) -> Vec<u8> {
    crate::codec::payload::encode_payload(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::samples;

    #[test]
    fn a_version_1_binary_shipment_reads_as_version_2() {
        let old = ShipV1 {
            order_id: samples::order_id(),
            shipment_id: ShipmentId::from("S1"),
            carrier: CarrierId::from("dhl"),
            tracking_number: "T1".to_owned(),
            lines: vec![samples::line_quantity(samples::MUG, 1)],
            freight_cost: samples::amount("3.20"),
            weight_grams: 500,
        };
        let decoded = decode_legacy_command_payload("Ship", 1, &encode_ship_v1(&old))
            .expect("an upcaster for Ship v1")
            .unwrap();
        assert_eq!(decoded, OrderCommand::Ship(ship_v1(old)).into());
        assert!(decode_legacy_command_payload("Ship", 0, &[]).is_none());
    }

    #[test]
    fn version_1_reservations_read_as_all_or_nothing_in_both_formats() {
        let old = ReserveStockV1 {
            item: samples::stock_key(),
            order_id: samples::order_id(),
            quantity: 3,
            expires_at: crate::testkit::at(30),
        };
        let binary = crate::codec::payload::encode_payload(&old);
        let json = serde_json::to_string(&old).unwrap();
        let expected: Command = StockCommand::ReserveStock(reserve_stock_v1(old)).into();
        let Command::Stock(StockCommand::ReserveStock(upcast)) = &expected else {
            unreachable!()
        };
        assert_eq!(upcast.minimum, None, "version 1 held all or nothing");
        let from_binary = decode_legacy_command_payload("ReserveStock", 1, &binary);
        assert_eq!(from_binary.unwrap().unwrap(), expected);
        let from_json = decode_legacy_command_json("ReserveStock", 1, &json);
        assert_eq!(from_json.unwrap().ok(), Some(expected));

        let old = RecordReservationV1 {
            order_id: samples::order_id(),
            sku: Sku::from(samples::MUG),
            warehouse: WarehouseId::from(samples::WAREHOUSE),
            reserved: true,
        };
        let binary = crate::codec::payload::encode_payload(&old);
        let expected: Command = OrderCommand::RecordReservation(record_reservation_v1(old)).into();
        let from_binary = decode_legacy_command_payload("RecordReservation", 1, &binary);
        assert_eq!(from_binary.unwrap().unwrap(), expected);

        let old = PlanReservationsV1 {
            order_id: samples::order_id(),
            reservations: samples::reservations(),
        };
        let binary = crate::codec::payload::encode_payload(&old);
        let expected: Command = OrderCommand::PlanReservations(plan_reservations_v1(old)).into();
        let from_binary = decode_legacy_command_payload("PlanReservations", 1, &binary);
        assert_eq!(from_binary.unwrap().unwrap(), expected);
    }

    #[test]
    fn a_version_1_finish_of_picks_stages_nothing_in_both_formats() {
        let old = FinishPicksV1 {
            item: samples::stock_key(),
            wave_id: WaveId::from("W-1"),
            picked_quantity: 3,
        };
        let binary = crate::codec::payload::encode_payload(&old);
        let json = serde_json::to_string(&old).unwrap();
        let expected: Command = StockCommand::FinishPicks(finish_picks_v1(old)).into();
        let Command::Stock(StockCommand::FinishPicks(upcast)) = &expected else {
            unreachable!()
        };
        assert!(upcast.orders.is_empty(), "version 1 named no orders");
        let from_binary = decode_legacy_command_payload("FinishPicks", 1, &binary);
        assert_eq!(from_binary.unwrap().unwrap(), expected);
        let from_json = decode_legacy_command_json("FinishPicks", 1, &json);
        assert_eq!(from_json.unwrap().ok(), Some(expected));
    }

    #[test]
    fn a_version_1_outcome_held_the_planned_quantity_or_none() {
        let outcome = |reserved| ReservationRecordedV1 {
            sku: Sku::from(samples::MUG),
            warehouse: WarehouseId::from(samples::WAREHOUSE),
            quantity: 4,
            reserved,
        };
        assert_eq!(reservation_recorded_v1(outcome(true)).reserved_quantity, 4);
        assert_eq!(reservation_recorded_v1(outcome(false)).reserved_quantity, 0);
    }
}
