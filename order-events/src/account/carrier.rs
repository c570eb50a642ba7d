//! A carrier's account: the freight charged for each parcel at dispatch (fed by the order
//! process), the carrier's invoices against those parcels, and their payment.
//!
//! An invoice names parcels by tracking number. Each must be a parcel of this carrier whose
//! freight was charged and not yet invoiced; the invoice's variance (billed minus charged) is
//! posted by the settlement read model to its own account, `freight_variance`.
//!
//! Cash on delivery runs the other way: the carrier collects an order's total at the door and
//! owes it to the platform (`carrier_cod_receivable:<carrier>` on the books) until it remits
//! it. A remittance names the parcels it covers, each collected and not yet remitted, and may
//! keep the carrier's fees and part of one of its invoices (netting); the rest reaches the bank.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    AccountEvent, AccrueCarrierCod, AccrueCarrierFreight, CarrierCodAccrued, CarrierFreightAccrued,
    CarrierInvoiceRecorded, CarrierPaid, CodRemitted, InvoicedParcel, PayCarrier,
    RecordCarrierInvoice, RecordCodRemittance, RemittedParcel,
};
use crate::fits;
use crate::money::Amount;
use crate::rejection::{ensure, reject, Rejection, Rule};
use crate::validate::{self, SHORT_TEXT_MAX};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CarrierFreight {
    /// Freight charged for each parcel not yet invoiced, by tracking number.
    pub uninvoiced: BTreeMap<String, Amount>,
    /// Invoices recorded, by reference.
    pub invoices: BTreeMap<String, CarrierInvoice>,
    /// Payment reference → (invoice reference, amount).
    pub payments: BTreeMap<String, (String, Amount)>,
    /// Freight charged for every parcel so far.
    pub charged: Amount,
    /// Cash collected on delivery and not yet remitted, by tracking number.
    #[serde(default)]
    pub cod_open: BTreeMap<String, Amount>,
    /// Remittances recorded, by reference.
    #[serde(default)]
    pub remittances: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CarrierInvoice {
    pub invoiced: Amount,
    pub paid: Amount,
}

impl CarrierFreight {
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        for (reference, invoice) in &self.invoices {
            if invoice.paid > invoice.invoiced {
                return Err(format!(
                    "invoice {reference}: paid {} above the {} invoiced",
                    invoice.paid, invoice.invoiced
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn accrue(
    state: &CarrierFreight,
    c: &AccrueCarrierFreight,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("tracking_number", &c.tracking_number, SHORT_TEXT_MAX)?;
    validate::amount("freight", c.freight, c.currency, true)?;
    ensure(
        !state.uninvoiced.contains_key(&c.tracking_number),
        Rule::AccrualAlreadyRecorded,
        || {
            format!(
                "freight for parcel {} is already accrued",
                c.tracking_number
            )
        },
    )?;
    Ok(vec![CarrierFreightAccrued {
        carrier: c.carrier.clone(),
        currency: c.currency,
        order_id: c.order_id,
        tracking_number: c.tracking_number.clone(),
        freight: c.freight,
    }
    .into()])
}

pub(super) fn record_invoice(
    state: &CarrierFreight,
    c: &RecordCarrierInvoice,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("invoice_reference", &c.invoice_reference, SHORT_TEXT_MAX)?;
    ensure(!c.lines.is_empty(), Rule::LinesRequired, || {
        "a carrier invoice lists at least one parcel".to_owned()
    })?;
    ensure(
        !state.invoices.contains_key(&c.invoice_reference),
        Rule::CarrierInvoiceAlreadyRecorded,
        || format!("invoice {} is already recorded", c.invoice_reference),
    )?;
    let mut lines: Vec<InvoicedParcel> = Vec::with_capacity(c.lines.len());
    for line in &c.lines {
        validate::required_text("tracking_number", &line.tracking_number, SHORT_TEXT_MAX)?;
        validate::amount("freight", line.freight, c.currency, false)?;
        let charged = state.uninvoiced.get(&line.tracking_number);
        let repeated = lines
            .iter()
            .any(|seen| seen.tracking_number == line.tracking_number);
        let Some(&charged) = charged.filter(|_| !repeated) else {
            return reject(
                Rule::InvoiceParcelNotOpen,
                format!(
                    "parcel {} is {} on {}'s account",
                    validate::printable(&line.tracking_number),
                    if repeated {
                        "listed twice"
                    } else {
                        "not awaiting an invoice"
                    },
                    c.carrier
                ),
            );
        };
        lines.push(InvoicedParcel {
            tracking_number: line.tracking_number.clone(),
            charged,
            invoiced: line.freight,
        });
    }
    Ok(vec![CarrierInvoiceRecorded {
        carrier: c.carrier.clone(),
        currency: c.currency,
        invoice_reference: c.invoice_reference.clone(),
        issued_on: c.issued_on,
        charged: lines.iter().map(|line| line.charged).sum(),
        invoiced: lines.iter().map(|line| line.invoiced).sum(),
        lines,
    }
    .into()])
}

pub(super) fn pay(state: &CarrierFreight, c: &PayCarrier) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("payment_reference", &c.payment_reference, SHORT_TEXT_MAX)?;
    validate::amount("amount", c.amount, c.currency, true)?;
    if let Some((invoice, amount)) = state.payments.get(&c.payment_reference) {
        if *invoice == c.invoice_reference && *amount == c.amount {
            // A retry of a payment already made: nothing more to do.
            return Ok(Vec::new());
        }
        return reject(
            Rule::TransferReferenceReused,
            format!(
                "payment reference {} already paid {amount} of invoice {invoice}",
                c.payment_reference
            ),
        );
    }
    let Some(invoice) = state.invoices.get(&c.invoice_reference) else {
        return reject(
            Rule::CarrierInvoiceNotFound,
            format!(
                "no invoice {} on {}'s account",
                validate::printable(&c.invoice_reference),
                c.carrier
            ),
        );
    };
    let outstanding = invoice.invoiced - invoice.paid;
    ensure(
        c.amount <= outstanding,
        Rule::CarrierPaymentExceedsInvoice,
        || {
            format!(
                "payment of {} exceeds the {outstanding} outstanding on invoice {}",
                c.amount, c.invoice_reference
            )
        },
    )?;
    Ok(vec![CarrierPaid {
        carrier: c.carrier.clone(),
        currency: c.currency,
        invoice_reference: c.invoice_reference.clone(),
        amount: c.amount,
        payment_reference: c.payment_reference.clone(),
    }
    .into()])
}

pub(super) fn accrue_cod(
    state: &CarrierFreight,
    c: &AccrueCarrierCod,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("tracking_number", &c.tracking_number, SHORT_TEXT_MAX)?;
    validate::amount("amount", c.amount, c.currency, true)?;
    ensure(
        !state.cod_open.contains_key(&c.tracking_number),
        Rule::AccrualAlreadyRecorded,
        || format!("cash for parcel {} is already accrued", c.tracking_number),
    )?;
    Ok(vec![CarrierCodAccrued {
        carrier: c.carrier.clone(),
        currency: c.currency,
        order_id: c.order_id,
        tracking_number: c.tracking_number.clone(),
        amount: c.amount,
    }
    .into()])
}

pub(super) fn record_remittance(
    state: &CarrierFreight,
    c: &RecordCodRemittance,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text(
        "remittance_reference",
        &c.remittance_reference,
        SHORT_TEXT_MAX,
    )?;
    ensure(
        !state.remittances.contains(&c.remittance_reference),
        Rule::CodRemittanceAlreadyRecorded,
        || format!("remittance {} is already recorded", c.remittance_reference),
    )?;
    ensure(!c.parcels.is_empty(), Rule::LinesRequired, || {
        "a remittance covers at least one parcel".to_owned()
    })?;
    let mut parcels: Vec<RemittedParcel> = Vec::with_capacity(c.parcels.len());
    for tracking_number in &c.parcels {
        validate::required_text("parcels", tracking_number, SHORT_TEXT_MAX)?;
        let repeated = parcels
            .iter()
            .any(|p| &p.tracking_number == tracking_number);
        let Some(&amount) = state.cod_open.get(tracking_number).filter(|_| !repeated) else {
            return reject(
                Rule::CodParcelNotOpen,
                format!(
                    "parcel {} is {} on {}'s account",
                    validate::printable(tracking_number),
                    if repeated {
                        "listed twice"
                    } else {
                        "not awaiting remittance"
                    },
                    c.carrier
                ),
            );
        };
        parcels.push(RemittedParcel {
            tracking_number: tracking_number.clone(),
            amount,
        });
    }
    validate::amount("fees", c.fees, c.currency, false)?;
    if let Some(netted) = &c.netted {
        check_netting(state, c, netted)?;
    }
    let gross: Amount = parcels.iter().map(|p| p.amount).sum();
    let netted = c.netted.as_ref().map_or(Amount::ZERO, |n| n.amount);
    let net = gross - c.fees - netted;
    ensure(!net.is_negative(), Rule::CodRemittanceNegative, || {
        format!(
            "fees {} and netted {netted} exceed the {gross} collected",
            c.fees
        )
    })?;
    Ok(vec![CodRemitted {
        carrier: c.carrier.clone(),
        currency: c.currency,
        remittance_reference: c.remittance_reference.clone(),
        received_on: c.received_on,
        parcels,
        gross,
        fees: c.fees,
        netted: c.netted.clone(),
        net,
    }
    .into()])
}

/// A netted invoice is the carrier's, and the netting at most what is left to pay of it.
fn check_netting(
    state: &CarrierFreight,
    c: &RecordCodRemittance,
    netted: &super::NettedInvoice,
) -> Result<(), Rejection> {
    validate::amount("netted.amount", netted.amount, c.currency, true)?;
    let Some(invoice) = state.invoices.get(&netted.invoice_reference) else {
        return reject(
            Rule::CarrierInvoiceNotFound,
            format!(
                "no invoice {} on {}'s account",
                validate::printable(&netted.invoice_reference),
                c.carrier
            ),
        );
    };
    let outstanding = invoice.invoiced - invoice.paid;
    ensure(
        netted.amount <= outstanding,
        Rule::CarrierPaymentExceedsInvoice,
        || {
            format!(
                "netting {} exceeds the {outstanding} outstanding on invoice {}",
                netted.amount, netted.invoice_reference
            )
        },
    )
}

pub(super) fn try_apply(state: &mut CarrierFreight, event: &AccountEvent) -> Result<(), String> {
    match event {
        AccountEvent::CarrierFreightAccrued(e) => {
            state
                .uninvoiced
                .insert(e.tracking_number.clone(), e.freight);
            state.charged += e.freight;
        }
        AccountEvent::CarrierInvoiceRecorded(e) => {
            for line in &e.lines {
                let charged = state.uninvoiced.remove(&line.tracking_number);
                fits(charged.is_some(), || {
                    "an invoice line names a parcel awaiting an invoice (decide checks it)".into()
                })?;
            }
            state.invoices.insert(
                e.invoice_reference.clone(),
                CarrierInvoice {
                    invoiced: e.invoiced,
                    paid: Amount::ZERO,
                },
            );
        }
        AccountEvent::CarrierPaid(e) => {
            let invoice = state
                .invoices
                .get_mut(&e.invoice_reference)
                .ok_or("a payment pays a recorded invoice (decide checks it)")?;
            invoice.paid += e.amount;
            state.payments.insert(
                e.payment_reference.clone(),
                (e.invoice_reference.clone(), e.amount),
            );
        }
        AccountEvent::CarrierCodAccrued(e) => {
            state.cod_open.insert(e.tracking_number.clone(), e.amount);
        }
        AccountEvent::CodRemitted(e) => {
            for parcel in &e.parcels {
                let open = state.cod_open.remove(&parcel.tracking_number);
                fits(open.is_some(), || {
                    "a remittance names a parcel awaiting remittance (decide checks it)".into()
                })?;
            }
            if let Some(netted) = &e.netted {
                let invoice = state
                    .invoices
                    .get_mut(&netted.invoice_reference)
                    .ok_or("a remittance nets a recorded invoice (decide checks it)")?;
                invoice.paid += netted.amount;
            }
            state.remittances.insert(e.remittance_reference.clone());
        }
        _ => unreachable!("account::apply routes only carrier events here"),
    }
    Ok(())
}
