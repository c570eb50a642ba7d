//! A payment provider's settlement account: each batch the provider pays out is recorded once,
//! by its bank reference, and only when its net and fees add up to its gross.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{PspSettlementRecorded, RecordPspSettlement};
use crate::money::Amount;
use crate::rejection::{ensure, Rejection, Rule};
use crate::validate::{self, SHORT_TEXT_MAX};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PspSettlements {
    /// Bank references of the settlement batches recorded.
    pub settlements: BTreeSet<String>,
    /// Gross captured money the batches cleared.
    pub cleared: Amount,
    /// The provider's fees on them.
    pub fees: Amount,
}

pub(super) fn decide(
    state: &PspSettlements,
    c: &RecordPspSettlement,
) -> Result<Vec<super::AccountEvent>, Rejection> {
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

pub(super) fn apply(state: &mut PspSettlements, e: &PspSettlementRecorded) {
    state.settlements.insert(e.bank_reference.clone());
    state.cleared += e.gross;
    state.fees += e.fees;
}

impl PspSettlements {
    /// Fees never exceed what was cleared (each batch's net is not negative).
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        if self.fees > self.cleared {
            return Err(format!(
                "fees {} above the {} cleared",
                self.fees, self.cleared
            ));
        }
        Ok(())
    }
}
