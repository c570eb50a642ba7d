//! Rejections: the expected business answers "no" to a command. Each names the rule it broke,
//! with a stable snake_case code that services match on and a sentence a person can read.
//!
//! A rejection is not an error: nothing failed, the command was judged and refused. It is
//! recorded on the command-results topic like an acceptance.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! rules {
    ($($(#[$meta:meta])* $variant:ident => $code:literal, $description:literal;)+) => {
        /// Every business rule a command can break. The serialized form is the stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Rule {
            $($(#[$meta])* $variant,)+
        }

        impl Rule {
            /// All rules, in declaration order: the rule table.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)+];

            /// The stable wire code, e.g. `refund_exceeds_captured`.
            pub fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code,)+ }
            }

            /// What the rule demands, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Rule::$variant => $description,)+ }
            }
        }
    };
}

rules! {
    // Addressing and lifecycle.
    OrderNotFound => "order_not_found", "The command addresses an order that has not been placed.";
    OrderAlreadyPlaced => "order_already_placed", "An order (channel and external reference) can be placed only once.";
    IllegalTransition => "illegal_transition", "The command is not allowed in the order's current status (see the transition table).";
    CommandIdReused => "command_id_reused", "A command id names one command on its aggregate: repeating it with the same type, payload and actor gets the original answer, with anything else is refused.";
    ActorNotPermitted => "actor_not_permitted", "The actor may not issue this command: for this order, or at all (the order process's own commands are the system's).";
    // Field validation.
    RequiredFieldMissing => "required_field_missing", "Required text fields must not be empty.";
    FieldTooLong => "field_too_long", "Text fields have a maximum length.";
    TextInvalid => "text_invalid", "Text fields hold no control characters.";
    LinesRequired => "lines_required", "An order, shipment, return, reservation or carrier invoice lists at least one line.";
    TooManyLines => "too_many_lines", "An order has at most the policy's number of lines.";
    DuplicateLine => "duplicate_line", "Each SKU appears at most once in a list of lines.";
    QuantityMustBePositive => "quantity_must_be_positive", "Quantities are at least 1.";
    QuantityExceedsMaximum => "quantity_exceeds_maximum", "Quantities are at most the policy's maximum.";
    AmountMustNotBeNegative => "amount_must_not_be_negative", "Prices, fees and discounts are zero or more.";
    AmountMustBePositive => "amount_must_be_positive", "Captured and refunded amounts are more than zero.";
    AmountTooLarge => "amount_too_large", "Amounts are at most 10^12 currency units.";
    AmountPrecisionExceedsCurrency => "amount_precision_exceeds_currency", "Amounts have at most the currency's minor units after the point.";
    CurrencyMismatch => "currency_mismatch", "Money moved on an order is in the order's currency.";
    SkuFormatInvalid => "sku_format_invalid", "SKUs are 1-64 of A-Z 0-9 . _ - starting with a letter or digit.";
    WarehouseFormatInvalid => "warehouse_format_invalid", "Warehouse codes are 1-32 of A-Z 0-9 _ -.";
    PostalCodeInvalid => "postal_code_invalid", "Postal codes are 2-10 letters, digits, spaces or hyphens, with at least one digit or letter.";
    PhoneInvalid => "phone_invalid", "Phone numbers have 6-15 digits, an optional leading +, and only spaces, dots, hyphens or parentheses besides.";
    CountryCodeInvalid => "country_code_invalid", "Countries are ISO 3166-1 alpha-2 codes in upper case.";
    // Pricing.
    DiscountExceedsSubtotal => "discount_exceeds_subtotal", "Discounts never make the order total negative.";
    DiscountAlreadyApplied => "discount_already_applied", "A coupon code is applied to an order at most once.";
    LineNotFound => "line_not_found", "The SKU named is not a line of the order.";
    // Stock outcome and expiry.
    OrderNotYetExpired => "order_not_yet_expired", "An unpaid order expires only once its payment deadline has passed.";
    ReservationDoesNotCoverOrder => "reservation_does_not_cover_order", "A stock confirmation covers every line of the order in full.";
    ReservationPlanInvalid => "reservation_plan_invalid", "A reservation plan names lines of the order, each SKU and warehouse once, reserves at most what is ordered, and replaces no plan still waiting for outcomes.";
    ReservationNotPlanned => "reservation_not_planned", "A reservation outcome answers a planned reservation that has no outcome yet.";
    ReservationOutcomeInvalid => "reservation_outcome_invalid", "A reservation outcome names a quantity only when stock was reserved, from 1 to the planned quantity.";
    ShortageExceedsOrdered => "shortage_exceeds_ordered", "A shortage is at most the quantity ordered on the line.";
    SplitLeavesNoLines => "split_leaves_no_lines", "Splitting off short lines must leave something to sell; cancel instead.";
    // Payment.
    PaymentAlreadyRecorded => "payment_already_recorded", "A payment id is captured or failed at most once per order.";
    CaptureExceedsOutstanding => "capture_exceeds_outstanding", "Captures add up to at most the order total.";
    // Fulfilment.
    ShipmentAlreadyRecorded => "shipment_already_recorded", "A shipment id is dispatched at most once per order.";
    ShipmentExceedsUnshipped => "shipment_exceeds_unshipped", "A shipment carries at most the quantities not yet shipped.";
    ShipmentNotFound => "shipment_not_found", "The shipment named was not dispatched for this order.";
    ShipmentAlreadyDelivered => "shipment_already_delivered", "A shipment is delivered once.";
    CarrierRequired => "carrier_required", "A shipment names its carrier, or the carrier rules find one for it.";
    WeightMustBePositive => "weight_must_be_positive", "A shipment weighs at least one gram.";
    AutoConfirmTooEarly => "auto_confirm_too_early", "Receipt is confirmed automatically only after the policy's days since delivery.";
    // After-sales.
    ReturnWindowClosed => "return_window_closed", "Returns are requested within the policy's days after delivery.";
    ReturnExceedsShipped => "return_exceeds_shipped", "Returns cover at most what was shipped and not already returned.";
    ReturnAlreadyRecorded => "return_already_recorded", "A return id is requested at most once per order.";
    ReturnNotFound => "return_not_found", "The return named was not requested for this order.";
    ReturnAlreadyReceived => "return_already_received", "A return is received once.";
    RefundAlreadyRecorded => "refund_already_recorded", "A refund id is issued at most once per order.";
    RefundExceedsCaptured => "refund_exceeds_captured", "Refunds add up to at most what was captured.";
    RatingOutOfRange => "rating_out_of_range", "Ratings are 1 to 5.";
    FeedbackAlreadyRecorded => "feedback_already_recorded", "Retired with RecordFeedback (an order got one feedback record); kept so results recorded before still read.";
    CommandRetired => "command_retired", "A retired command type is refused; its reason names the commands that replaced it.";
    // Reviews and claims.
    NotTheOrdersCustomer => "not_the_orders_customer", "Only the order's customer reviews it (a customer actor whose id is the order's customer id).";
    ReviewAlreadyRecorded => "review_already_recorded", "An order gets one review; its customer changes it with ReviseReview.";
    ReviewNotFound => "review_not_found", "Only a review that was recorded can be revised.";
    ReviewRevisionWindowClosed => "review_revision_window_closed", "A review is revised within the policy's days of the first review.";
    ClaimTooEarly => "claim_too_early", "A claim is opened after delivery, or for a parcel not received once its expected delivery has passed.";
    ClaimWindowClosed => "claim_window_closed", "A claim is opened within the policy's days after delivery or expected delivery.";
    ClaimAlreadyRecorded => "claim_already_recorded", "A claim id is opened at most once per order.";
    ClaimAlreadyOpen => "claim_already_open", "An order has one open claim at a time.";
    ClaimNotFound => "claim_not_found", "The claim named was not opened on this order.";
    ClaimAlreadyResolved => "claim_already_resolved", "A claim is resolved once.";
    ClaimResolverNotStaff => "claim_resolver_not_staff", "Claims are resolved by staff.";
    ReplacementNotDelivered => "replacement_not_delivered", "A replacement exchanges delivered goods; a parcel not received is refunded instead.";
    // Cash on delivery and refusal at the door.
    CashOnDeliveryNotOffered => "cash_on_delivery_not_offered", "An order asks for cash on delivery only where the policy offers it: an offer for its channel, merchant and currency.";
    CashOnDeliveryLimitExceeded => "cash_on_delivery_limit_exceeded", "A cash-on-delivery order's total stays at most its offer's maximum order value.";
    CashOnDeliveryShipsWhole => "cash_on_delivery_ships_whole", "A cash-on-delivery order ships in one parcel: everything at once.";
    NotCashOnDelivery => "not_cash_on_delivery", "Only a cash-on-delivery order has its cash collected at the door.";
    CollectionNotOutstanding => "collection_not_outstanding", "The cash collected at the door is the order's outstanding total, in its currency.";
    CashNotCollected => "cash_not_collected", "A cash-on-delivery parcel is handed over only against the cash: record CollectCashOnDelivery, not RecordDelivery.";
    RefusalAfterDelivery => "refusal_after_delivery", "An order is refused at the door only while none of its parcels was delivered; afterwards it is a return.";
    // Stock items.
    StockInsufficient => "stock_insufficient", "A reservation never takes more than is available (on hand minus reserved).";
    ReservationConflict => "reservation_conflict", "An order holds one reservation per stock item; a repeat must ask for a range that holds what it already has.";
    ReservationMinimumInvalid => "reservation_minimum_invalid", "A reservation's minimum is at least 1 and at most the quantity asked.";
    ReservationNotFound => "reservation_not_found", "The order holds no reservation on this stock item.";
    ReservationExpiryNotInFuture => "reservation_expiry_not_in_future", "A reservation's expiry lies after the time it is made.";
    ReservationNotExpired => "reservation_not_expired", "A reservation is released for expiry only once its expiry has passed.";
    CommitExceedsReservation => "commit_exceeds_reservation", "A shipment commits at most the quantity the order reserved.";
    AdjustmentBelowReserved => "adjustment_below_reserved", "A counted quantity is never below what is reserved.";
    // The warehouse: waves, picks, packing, counts.
    WaveIdInvalid => "wave_id_invalid", "Wave ids are 1-64 of A-Z a-z 0-9 . _ -.";
    WaveAlreadyPlanned => "wave_already_planned", "A wave is planned once.";
    WaveNotFound => "wave_not_found", "Picks are recorded on a wave that was planned.";
    WaveOrdersInvalid => "wave_orders_invalid", "A wave lists 1 to 1000 orders, each once, each with at least one line, each SKU once per order.";
    PickNotInWave => "pick_not_in_wave", "A pick names an order and SKU on the wave's pick list.";
    PickAlreadyRecorded => "pick_already_recorded", "Each line of a pick list is picked once; a repeat with the same quantity changes nothing.";
    PickExceedsLine => "pick_exceeds_line", "A pick takes at most the quantity its line asks for.";
    PicksExceedUnshipped => "picks_exceed_unshipped", "Units picked for an order, with those picked or packed before and not shipped, are at most its unshipped units.";
    PicksInProgress => "picks_in_progress", "A stock item is counted only when no wave is picking it.";
    ParcelAlreadyPacked => "parcel_already_packed", "A parcel id is packed once, and never one an order's shipment already has.";
    PackSkuNotPicked => "pack_sku_not_picked", "A parcel holds only SKUs picked for the order.";
    PackExceedsPicked => "pack_exceeds_picked", "A parcel holds at most the units picked for the order and not yet packed.";
    PackIncomplete => "pack_incomplete", "A parcel holds every unit picked and not yet packed, unless adding one would make it heavier than the heaviest allowed service takes.";
    ParcelOverweight => "parcel_overweight", "Where the policy splits overweight orders, a parcel is no heavier than the heaviest allowed service takes.";
    ParcelNotPacked => "parcel_not_packed", "Where the policy ships packed parcels only, a shipment is a parcel packed through PackParcel.";
    ShipmentDiffersFromParcel => "shipment_differs_from_parcel", "A shipment of a packed parcel ships what was packed in it.";
    WeightRequired => "weight_required", "A shipment that is no packed parcel names its weight.";
    CarrierRefusesParcel => "carrier_refuses_parcel", "A carrier the carrier table names takes only parcels one of its rows takes: destination, weight, service level and handling.";
    FreightRateUnknown => "freight_rate_unknown", "A shipment that names no freight cost is priced by a rate of its carrier's in the order's currency.";
    // Finance.
    RunIdInvalid => "run_id_invalid", "Reconciliation run ids are 1-64 of A-Z a-z 0-9 . _ -.";
    ReconciliationAlreadyRecorded => "reconciliation_already_recorded", "A reconciliation run is recorded once.";
    AccountNameInvalid => "account_name_invalid", "A payment provider's name is 1-64 of A-Z a-z 0-9 . _ -.";
    SettlementDoesNotAddUp => "settlement_does_not_add_up", "A settlement batch's net plus its fees is its gross.";
    SettlementAlreadyRecorded => "settlement_already_recorded", "A settlement batch (bank reference) is recorded once per account.";
    PayoutExceedsAvailable => "payout_exceeds_available", "A payout is at most the merchant's available payable: captures − commission − refunds + commission reversals, less what is held back for open return windows, less earlier payouts.";
    TransferReferenceReused => "transfer_reference_reused", "A payout or payment reference names one transfer: repeating it with the same figures changes nothing, with other figures is refused.";
    CommissionExceedsAmount => "commission_exceeds_amount", "The commission on a capture, or given back on a refund, is at most the amount captured or refunded.";
    AccrualAlreadyRecorded => "accrual_already_recorded", "A capture's earnings, a refund's charge and a parcel's freight are accrued once.";
    CarrierInvoiceAlreadyRecorded => "carrier_invoice_already_recorded", "A carrier invoice (reference) is recorded once per account.";
    InvoiceParcelNotOpen => "invoice_parcel_not_open", "Each line of a carrier invoice names, once, a parcel whose freight was charged to that carrier and is not yet invoiced.";
    CarrierInvoiceNotFound => "carrier_invoice_not_found", "A carrier payment pays an invoice recorded on that carrier's account.";
    CarrierPaymentExceedsInvoice => "carrier_payment_exceeds_invoice", "Payments of a carrier invoice add up to at most what it invoiced.";
    CodParcelNotOpen => "cod_parcel_not_open", "Each parcel of a COD remittance names, once, a parcel whose cash that carrier collected and has not remitted yet.";
    CodRemittanceAlreadyRecorded => "cod_remittance_already_recorded", "A COD remittance (reference) is recorded once per carrier account.";
    CodRemittanceNegative => "cod_remittance_negative", "A COD remittance's fees and netted invoice add up to at most the cash it remits.";
    ReconciliationInconsistent => "reconciliation_inconsistent", "A reconciliation's figures agree with each other: matched lines at most the lines, unexplained breaks at most the breaks, variance = reported − expected, a SHA-256 of the report, a period that does not end before it starts.";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A command's refusal: the rule broken and what exactly broke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("{rule}: {detail}")]
pub struct Rejection {
    pub rule: Rule,
    /// What broke the rule, for a person: the field, the values involved.
    pub detail: String,
}

impl Rejection {
    pub fn new(rule: Rule, detail: impl Into<String>) -> Rejection {
        Rejection {
            rule,
            detail: detail.into(),
        }
    }
}

/// Shorthand for `Err(Rejection::new(..))` at the point a rule is checked.
pub(crate) fn reject<T>(rule: Rule, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(rule, detail))
}

/// Checks a rule: `ensure(condition, rule, detail)` rejects when the condition is false.
pub(crate) fn ensure(
    condition: bool,
    rule: Rule,
    detail: impl FnOnce() -> String,
) -> Result<(), Rejection> {
    if condition {
        Ok(())
    } else {
        reject(rule, detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_match_serde() {
        let mut seen = HashSet::new();
        for &rule in Rule::ALL {
            let code = rule.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(serde_json::to_value(rule).unwrap(), code);
        }
    }
}
