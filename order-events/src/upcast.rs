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
//! The one upcaster so far: `OrderCancelled` version 1 had a free-text `reason`; version 2 has
//! a [`CancelReason`] code and keeps the text as `note`.

use serde::{Deserialize, Serialize};

use crate::codec::json::json_error;
use crate::codec::{decode_payload, DecodeError};
use crate::envelope::Event;
use crate::money::Amount;
use crate::order::{CancelReason, OrderCancelled, OrderEvent};

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
) -> Option<Result<Event, DecodeError>> {
    match (type_name, version) {
        ("OrderCancelled", 1) => Some(
            serde_json::from_str::<OrderCancelledV1>(payload)
                .map(|old| OrderEvent::OrderCancelled(order_cancelled_v1(old)).into())
                .map_err(json_error),
        ),
        _ => None,
    }
}

/// Encodes a version 1 payload: for the golden fixtures and the upcaster tests, which must
/// produce what a version 1 build wrote.
pub fn encode_order_cancelled_v1(old: &OrderCancelledV1) -> Vec<u8> {
    crate::codec::encode_payload(old)
}
