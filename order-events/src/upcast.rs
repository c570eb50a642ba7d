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
//! a carrier; version 2 may leave it to the carrier rules and names a service level.

use serde::{Deserialize, Serialize};

use crate::codec::json::{parse, Located};
use crate::codec::{decode_payload, DecodeError};
use crate::envelope::{Command, Event};
use crate::ids::{CarrierId, OrderId, ShipmentId};
use crate::money::Amount;
use crate::order::{
    CancelReason, LineQuantity, OrderCancelled, OrderCommand, OrderEvent, ServiceLevel, Ship,
};

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
        _ => None,
    }
}

/// Encodes a version 1 payload: for the golden fixtures and the upcaster tests, which must
/// produce what a version 1 build wrote.
pub fn encode_order_cancelled_v1(old: &OrderCancelledV1) -> Vec<u8> {
    crate::codec::encode_payload(old)
}

/// The `Ship` command at schema version 1. Frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    Ship {
        order_id: old.order_id,
        shipment_id: old.shipment_id,
        carrier: Some(old.carrier),
        service_level: ServiceLevel::Standard,
        tracking_number: old.tracking_number,
        lines: old.lines,
        freight_cost: old.freight_cost,
        weight_grams: old.weight_grams,
    }
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
        _ => None,
    }
}

/// Encodes a version 1 `Ship` payload, as a version 1 publisher wrote it (for tests).
pub fn encode_ship_v1(old: &ShipV1) -> Vec<u8> {
    crate::codec::encode_payload(old)
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
}
