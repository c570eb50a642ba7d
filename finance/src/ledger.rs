//! The ledger's side of a reconciliation: every capture and refund the events record, and
//! every payment-provider settlement batch (what the provider paid out to the bank); and the
//! cash carriers collected on delivery and their remittances, which a carrier's report is
//! reconciled against instead (`carrier` names them).
//!
//! Refunds of cash-on-delivery orders leave from the bank, not through a provider: they are
//! in no provider's report and are left out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use order_events::account::AccountEvent;
use order_events::envelope::{Event, EventEnvelope};
use order_events::money::{Amount, Currency};
use order_events::order::{OrderEvent, PaymentTerms};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which way the money went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyKind {
    Capture,
    Refund,
    /// A provider's settlement batch paid to the bank: its reference is the bank reference,
    /// its amount the net paid out. For a carrier: its remittance of cash collected.
    Payout,
    /// Cash a carrier collected at the door: its reference is the parcel's tracking number.
    CashOnDelivery,
}

/// A capture or refund as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerMoney {
    pub event_id: Uuid,
    pub kind: MoneyKind,
    pub psp_reference: String,
    /// The order's id (empty for a payout).
    pub order_id: String,
    /// The payment id of a capture, the refund id of a refund, the provider of a payout.
    pub id: String,
    pub amount: Amount,
    pub currency: Currency,
    pub at: DateTime<Utc>,
    /// The carrier of a cash-on-delivery collection or remittance; `None` for a payment
    /// provider's money.
    pub carrier: Option<String>,
}

/// Collects the money events of a log read in order. An order's currency is on its
/// `OrderPlaced`, so the collector remembers the currency of every order it has seen placed
/// (one small entry per order).
#[derive(Debug, Default)]
pub struct Collector {
    currencies: HashMap<String, Currency>,
    /// Orders paid cash on delivery.
    cash_on_delivery: std::collections::HashSet<String>,
    money: Vec<LedgerMoney>,
    /// Money events of orders whose `OrderPlaced` was not seen (a log read from an offset).
    pub without_currency: u64,
}

impl Collector {
    pub fn add(&mut self, envelope: &EventEnvelope) {
        let event = match &envelope.event {
            Event::Order(event) => event,
            Event::Account(AccountEvent::PspSettlementRecorded(batch)) => {
                self.money.push(LedgerMoney {
                    event_id: envelope.event_id,
                    kind: MoneyKind::Payout,
                    psp_reference: batch.bank_reference.clone(),
                    order_id: String::new(),
                    id: batch.provider.clone(),
                    amount: batch.net,
                    currency: batch.currency,
                    at: envelope.recorded_at,
                    carrier: None,
                });
                return;
            }
            Event::Account(AccountEvent::CodRemitted(remitted)) => {
                self.money.push(LedgerMoney {
                    event_id: envelope.event_id,
                    kind: MoneyKind::Payout,
                    psp_reference: remitted.remittance_reference.clone(),
                    order_id: String::new(),
                    id: remitted.carrier.to_string(),
                    amount: remitted.net,
                    currency: remitted.currency,
                    at: envelope.recorded_at,
                    carrier: Some(remitted.carrier.to_string()),
                });
                return;
            }
            _ => return,
        };
        let mut carrier = None;
        let (kind, id, amount, psp_reference) = match event {
            OrderEvent::OrderPlaced(placed) => {
                self.currencies
                    .insert(envelope.aggregate_id.clone(), placed.currency);
                if placed.payment_terms == PaymentTerms::CashOnDelivery {
                    self.cash_on_delivery.insert(envelope.aggregate_id.clone());
                }
                return;
            }
            OrderEvent::CashCollected(e) => {
                carrier = Some(e.carrier.to_string());
                (
                    MoneyKind::CashOnDelivery,
                    e.payment_id.as_str(),
                    e.amount,
                    &e.tracking_number,
                )
            }
            OrderEvent::RefundIssued(_)
                if self.cash_on_delivery.contains(&envelope.aggregate_id) =>
            {
                return
            }
            OrderEvent::PaymentCaptured(e) => (
                MoneyKind::Capture,
                e.payment_id.as_str(),
                e.amount,
                &e.psp_reference,
            ),
            OrderEvent::RefundIssued(e) => (
                MoneyKind::Refund,
                e.refund_id.as_str(),
                e.amount,
                &e.psp_reference,
            ),
            _ => return,
        };
        let Some(currency) = self.currencies.get(&envelope.aggregate_id) else {
            self.without_currency += 1;
            return;
        };
        self.money.push(LedgerMoney {
            event_id: envelope.event_id,
            kind,
            psp_reference: psp_reference.clone(),
            order_id: envelope.aggregate_id.clone(),
            id: id.to_owned(),
            amount,
            currency: *currency,
            at: envelope.recorded_at,
            carrier,
        });
    }

    /// The money events collected, in log order.
    pub fn finish(self) -> Vec<LedgerMoney> {
        self.money
    }
}
