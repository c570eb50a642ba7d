//! Envelopes: what travels around a command or an event — ids, actor, time, position in the
//! aggregate's history and the hash chain — and the top-level command and event types.

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::account::{AccountCommand, AccountEvent};
use crate::context::Actor;
use crate::ids::{OrderId, StockKey};
use crate::order::{OrderCommand, OrderEvent};
use crate::reconciliation::{ReconciliationCommand, ReconciliationEvent};
use crate::stock::{StockCommand, StockEvent};
use crate::wave::{WaveCommand, WaveEvent};

/// The kinds of aggregate in the ledger.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    Order,
    StockItem,
    /// A finance reconciliation run.
    Reconciliation,
    /// A finance account (a payment provider's settlement account).
    Account,
    /// A pick wave in a warehouse.
    Wave,
}

impl AggregateKind {
    pub const ALL: [AggregateKind; 5] = [
        AggregateKind::Order,
        AggregateKind::StockItem,
        AggregateKind::Reconciliation,
        AggregateKind::Account,
        AggregateKind::Wave,
    ];

    /// The kind whose [`AggregateKind::code`] is `code`.
    pub fn from_code(code: &str) -> Option<AggregateKind> {
        AggregateKind::ALL
            .into_iter()
            .find(|kind| kind.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            AggregateKind::Order => "order",
            AggregateKind::StockItem => "stock_item",
            AggregateKind::Reconciliation => "reconciliation",
            AggregateKind::Account => "account",
            AggregateKind::Wave => "wave",
        }
    }
}

impl fmt::Display for AggregateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One aggregate: its kind and id. The id is the record key on every topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AggregateRef {
    pub kind: AggregateKind,
    /// An order's UUID, a stock item's `SKU@WAREHOUSE`, or a reconciliation's run id.
    pub id: String,
}

impl AggregateRef {
    pub fn order(order_id: OrderId) -> AggregateRef {
        AggregateRef {
            kind: AggregateKind::Order,
            id: order_id.to_string(),
        }
    }

    pub fn stock_item(key: &StockKey) -> AggregateRef {
        AggregateRef {
            kind: AggregateKind::StockItem,
            id: key.to_string(),
        }
    }

    /// The order this names; `None` for a stock item or an id that is no order id.
    pub fn order_id(&self) -> Option<OrderId> {
        if self.kind != AggregateKind::Order {
            return None;
        }
        self.id.parse::<uuid::Uuid>().ok().map(OrderId)
    }

    /// The stock item this names; `None` for an order or an id that is no `SKU@WAREHOUSE`.
    pub fn stock_key(&self) -> Option<StockKey> {
        if self.kind != AggregateKind::StockItem {
            return None;
        }
        let (sku, warehouse) = self.id.split_once('@')?;
        Some(StockKey::new(sku, warehouse))
    }
}

crate::message::message_union! {
    /// Any command the ledger decides.
    pub enum Command {
        Order(OrderCommand) in AggregateKind::Order,
        Stock(StockCommand) in AggregateKind::StockItem,
        Reconciliation(ReconciliationCommand) in AggregateKind::Reconciliation,
        Account(AccountCommand) in AggregateKind::Account,
        Wave(WaveCommand) in AggregateKind::Wave,
    }
}

crate::message::message_union! {
    /// Any event the ledger records.
    pub enum Event {
        Order(OrderEvent) in AggregateKind::Order,
        Stock(StockEvent) in AggregateKind::StockItem,
        Reconciliation(ReconciliationEvent) in AggregateKind::Reconciliation,
        Account(AccountEvent) in AggregateKind::Account,
        Wave(WaveEvent) in AggregateKind::Wave,
    }
}

impl Command {
    /// How the id of the aggregate a command of `type_name` addresses, which is also its
    /// record key on the commands topic, is formed from the command's JSON: fields as
    /// `<payload.FIELD>`. `None` for an unknown type. [`Command::target`] is the rule applied.
    pub fn key_rule(type_name: &str) -> Option<&'static str> {
        let kind = Command::payload_schemas()
            .into_iter()
            .find(|(name, ..)| *name == type_name)?
            .2;
        Some(match kind {
            AggregateKind::Order if type_name == "PlaceOrder" => {
                "the order id derived from the import reference: UUIDv5 in namespace 6f726465-722d-6c65-6467-65722d6f7264 of `<payload.channel>` LF `<payload.external_reference>`, lower-case with hyphens (`ledger order-id` prints it)"
            }
            AggregateKind::Order => "<payload.order_id>",
            AggregateKind::StockItem => "<payload.item.sku>@<payload.item.warehouse>",
            AggregateKind::Reconciliation => "<payload.run_id>",
            AggregateKind::Account => crate::account::account_id_rule(type_name)?,
            AggregateKind::Wave => "<payload.wave_id>",
        })
    }

    /// The aggregate the command addresses.
    pub fn target(&self) -> AggregateRef {
        match self {
            Command::Order(c) => AggregateRef {
                kind: AggregateKind::Order,
                id: c.order_id().to_string(),
            },
            Command::Stock(c) => AggregateRef {
                kind: AggregateKind::StockItem,
                id: c.item().to_string(),
            },
            Command::Reconciliation(c) => AggregateRef {
                kind: AggregateKind::Reconciliation,
                id: c.run_id().to_owned(),
            },
            Command::Account(c) => AggregateRef {
                kind: AggregateKind::Account,
                id: c.account_id(),
            },
            Command::Wave(c) => AggregateRef {
                kind: AggregateKind::Wave,
                id: c.wave_id().to_string(),
            },
        }
    }
}

/// `Command::from(PlaceOrder { .. })` and the like, for every command type.
macro_rules! command_from {
    ($set:ident => $variant:ident: $($type:ident),+) => {
        $(
            impl From<crate::$set::$type> for Command {
                fn from(command: crate::$set::$type) -> Command {
                    Command::$variant(command.into())
                }
            }
        )+
    };
}

command_from!(order => Order: PlaceOrder, ModifyPrice, ApplyDiscount, CancelOrder, ExpireOrder,
    PlanReservations, RecordReservation, ConfirmStockReserved, MarkStockShort, CapturePayment,
    FailPayment, ReleaseHold, AllocateWarehouse, Ship, RecordCarrierException, RecordDelivery,
    ConfirmReceipt, RequestReturn, RequestExchange, ReceiveReturn, Refund, RecordFeedback,
    RecordPicks, PackParcel);
command_from!(stock => Stock: ReceiveStock, AdjustStock, SetSafetyStock, ReserveStock,
    ReleaseReservation, CommitReservation, RestockReturn, SetBinLocation, CountStock, StartPicks,
    FinishPicks);
command_from!(wave => Wave: PlanWave, RecordPick);
command_from!(reconciliation => Reconciliation: RecordReconciliation);
command_from!(account => Account: RecordPspSettlement, AccrueMerchantEarnings, ChargeMerchantRefund,
    StartReturnWindow, PayoutMerchant, AccrueCarrierFreight, RecordCarrierInvoice, PayCarrier,
    AccrueCarrierCod, RecordCodRemittance, ChargeMerchantFreight);

/// A command with what travels around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEnvelope {
    /// The idempotency key: a command id is decided once, whatever the retries.
    pub command_id: Uuid,
    /// Ties together everything done for one business request; the command id when not given.
    pub correlation_id: Uuid,
    /// The event that made the order process issue this command, if it did.
    pub causation_id: Option<Uuid>,
    pub actor: Actor,
    /// When the issuer sent it, by the issuer's clock.
    pub issued_at: DateTime<Utc>,
    pub command: Command,
}

/// A SHA-256 link of the hash chain. Raw bytes in binary records, lower-case hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The `prev_hash` of an aggregate's first event.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<EventHash> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(EventHash(bytes))
    }

    /// The hash of an event record's body (see `codec`), under a domain tag that keeps these
    /// hashes apart from any other SHA-256 use.
    pub fn of_body(body: &[u8]) -> EventHash {
        let mut hasher = Sha256::new();
        hasher.update(b"order-ledger/event/v1\0");
        hasher.update(body);
        EventHash(hasher.finalize().into())
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for EventHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for EventHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventHash, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            EventHash::from_hex(&text)
                .ok_or_else(|| serde::de::Error::custom("expected 64 lower-case hex digits"))
        } else {
            <[u8; 32]>::deserialize(deserializer).map(EventHash)
        }
    }
}

impl JsonSchema for EventHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventHash".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256, lower-case hex."
        })
    }
}

/// Where an aggregate's history ends: the last sequence number and hash. The next event gets
/// `sequence + 1` and links to `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub sequence: u64,
    pub hash: EventHash,
}

impl ChainHead {
    /// The head of an aggregate with no events.
    pub const GENESIS: ChainHead = ChainHead {
        sequence: 0,
        hash: EventHash::GENESIS,
    };
}

/// An event as recorded: where it sits in its aggregate's chain, what caused it, who and when,
/// and the event itself — decoded ([`EventEnvelope`]) or as stored
/// ([`RawEvent`](crate::codec::RawEvent), whose field order is the binary record's layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// Derived from the aggregate, the command id and the event's index within the command's
    /// result, so a retried command produces the same ids and no two events share one
    /// ([`event_id`]).
    pub event_id: Uuid,
    pub aggregate_kind: AggregateKind,
    pub aggregate_id: String,
    /// Position in the aggregate's history: 1, 2, 3, ... without gaps.
    pub sequence: u64,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub actor: Actor,
    /// When the ledger decided the command.
    pub recorded_at: DateTime<Utc>,
    pub event: E,
    /// Hash of the aggregate's previous event; [`EventHash::GENESIS`] for the first.
    pub prev_hash: EventHash,
    /// Hash of this event's stored body, which includes `prev_hash`. Not part of the encoded
    /// body: the trailing 32 bytes of the record.
    #[serde(skip)]
    pub hash: EventHash,
}

/// An event with everything an auditor needs to place and verify it: `event` in this build's
/// current schema (older stored versions are upcast on read).
pub type EventEnvelope = Recorded<Event>;

impl<E> Recorded<E> {
    /// The same record around another form of its event (decoded, or as stored).
    pub fn with_event<F>(self, event: F) -> Recorded<F> {
        Recorded {
            event_id: self.event_id,
            aggregate_kind: self.aggregate_kind,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: self.actor,
            recorded_at: self.recorded_at,
            event,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl EventEnvelope {
    /// The chain head after this event.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            sequence: self.sequence,
            hash: self.hash,
        }
    }
}

/// The id of the `index`-th event decided for `command_id` on `aggregate`: UUIDv5 in the
/// command id's namespace over `"event/"`, the aggregate kind's code, `\n`, the aggregate id,
/// `\n` and the index as four big-endian bytes.
///
/// A command id is scoped to its aggregate (the handler decides each (aggregate, command id)
/// once), so naming the aggregate makes event ids unique in the whole log even when another
/// aggregate's command reuses the id. Events decided before this derivation (which used the
/// command id and index alone) keep the ids they were stored with: ids are read, never
/// recomputed, so old logs read unchanged, and `replay verify` reports any id that occurs twice.
pub fn event_id(aggregate: &AggregateRef, command_id: Uuid, index: u32) -> Uuid {
    let mut name = Vec::with_capacity(aggregate.id.len() + 24);
    name.extend_from_slice(b"event/");
    name.extend_from_slice(aggregate.kind.code().as_bytes());
    name.push(b'\n');
    name.extend_from_slice(aggregate.id.as_bytes());
    name.push(b'\n');
    name.extend_from_slice(&index.to_be_bytes());
    Uuid::new_v5(&command_id, &name)
}
