//! Identifiers. Each kind of id is its own type, so an order id can never be passed where a
//! payment id is meant.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace of the UUIDv5 order ids (see [`OrderId::for_external_reference`]). Part of the wire
/// contract: services in other languages compute the same ids with it.
pub const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_722d_6c65_6467_6572_2d6f_7264);

/// Identifies an order aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

/// In JSON, only the hyphenated spelling the schemas' `uuid` format names (`crate::wire`).
impl<'de> Deserialize<'de> for OrderId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<OrderId, D::Error> {
        crate::wire::uuid(deserializer).map(OrderId)
    }
}

impl OrderId {
    /// The id of the order imported from `channel` under `external_reference`.
    ///
    /// Deriving the id from the reference makes import deduplication structural: the same
    /// marketplace order imported twice addresses the same aggregate, whose `PlaceOrder` rule
    /// refuses the second placement. Defined as UUIDv5 over `channel`, a line feed, and the
    /// reference, in [`ORDER_ID_NAMESPACE`].
    pub fn for_external_reference(channel: &str, external_reference: &str) -> OrderId {
        let name = format!("{channel}\n{external_reference}");
        OrderId(Uuid::new_v5(&ORDER_ID_NAMESPACE, name.as_bytes()))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A stock keeping unit code: 1 to 64 of `A-Z 0-9 . _ -`, starting with a letter or digit.
    Sku
);
string_id!(
    /// A warehouse code: 1 to 32 of `A-Z 0-9 _ -`.
    WarehouseId
);
string_id!(
    /// The sales channel an order came through (`web`, `app`, a marketplace's name).
    Channel
);
string_id!(
    /// The customer who placed the order, as the shop's customer service knows them.
    CustomerId
);
string_id!(
    /// The merchant selling the goods; settlement pays them.
    MerchantId
);
string_id!(
    /// A carrier code (`dhl`, `ups`, ...); settlement pays them freight.
    CarrierId
);
string_id!(
    /// A payment attempt, unique within its order; capture idempotency hangs on it.
    PaymentId
);
string_id!(
    /// A shipment (parcel), unique within its order.
    ShipmentId
);
string_id!(
    /// A return or exchange case, unique within its order.
    ReturnId
);
string_id!(
    /// A refund, unique within its order.
    RefundId
);
string_id!(
    /// A customer's claim (A-to-Z style complaint), unique within its order.
    ClaimId
);

impl Sku {
    /// Whether the code has the documented SKU format.
    pub fn is_well_formed(&self) -> bool {
        let bytes = self.0.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes.iter().all(|&b| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    }
}

impl WarehouseId {
    /// Whether the code has the documented warehouse format.
    pub fn is_well_formed(&self) -> bool {
        (1..=32).contains(&self.0.len())
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
    }
}

/// Identifies a stock item aggregate: one SKU in one warehouse.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct StockKey {
    pub sku: Sku,
    pub warehouse: WarehouseId,
}

impl StockKey {
    pub fn new(sku: impl Into<String>, warehouse: impl Into<String>) -> StockKey {
        StockKey {
            sku: Sku(sku.into()),
            warehouse: WarehouseId(warehouse.into()),
        }
    }
}

/// `SKU@WAREHOUSE`: the aggregate id and record key of a stock item. `@` is in neither format.
impl fmt::Display for StockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.sku, self.warehouse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_stable_per_channel_and_reference() {
        let a = OrderId::for_external_reference("web", "A-1");
        assert_eq!(a, OrderId::for_external_reference("web", "A-1"));
        assert_ne!(a, OrderId::for_external_reference("app", "A-1"));
        // The separator keeps ("we", "bA-1") apart from ("web", "A-1").
        assert_ne!(a, OrderId::for_external_reference("we", "bA-1"));
        // Pinned, and checked against Python's uuid.uuid5(namespace, "web\nA-1"): services in
        // other languages derive the same id.
        assert_eq!(a.to_string(), "5ed9c574-5856-5a8b-b95c-ae9a19f16704");
    }

    #[test]
    fn sku_format() {
        for good in ["A", "SKU-1", "TSHIRT.RED_XL", "9"] {
            assert!(Sku::from(good).is_well_formed(), "{good}");
        }
        let too_long = "A".repeat(65);
        for bad in ["", "-A", "sku", "A B", "A@B", too_long.as_str()] {
            assert!(!Sku::from(bad).is_well_formed(), "{bad}");
        }
    }
}
string_id!(
    /// A pick wave: 1-64 of `A-Z a-z 0-9 . _ -`; the wave aggregate's id.
    WaveId
);
