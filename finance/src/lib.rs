//! Finance's tools over the ledger. Pure: the callers read the event log and the provider's
//! file; this crate reads bytes and events and returns reports.
//!
//! - [`psp`]: a payment provider's settlement report (CSV, with a column mapping for other
//!   providers' layouts), read line by line so one bad row never hides the rest.
//! - [`ledger`]: the ledger's side — every capture and refund, with its PSP reference, order,
//!   payment or refund id, amount, currency and time, collected from the events.
//! - [`reconcile`]: matches the two and reports the breaks.

pub mod ledger;
pub mod psp;
pub mod reconcile;
