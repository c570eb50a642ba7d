//! Finance accounts: one aggregate per counterparty account of the platform, keyed
//! `<kind>:<name>:<currency>`. Each is the consistency boundary for the money finance moves to
//! or from that counterparty, so a decision about it (may this payout go out?) sees every fact
//! it depends on, in order:
//!
//! - `psp:<provider>:<currency>` — a payment provider's settlement batches, each recorded once
//!   (by bank reference); on the read side they clear the payments clearing account, the net to
//!   the bank, the fees to their own expense account. See [`psp`].
//! - `merchant:<merchant>:<currency>` — what a merchant has earned (fed by the order process on
//!   every capture, refund and delivery of the merchant's orders) and what was paid out; a
//!   payout never exceeds what is available. See [`merchant`].
//! - `carrier:<carrier>:<currency>` — freight charged for each parcel (fed by the order process
//!   at dispatch), the carrier's invoices against it, and their payment; and the cash it
//!   collected on delivery (fed by the order process), until it remits it — less its fees,
//!   less any invoice it nets. See [`carrier`].
//!
//! The accounts hold no journal: the settlement read model posts the double entries of the
//! same events, so the trial balance is a projection, and this aggregate only decides.

pub mod carrier;
pub mod merchant;
mod messages;
pub mod psp;

pub use messages::*;

use serde::{Deserialize, Serialize};

use crate::context::{ActorKind, Context};
use crate::money::Currency;
use crate::rejection::{ensure, Rejection, Rule};

pub use carrier::CarrierFreight;
pub use merchant::MerchantEarnings;
pub use psp::PspSettlements;

impl AccountCommand {
    /// The account the command addresses, e.g. `psp:adyen:EUR` or `merchant:m-1:EUR`.
    pub fn account_id(&self) -> String {
        use AccountCommand::*;
        match self {
            RecordPspSettlement(c) => psp_account(&c.provider, c.currency),
            AccrueMerchantEarnings(c) => merchant_account(c.merchant_id.as_str(), c.currency),
            ChargeMerchantRefund(c) => merchant_account(c.merchant_id.as_str(), c.currency),
            StartReturnWindow(c) => merchant_account(c.merchant_id.as_str(), c.currency),
            PayoutMerchant(c) => merchant_account(c.merchant_id.as_str(), c.currency),
            AccrueCarrierFreight(c) => carrier_account(c.carrier.as_str(), c.currency),
            RecordCarrierInvoice(c) => carrier_account(c.carrier.as_str(), c.currency),
            PayCarrier(c) => carrier_account(c.carrier.as_str(), c.currency),
            AccrueCarrierCod(c) => carrier_account(c.carrier.as_str(), c.currency),
            RecordCodRemittance(c) => carrier_account(c.carrier.as_str(), c.currency),
            ChargeMerchantFreight(c) => merchant_account(c.merchant_id.as_str(), c.currency),
        }
    }
}

/// How [`AccountCommand::account_id`] forms the id of a command type's account, from its
/// payload's fields (`<payload.FIELD>`); `None` for a type that is not an account command.
pub fn account_id_rule(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "RecordPspSettlement" => "psp:<payload.provider>:<payload.currency>",
        "AccrueMerchantEarnings"
        | "ChargeMerchantRefund"
        | "StartReturnWindow"
        | "PayoutMerchant"
        | "ChargeMerchantFreight" => "merchant:<payload.merchant_id>:<payload.currency>",
        "AccrueCarrierFreight"
        | "RecordCarrierInvoice"
        | "PayCarrier"
        | "AccrueCarrierCod"
        | "RecordCodRemittance" => "carrier:<payload.carrier>:<payload.currency>",
        _ => return None,
    })
}

/// The id of a payment provider's settlement account.
pub fn psp_account(provider: &str, currency: Currency) -> String {
    format!("psp:{provider}:{currency}")
}

/// The id of a merchant's account.
pub fn merchant_account(merchant: &str, currency: Currency) -> String {
    format!("merchant:{merchant}:{currency}")
}

/// The id of a carrier's account.
pub fn carrier_account(carrier: &str, currency: Currency) -> String {
    format!("carrier:{carrier}:{currency}")
}

/// An account's state. The id's kind decides which part a command uses; the others stay empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    pub psp: PspSettlements,
    pub merchant: MerchantEarnings,
    pub carrier: CarrierFreight,
}

/// Decides a command against the account's state.
pub fn decide(
    state: &Account,
    command: &AccountCommand,
    context: &Context,
) -> Result<Vec<AccountEvent>, Rejection> {
    use AccountCommand::*;
    match command {
        RecordPspSettlement(c) => {
            finance_only(context, "record a settlement batch")?;
            psp::decide(&state.psp, c)
        }
        AccrueMerchantEarnings(c) => {
            by_system(context, "AccrueMerchantEarnings")?;
            merchant::accrue(&state.merchant, c)
        }
        ChargeMerchantRefund(c) => {
            by_system(context, "ChargeMerchantRefund")?;
            merchant::charge_refund(&state.merchant, c)
        }
        StartReturnWindow(c) => {
            by_system(context, "StartReturnWindow")?;
            Ok(vec![ReturnWindowStarted {
                merchant_id: c.merchant_id.clone(),
                currency: c.currency,
                order_id: c.order_id,
                delivered_at: c.delivered_at,
            }
            .into()])
        }
        PayoutMerchant(c) => {
            finance_only(context, "pay out a merchant")?;
            merchant::payout(&state.merchant, c, context)
        }
        AccrueCarrierFreight(c) => {
            by_system(context, "AccrueCarrierFreight")?;
            carrier::accrue(&state.carrier, c)
        }
        RecordCarrierInvoice(c) => {
            finance_only(context, "record a carrier invoice")?;
            carrier::record_invoice(&state.carrier, c)
        }
        PayCarrier(c) => {
            finance_only(context, "pay a carrier")?;
            carrier::pay(&state.carrier, c)
        }
        AccrueCarrierCod(c) => {
            by_system(context, "AccrueCarrierCod")?;
            carrier::accrue_cod(&state.carrier, c)
        }
        RecordCodRemittance(c) => {
            finance_only(context, "record a COD remittance")?;
            carrier::record_remittance(&state.carrier, c)
        }
        ChargeMerchantFreight(c) => {
            by_system(context, "ChargeMerchantFreight")?;
            merchant::charge_freight(&state.merchant, c)
        }
    }
}

/// The order process's own commands: anyone else issuing them could make up earnings.
fn by_system(context: &Context, command: &str) -> Result<(), Rejection> {
    ensure(
        context.actor.kind == ActorKind::System,
        Rule::ActorNotPermitted,
        || {
            format!(
                "{command} is issued by the order process only, not by a {:?} actor",
                context.actor.kind
            )
        },
    )
}

/// Finance's commands: by staff or a service, one of the policy's finance actors if it names
/// any.
pub(crate) fn finance_only(context: &Context, what: &str) -> Result<(), Rejection> {
    ensure(
        context.policy.finance_may(&context.actor),
        Rule::ActorNotPermitted,
        || {
            format!(
                "{} may not {what}: finance's commands are for {}",
                context.actor.label(),
                if context.policy.finance_actors.is_empty() {
                    "staff and services".to_owned()
                } else {
                    context.policy.finance_actors.join(", ")
                }
            )
        },
    )
}

/// Applies an event to the account's state.
pub fn apply(state: &mut Account, event: &AccountEvent) {
    if let Err(broken) = try_apply(state, event) {
        panic!("{broken}");
    }
}

/// The checked fold, for histories read from outside (the verifier): an event that does not
/// fit the state is the `Err`, described, and the state is then half-changed (to be dropped).
pub fn try_apply(state: &mut Account, event: &AccountEvent) -> Result<(), String> {
    use AccountEvent::*;
    match event {
        PspSettlementRecorded(e) => psp::apply(&mut state.psp, e),
        MerchantEarningsAccrued(_)
        | MerchantRefundCharged(_)
        | ReturnWindowStarted(_)
        | MerchantPaidOut(_)
        | MerchantFreightCharged(_) => merchant::apply(&mut state.merchant, event),
        CarrierFreightAccrued(_)
        | CarrierInvoiceRecorded(_)
        | CarrierPaid(_)
        | CarrierCodAccrued(_)
        | CodRemitted(_) => return carrier::try_apply(&mut state.carrier, event),
    }
    Ok(())
}

impl crate::Aggregate for Account {
    type Command = AccountCommand;
    type Event = AccountEvent;
    const KIND: crate::AggregateKind = crate::AggregateKind::Account;

    fn decide(
        &self,
        command: &AccountCommand,
        context: &Context,
    ) -> Result<Vec<AccountEvent>, Rejection> {
        decide(self, command, context)
    }

    fn apply(&mut self, event: &AccountEvent) {
        apply(self, event)
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.psp.check_invariants()?;
        self.merchant.check_invariants()?;
        self.carrier.check_invariants()
    }
}
