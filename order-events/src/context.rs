//! What a decision may know besides the state and the command: the time, who is asking, and
//! the shop's policy. The domain never reads a clock or a random source; the caller passes
//! them in here, so the same inputs always give the same events.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{Amount, Currency};
use crate::order::{FreightPayer, RefusalRefund};
use crate::shipping::Shipping;

/// The kind of party behind a command.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A shopper acting on their own order.
    Customer,
    /// Shop staff: customer service, warehouse, finance.
    Staff,
    /// Another service publishing commands (checkout, PSP webhook bridge, WMS).
    Service,
    /// The ledger itself: timers and the order process manager.
    System,
}

/// Who issued a command. Recorded in every event it produces, so auditors see who did what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub kind: ActorKind,
    /// The actor's id in its own system (customer id, staff login, service name).
    pub id: String,
}

impl ActorKind {
    /// The wire name: `customer`, `staff`, `service`, `system`.
    pub fn code(self) -> &'static str {
        match self {
            ActorKind::Customer => "customer",
            ActorKind::Staff => "staff",
            ActorKind::Service => "service",
            ActorKind::System => "system",
        }
    }
}

impl Actor {
    /// `kind:id`, as [`Policy::finance_actors`] names actors.
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind.code(), self.id)
    }

    pub fn new(kind: ActorKind, id: impl Into<String>) -> Actor {
        Actor {
            kind,
            id: id.into(),
        }
    }

    pub fn system() -> Actor {
        Actor::new(ActorKind::System, "ledger")
    }
}

/// The shop's configurable rules. Part of the decision's input, never of the stored events:
/// changing the policy changes future decisions, never the replay of past ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// How long a placed order may stay unpaid before it expires and its stock is released.
    pub payment_window_minutes: u32,
    /// Days after delivery within which a return can be requested.
    pub return_window_days: u32,
    /// Days after delivery after which the receipt is confirmed automatically.
    pub auto_confirm_days: u32,
    /// Days after their first review within which a customer may revise it.
    pub review_revision_days: u32,
    /// Days after dispatch by which a parcel is expected: a claim that it was not received
    /// can be opened from then.
    pub expected_delivery_days: u32,
    /// Days after delivery (or, undelivered, after the expected delivery) within which a claim
    /// can be opened.
    pub claim_window_days: u32,
    /// Minutes between a backordered order's tries to reserve its stock again (0: never; it
    /// then waits for its payment deadline).
    pub backorder_retry_minutes: u32,
    /// Most lines one order may have.
    pub lines_per_order_max: u32,
    /// Most units of one SKU on one line, and in one stock movement.
    pub quantity_per_line_max: u32,
    /// Percent of an order's earnings held back from merchant payouts until its return window
    /// closes (delivery + `return_window_days`; an undelivered order's window has not begun).
    /// 100 holds all of it, 0 pays out as soon as it is earned.
    pub payout_holdback_percent: u32,
    /// The actors (`kind:id`, e.g. `staff:fin-ann`) who may issue finance's commands: PSP
    /// settlements, merchant payouts, carrier invoices and payments, recorded reconciliations
    /// — however the command arrives (HTTP or Kafka). Empty: any staff or service actor.
    pub finance_actors: Vec<String>,
    /// Where cash on delivery is offered: an order may ask for it when one offer matches its
    /// channel, merchant and currency and its total is at most the offer's maximum. None:
    /// every order is prepaid.
    pub cash_on_delivery: Vec<CashOnDeliveryOffer>,
    /// How much of a prepaid order refused at the door is due back to the customer.
    pub refused_delivery_refund: RefusalRefund,
    /// Who bears the freight of a parcel refused at the door.
    pub refused_delivery_freight: FreightPayer,
    /// Whether `Ship` takes only parcels packed and verified through `PackParcel`. Off: a
    /// warehouse that does not pack through the ledger ships lines directly, as before.
    pub ship_packed_only: bool,
    /// How far a packed parcel's measured weight may be from its expected weight (from the
    /// catalog's SKU weights), in percent of the expected weight, before the order is listed
    /// as a `weight_mismatch`.
    pub pack_weight_tolerance_percent: u32,
    /// What a parcel heavier than any allowed service takes is: an `overweight` exception
    /// (packed, listed, for someone to arrange), or refused so it is split into parcels.
    pub overweight: OverweightHandling,
    /// The catalog and the carrier table (configured in `[catalog]` and `[process]`; the
    /// ledger puts them here), which parcels are weighed, labelled, routed and priced by.
    #[serde(skip)]
    #[schemars(skip)]
    pub shipping: Arc<Shipping>,
}

/// What becomes of a parcel heavier than any service allowed for it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverweightHandling {
    /// Packed and flagged: the order is listed as `overweight` for someone to arrange.
    #[default]
    Exception,
    /// Refused (`parcel_overweight`): the packer splits the goods into lighter parcels.
    Split,
}

/// One offer of cash on delivery: to the orders of a channel, of a merchant, or both (an
/// absent criterion matches every order), in one currency, up to a total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CashOnDeliveryOffer {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub merchant: Option<String>,
    pub currency: Currency,
    /// The largest order total the carrier collects, in `currency`.
    pub max_order_value: Amount,
}

impl CashOnDeliveryOffer {
    /// Whether the offer covers an order of `channel`, `merchant` and `currency` (its total
    /// not considered).
    pub fn covers(&self, channel: &str, merchant: &str, currency: Currency) -> bool {
        self.currency == currency
            && self.channel.as_deref().is_none_or(|c| c == channel)
            && self.merchant.as_deref().is_none_or(|m| m == merchant)
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            payment_window_minutes: 30,
            return_window_days: 14,
            auto_confirm_days: 7,
            review_revision_days: 30,
            expected_delivery_days: 7,
            claim_window_days: 90,
            backorder_retry_minutes: 15,
            lines_per_order_max: 100,
            quantity_per_line_max: 10_000,
            payout_holdback_percent: 100,
            finance_actors: Vec::new(),
            cash_on_delivery: Vec::new(),
            refused_delivery_refund: RefusalRefund::Full,
            refused_delivery_freight: FreightPayer::Merchant,
            ship_packed_only: false,
            pack_weight_tolerance_percent: 10,
            overweight: OverweightHandling::Exception,
            shipping: Arc::default(),
        }
    }
}

impl Policy {
    /// Whether `actor` may issue finance's commands: staff or a service, and one of
    /// [`Policy::finance_actors`] when that names any.
    pub fn finance_may(&self, actor: &Actor) -> bool {
        matches!(actor.kind, ActorKind::Staff | ActorKind::Service)
            && (self.finance_actors.is_empty()
                || self.finance_actors.iter().any(|a| *a == actor.label()))
    }

    /// Checks the settings that have a range narrower than their type's.
    pub fn check(&self) -> Result<(), String> {
        for actor in &self.finance_actors {
            let valid = actor
                .split_once(':')
                .is_some_and(|(kind, id)| matches!(kind, "staff" | "service") && !id.is_empty());
            if !valid {
                return Err(format!(
                    "finance_actors: '{actor}' is not staff:<id> or service:<id>"
                ));
            }
        }
        for offer in &self.cash_on_delivery {
            if offer.max_order_value.is_negative()
                || offer.max_order_value.0.scale() > offer.currency.minor_units()
            {
                return Err(format!(
                    "cash_on_delivery: max_order_value {} is not an amount in {}",
                    offer.max_order_value, offer.currency
                ));
            }
        }
        if self.pack_weight_tolerance_percent > 100 {
            return Err(format!(
                "pack_weight_tolerance_percent is {}; at most 100",
                self.pack_weight_tolerance_percent
            ));
        }
        if self.payout_holdback_percent > 100 {
            return Err(format!(
                "payout_holdback_percent is {}; at most 100",
                self.payout_holdback_percent
            ));
        }
        Ok(())
    }

    pub fn payment_window(&self) -> Duration {
        Duration::minutes(i64::from(self.payment_window_minutes))
    }

    pub fn return_window(&self) -> Duration {
        Duration::days(i64::from(self.return_window_days))
    }

    pub fn backorder_retry(&self) -> Duration {
        Duration::minutes(i64::from(self.backorder_retry_minutes))
    }

    pub fn auto_confirm_after(&self) -> Duration {
        Duration::days(i64::from(self.auto_confirm_days))
    }

    pub fn review_revision_window(&self) -> Duration {
        Duration::days(i64::from(self.review_revision_days))
    }

    pub fn expected_delivery(&self) -> Duration {
        Duration::days(i64::from(self.expected_delivery_days))
    }

    pub fn claim_window(&self) -> Duration {
        Duration::days(i64::from(self.claim_window_days))
    }
}

/// Everything a `decide` function may know besides state and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The time the decision is made at; recorded as the events' time.
    pub now: DateTime<Utc>,
    /// Who issued the command.
    pub actor: Actor,
    pub policy: Policy,
}

impl Context {
    pub fn new(now: DateTime<Utc>, actor: Actor) -> Context {
        Context {
            now,
            actor,
            policy: Policy::default(),
        }
    }
}
