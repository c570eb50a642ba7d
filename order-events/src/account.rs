//! Finance accounts: one aggregate per counterparty account of the platform, keyed
//! `<kind>:<name>:<currency>`. Today the one kind is a payment provider's settlement account
//! (`psp:adyen:EUR`): each settlement batch the provider pays out is recorded once (by its bank
//! reference), and on the read side it clears the payments clearing account — the net to the
//! bank, the fees to their own expense account.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::message::message_set;
use crate::money::{Amount, Currency};
use crate::rejection::{ensure, Rejection, Rule};
use crate::validate::{self, SHORT_TEXT_MAX};

macro_rules! account_message {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )+
    };
}

account_message! {
    /// Record a payment provider's settlement batch: `gross` captured money less `fees`,
    /// paid to the bank as `net`.
    pub struct RecordPspSettlement {
        /// The provider: 1-64 of `A-Z a-z 0-9 . _ -`.
        pub provider: String,
        pub currency: Currency,
        /// The bank transfer's reference: a batch is recorded once.
        pub bank_reference: String,
        pub gross: Amount,
        pub fees: Amount,
        pub net: Amount,
        /// The day the provider paid it out.
        pub settled_on: NaiveDate,
    }

    /// A payment provider's settlement batch, recorded.
    pub struct PspSettlementRecorded {
        pub provider: String,
        pub currency: Currency,
        pub bank_reference: String,
        pub gross: Amount,
        pub fees: Amount,
        pub net: Amount,
        pub settled_on: NaiveDate,
    }
}

message_set! {
    /// Every command of the finance account aggregate.
    pub enum AccountCommand {
        RecordPspSettlement = 1,
    }
}

message_set! {
    /// Every event of the finance account aggregate, with its current schema version.
    pub enum AccountEvent {
        PspSettlementRecorded = 1,
    }
}

impl AccountCommand {
    /// The account the command addresses, e.g. `psp:adyen:EUR`.
    pub fn account_id(&self) -> String {
        match self {
            AccountCommand::RecordPspSettlement(c) => psp_account(&c.provider, c.currency),
        }
    }
}

/// The id of a payment provider's settlement account.
pub fn psp_account(provider: &str, currency: Currency) -> String {
    format!("psp:{provider}:{currency}")
}

/// An account's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    /// Bank references of the settlement batches recorded.
    pub settlements: BTreeSet<String>,
    /// Gross captured money the batches cleared.
    pub cleared: Amount,
    /// The provider's fees on them.
    pub fees: Amount,
}

/// Decides a command against the account's state.
pub fn decide(
    state: &Account,
    command: &AccountCommand,
    _context: &Context,
) -> Result<Vec<AccountEvent>, Rejection> {
    let AccountCommand::RecordPspSettlement(c) = command;
    ensure(
        validate::identifier(&c.provider),
        Rule::AccountNameInvalid,
        || {
            format!(
                "provider '{}' is not 1-64 of A-Z a-z 0-9 . _ -",
                validate::printable(&c.provider)
            )
        },
    )?;
    validate::required_text("bank_reference", &c.bank_reference, SHORT_TEXT_MAX)?;
    validate::amount("gross", c.gross, c.currency, true)?;
    validate::amount("fees", c.fees, c.currency, false)?;
    validate::amount("net", c.net, c.currency, false)?;
    ensure(
        c.net + c.fees == c.gross,
        Rule::SettlementDoesNotAddUp,
        || {
            format!(
                "net {} plus fees {} is not gross {}",
                c.net, c.fees, c.gross
            )
        },
    )?;
    ensure(
        !state.settlements.contains(&c.bank_reference),
        Rule::SettlementAlreadyRecorded,
        || format!("bank reference {} is already recorded", c.bank_reference),
    )?;
    Ok(vec![PspSettlementRecorded {
        provider: c.provider.clone(),
        currency: c.currency,
        bank_reference: c.bank_reference.clone(),
        gross: c.gross,
        fees: c.fees,
        net: c.net,
        settled_on: c.settled_on,
    }
    .into()])
}

/// Applies an event to the account's state.
pub fn apply(state: &mut Account, event: &AccountEvent) {
    let AccountEvent::PspSettlementRecorded(e) = event;
    state.settlements.insert(e.bank_reference.clone());
    state.cleared += e.gross;
    state.fees += e.fees;
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

    /// Fees never exceed what was cleared (each batch's net is not negative).
    fn check_invariants(&self) -> Result<(), String> {
        if self.fees > self.cleared {
            return Err(format!(
                "fees {} above the {} cleared",
                self.fees, self.cleared
            ));
        }
        Ok(())
    }
}
