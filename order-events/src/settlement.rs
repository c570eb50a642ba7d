//! The platform's commission: the one place it is computed. The order process uses it to
//! accrue a merchant's earnings on the merchant's account (which payouts are decided
//! against), and the settlement read model uses it to post the commission entries, so the
//! payable a payout is checked against and the payable on the books are the same figure.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::ids::MerchantId;
use crate::money::{Amount, Currency};

/// Commission the platform keeps from each capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementRules {
    /// Commission on captured amounts for merchants without their own rate, as a fraction
    /// (`"0.10"` is 10 %). Refunds give back the same share of what they refund.
    pub commission_rate: Decimal,
    /// Rates of particular merchants, by merchant id.
    pub merchant_commission_rates: BTreeMap<String, Decimal>,
}

impl Default for SettlementRules {
    fn default() -> SettlementRules {
        SettlementRules {
            commission_rate: Decimal::new(10, 2),
            merchant_commission_rates: BTreeMap::new(),
        }
    }
}

impl SettlementRules {
    pub fn rate_of(&self, merchant: &MerchantId) -> Decimal {
        self.merchant_commission_rates
            .get(merchant.as_str())
            .copied()
            .unwrap_or(self.commission_rate)
    }

    /// Checks the rates are fractions from 0 to 1.
    pub fn check(&self) -> Result<(), String> {
        let rates = std::iter::once(("default", &self.commission_rate)).chain(
            self.merchant_commission_rates
                .iter()
                .map(|(merchant, rate)| (merchant.as_str(), rate)),
        );
        for (whose, rate) in rates {
            if !is_fraction(*rate) {
                return Err(format!(
                    "commission rate {rate} of {whose} is not a fraction from 0 to 1"
                ));
            }
        }
        Ok(())
    }
}

/// True for a rate from 0 to 1.
pub fn is_fraction(rate: Decimal) -> bool {
    !rate.is_sign_negative() && rate <= Decimal::ONE
}

/// Commission charged and reversed so far on one order: a refund reverses the same share of
/// itself, never more than is left of what was charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionSoFar {
    pub charged: Amount,
    pub reversed: Amount,
}

impl CommissionSoFar {
    /// The commission on a capture of `captured` at `rate`, added to what was charged.
    pub fn charge(&mut self, captured: Amount, rate: Decimal, currency: Currency) -> Amount {
        let charged = share(captured, rate, currency);
        self.charged += charged;
        charged
    }

    /// The commission given back on a refund of `refunded` at `rate`: the same share of the
    /// refund, never more than is left of what was charged. Added to what was reversed.
    pub fn reverse(&mut self, refunded: Amount, rate: Decimal, currency: Currency) -> Amount {
        let left = self.charged - self.reversed;
        let reversal = share(refunded, rate, currency).min(left).max(Amount::ZERO);
        self.reversed += reversal;
        reversal
    }
}

/// `rate` of `amount`, rounded to the currency's minor units, half to even.
pub fn share(amount: Amount, rate: Decimal, currency: Currency) -> Amount {
    Amount((amount.0 * rate).round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointNearestEven,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(value: &str) -> Amount {
        value.parse().unwrap()
    }

    #[test]
    fn a_refund_gives_back_its_share_but_never_more_than_was_charged() {
        let rate = Decimal::new(5, 1);
        let mut so_far = CommissionSoFar::default();
        // 50 % of 0.05 is 0.025, half to even 0.02.
        assert_eq!(so_far.charge(eur("0.05"), rate, Currency::EUR), eur("0.02"));
        // 50 % of 0.03 is 0.015 → 0.02: all that was charged.
        assert_eq!(
            so_far.reverse(eur("0.03"), rate, Currency::EUR),
            eur("0.02")
        );
        // Nothing is left for the rest of the refund.
        assert_eq!(
            so_far.reverse(eur("0.02"), rate, Currency::EUR),
            eur("0.00")
        );
        assert_eq!(so_far.charged, so_far.reversed);
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let mut rules = SettlementRules::default();
        assert!(rules.check().is_ok());
        rules
            .merchant_commission_rates
            .insert("m-1".to_owned(), Decimal::new(11, 1));
        assert!(rules.check().unwrap_err().contains("m-1"));
    }
}
