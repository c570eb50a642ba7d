//! Sample commands and events: one realistic order and one stock item, and the event histories
//! that bring the order to each status.
//!
//! The sample order: channel `web`, reference `W-1001`, 2 × `TSHIRT-RED-M` at 19.99 and
//! 1 × `MUG-01` at 9.50, shipping 4.90, EUR — a total of 54.38.

use std::str::FromStr;

use chrono::NaiveDate;
use uuid::Uuid;

use super::at;
use crate::account::*;
use crate::context::{Actor, ActorKind};
use crate::envelope::{Command, CommandEnvelope};
use crate::ids::*;
use crate::money::{Amount, Currency};
use crate::order::*;
use crate::reconciliation::*;

pub const TSHIRT: &str = "TSHIRT-RED-M";
pub const MUG: &str = "MUG-01";
pub const WAREHOUSE: &str = "BER-1";
pub const TOTAL: &str = "54.38";

pub fn amount(text: &str) -> Amount {
    Amount::from_str(text).expect("sample amounts are valid")
}

pub fn order_id() -> OrderId {
    OrderId::for_external_reference("web", "W-1001")
}

pub fn line_quantity(sku: &str, quantity: u32) -> LineQuantity {
    LineQuantity {
        sku: Sku::from(sku),
        quantity,
    }
}

pub fn address() -> Address {
    Address {
        recipient: "Erika Mustermann".to_owned(),
        phone: "+49 30 1234567".to_owned(),
        street: "Unter den Linden 1".to_owned(),
        city: "Berlin".to_owned(),
        postal_code: "10117".to_owned(),
        country: "DE".to_owned(),
    }
}

pub fn place_order() -> PlaceOrder {
    PlaceOrder {
        channel: Channel::from("web"),
        external_reference: "W-1001".to_owned(),
        customer_id: CustomerId::from("cust-42"),
        merchant_id: MerchantId::from(MERCHANT),
        currency: Currency::EUR,
        lines: vec![
            LineItem {
                sku: Sku::from(TSHIRT),
                quantity: 2,
                unit_price: amount("19.99"),
            },
            LineItem {
                sku: Sku::from(MUG),
                quantity: 1,
                unit_price: amount("9.50"),
            },
        ],
        shipping_fee: amount("4.90"),
        discounts: Vec::new(),
        shipping_address: address(),
        payment_terms: PaymentTerms::Prepaid,
        service_level: ServiceLevel::Standard,
    }
}

/// The sample order, paid cash on delivery (the policy must offer it: [`cod_policy`]).
pub fn place_cod_order() -> PlaceOrder {
    PlaceOrder {
        payment_terms: PaymentTerms::CashOnDelivery,
        ..place_order()
    }
}

/// The default policy, offering cash on delivery in EUR up to 100.00 on every channel.
pub fn cod_policy() -> crate::Policy {
    crate::Policy {
        cash_on_delivery: vec![crate::context::CashOnDeliveryOffer {
            channel: None,
            merchant: None,
            currency: Currency::EUR,
            max_order_value: amount("100.00"),
        }],
        ..crate::Policy::default()
    }
}

/// `OrderPlaced` of [`place_cod_order`], decided at minute 0.
pub fn cod_order_placed() -> OrderEvent {
    let OrderEvent::OrderPlaced(placed) = order_placed() else {
        unreachable!("order_placed places")
    };
    OrderPlaced {
        payment_terms: PaymentTerms::CashOnDelivery,
        ..placed
    }
    .into()
}

/// The cash-on-delivery sample order refused at the door, its parcel on the way back as return
/// case `return_id`.
pub fn cod_refused(return_id: &str) -> Vec<OrderEvent> {
    let refused: Vec<OrderEvent> = vec![
        delivery_refused(return_id, "", 1440),
        OrderCancelled {
            reason: CancelReason::DeliveryRefused,
            note: String::new(),
            refund_due: amount("0.00"),
        }
        .into(),
    ];
    [cod_shipped(), refused].concat()
}

/// The carrier collects `value` at the door for parcel S1 (payment COD-1).
pub fn collect_cash(value: &str) -> CollectCashOnDelivery {
    CollectCashOnDelivery {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
        payment_id: PaymentId::from("COD-1"),
        amount: amount(value),
        currency: Currency::EUR,
    }
}

/// What [`collect_cash`] of the whole total records first, at `minute`.
pub fn cash_collected(minute: i64) -> OrderEvent {
    CashCollected {
        payment_id: PaymentId::from("COD-1"),
        shipment_id: ShipmentId::from("S1"),
        carrier: CarrierId::from("dhl"),
        tracking_number: "TRK-S1".to_owned(),
        amount: amount(TOTAL),
        collected_at: at(minute),
    }
    .into()
}

/// Parcel S1 refused at the door at `minute`, saying `note`, back as case `return_id`; its
/// 3.20 freight on the merchant.
pub fn delivery_refused(return_id: &str, note: &str, minute: i64) -> OrderEvent {
    DeliveryRefused {
        shipment_id: ShipmentId::from("S1"),
        return_id: ReturnId::from(return_id),
        lines: everything(),
        note: note.to_owned(),
        freight: amount("3.20"),
        freight_payer: FreightPayer::Merchant,
        refused_at: at(minute),
    }
    .into()
}

/// The cash-on-delivery sample order, everything shipped in parcel S1 and not yet delivered.
pub fn cod_shipped() -> Vec<OrderEvent> {
    vec![
        cod_order_placed(),
        stock_reserved(),
        shipment_dispatched("S1", everything()),
    ]
}

/// A card capture of `value` (in the sample order's currency) under `payment_id`.
pub fn capture(payment_id: &str, value: &str) -> CapturePayment {
    CapturePayment {
        order_id: order_id(),
        payment_id: PaymentId::from(payment_id),
        method: PaymentMethod::Card,
        amount: amount(value),
        currency: Currency::EUR,
        psp_reference: format!("psp-{payment_id}"),
    }
}

/// `OrderPlaced` as decided at minute 0 with the default policy (payment due at minute 30).
pub fn order_placed() -> OrderEvent {
    let c = place_order();
    OrderPlaced {
        order_id: order_id(),
        channel: c.channel,
        external_reference: c.external_reference,
        customer_id: c.customer_id,
        merchant_id: c.merchant_id,
        currency: c.currency,
        lines: c.lines,
        shipping_fee: c.shipping_fee,
        discounts: c.discounts,
        shipping_address: c.shipping_address,
        placed_at: at(0),
        payment_due_at: at(30),
        payment_terms: PaymentTerms::Prepaid,
        service_level: c.service_level,
    }
    .into()
}

pub fn reservations() -> Vec<ReservedLine> {
    vec![
        ReservedLine {
            sku: Sku::from(TSHIRT),
            warehouse: WarehouseId::from(WAREHOUSE),
            quantity: 2,
        },
        ReservedLine {
            sku: Sku::from(MUG),
            warehouse: WarehouseId::from(WAREHOUSE),
            quantity: 1,
        },
    ]
}

pub fn stock_reserved() -> OrderEvent {
    StockReservationConfirmed {
        reservations: reservations(),
    }
    .into()
}

pub fn stock_short(resolution: ShortResolution) -> OrderEvent {
    StockShortRecorded {
        short_lines: vec![line_quantity(MUG, 1)],
        resolution,
    }
    .into()
}

pub fn payment_captured(payment_id: &str, value: &str) -> OrderEvent {
    PaymentCaptured {
        payment_id: PaymentId::from(payment_id),
        method: PaymentMethod::Card,
        amount: amount(value),
        psp_reference: format!("psp-{payment_id}"),
    }
    .into()
}

pub fn payment_failed() -> OrderEvent {
    PaymentFailed {
        payment_id: PaymentId::from("P-FAILED"),
        reason: "card declined".to_owned(),
    }
    .into()
}

pub fn shipment_dispatched(shipment_id: &str, lines: Vec<LineQuantity>) -> OrderEvent {
    ShipmentDispatched {
        shipment_id: ShipmentId::from(shipment_id),
        carrier: CarrierId::from("dhl"),
        tracking_number: format!("TRK-{shipment_id}"),
        lines,
        freight_cost: amount("3.20"),
        weight_grams: 850,
        dispatched_at: at(120),
    }
    .into()
}

pub fn shipment_delivered(shipment_id: &str) -> OrderEvent {
    ShipmentDelivered {
        shipment_id: ShipmentId::from(shipment_id),
        delivered_at: at(1440),
    }
    .into()
}

pub fn return_requested(return_id: &str, lines: Vec<LineQuantity>) -> OrderEvent {
    ReturnRequested {
        return_id: ReturnId::from(return_id),
        lines,
        reason: ReturnReason::Defective,
    }
    .into()
}

pub fn return_received(return_id: &str, lines: Vec<LineQuantity>) -> OrderEvent {
    ReturnReceived {
        return_id: ReturnId::from(return_id),
        disposition: ReturnDisposition::Restock,
        lines,
    }
    .into()
}

pub fn refund_issued(refund_id: &str, value: &str) -> OrderEvent {
    RefundIssued {
        refund_id: RefundId::from(refund_id),
        amount: amount(value),
        reason: RefundReason::Return,
        psp_reference: format!("psp-{refund_id}"),
    }
    .into()
}

pub fn cancelled(refund_due: &str) -> OrderEvent {
    OrderCancelled {
        reason: CancelReason::CustomerRequest,
        note: "changed my mind".to_owned(),
        refund_due: amount(refund_due),
    }
    .into()
}

pub fn everything() -> Vec<LineQuantity> {
    vec![line_quantity(TSHIRT, 2), line_quantity(MUG, 1)]
}

/// A history that brings the sample order to `status`. For `Cancelled`, the order was paid
/// first (so a refund is due); for `OnHold`, a payment failed while awaiting payment; for
/// `Refunded`, the money went back on a return request whose goods are still in transit.
pub fn history_to(status: OrderStatus) -> Vec<OrderEvent> {
    use OrderStatus::*;
    let awaiting = vec![order_placed(), stock_reserved()];
    let paid = [awaiting.clone(), vec![payment_captured("P1", TOTAL)]].concat();
    let shipped = [paid.clone(), vec![shipment_dispatched("S1", everything())]].concat();
    let delivered = [shipped.clone(), vec![shipment_delivered("S1")]].concat();
    let mug = || vec![line_quantity(MUG, 1)];
    match status {
        Initial => Vec::new(),
        Placed => vec![order_placed()],
        Backordered => vec![order_placed(), stock_short(ShortResolution::Backorder)],
        AwaitingPayment => awaiting,
        PartiallyPaid => [awaiting, vec![payment_captured("P1", "20.00")]].concat(),
        Paid => paid,
        ReadyToShip => vec![cod_order_placed(), stock_reserved()],
        PartiallyShipped => [
            paid,
            vec![shipment_dispatched("S1", vec![line_quantity(TSHIRT, 2)])],
        ]
        .concat(),
        Shipped => shipped,
        Delivered => delivered,
        Completed => [
            delivered,
            vec![ReceiptConfirmed {
                automatic: false,
                confirmed_at: at(2000),
            }
            .into()],
        ]
        .concat(),
        OnHold => [awaiting, vec![payment_failed()]].concat(),
        ReturnRequested => [delivered, vec![return_requested("R1", mug())]].concat(),
        PartiallyReturned => [
            delivered,
            vec![return_requested("R1", mug()), return_received("R1", mug())],
        ]
        .concat(),
        Returned => [
            delivered,
            vec![
                return_requested("R1", everything()),
                return_received("R1", everything()),
            ],
        ]
        .concat(),
        // Refunded on request, with the goods of return case R1 still on their way back.
        Refunded => [
            delivered,
            vec![return_requested("R1", mug()), refund_issued("RF1", TOTAL)],
        ]
        .concat(),
        Cancelled => [paid, vec![cancelled(TOTAL)]].concat(),
        Expired => [awaiting, vec![OrderExpired { expired_at: at(31) }.into()]].concat(),
    }
}

pub fn stock_key() -> StockKey {
    StockKey::new(MUG, WAREHOUSE)
}

/// The order process's record of the sample COD parcel's cash at its carrier.
pub fn accrue_carrier_cod() -> AccrueCarrierCod {
    AccrueCarrierCod {
        carrier: CarrierId::from("dhl"),
        currency: Currency::EUR,
        order_id: order_id(),
        tracking_number: "TRK-S1".to_owned(),
        amount: amount(TOTAL),
    }
}

/// The carrier remits the sample parcel's 54.38 less 0.90 fees, netting all 5.15 of invoice
/// DHL-INV-77: 48.33 to the bank.
pub fn record_cod_remittance() -> RecordCodRemittance {
    RecordCodRemittance {
        carrier: CarrierId::from("dhl"),
        currency: Currency::EUR,
        remittance_reference: "DHL-COD-2026-11".to_owned(),
        received_on: NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"),
        parcels: vec!["TRK-S1".to_owned()],
        fees: amount("0.90"),
        netted: Some(NettedInvoice {
            invoice_reference: "DHL-INV-77".to_owned(),
            amount: amount("5.15"),
        }),
    }
}

/// The freight of the sample parcel refused at the door, charged to the merchant.
pub fn charge_merchant_freight() -> ChargeMerchantFreight {
    ChargeMerchantFreight {
        merchant_id: MerchantId::from(MERCHANT),
        currency: Currency::EUR,
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
        freight: amount("3.20"),
    }
}

/// A payment provider's settlement batch: 1 000.00 captured, 14.30 fees, 985.70 to the bank.
pub fn record_psp_settlement() -> RecordPspSettlement {
    RecordPspSettlement {
        provider: "adyen".to_owned(),
        currency: Currency::EUR,
        bank_reference: "SEPA-2026-10-31-0001".to_owned(),
        gross: amount("1000.00"),
        fees: amount("14.30"),
        net: amount("985.70"),
        settled_on: NaiveDate::from_ymd_opt(2026, 10, 31).expect("a date"),
    }
}

/// The event [`record_psp_settlement`] records.
pub fn psp_settlement_recorded() -> PspSettlementRecorded {
    let c = record_psp_settlement();
    PspSettlementRecorded {
        provider: c.provider,
        currency: c.currency,
        bank_reference: c.bank_reference,
        gross: c.gross,
        fees: c.fees,
        net: c.net,
        settled_on: c.settled_on,
    }
}

/// The sample order's merchant.
pub fn merchant() -> MerchantId {
    MerchantId::from(MERCHANT)
}

pub const MERCHANT: &str = "merchant-7";

/// The sample order's capture (54.38) accrued to its merchant, with 10 % commission.
pub fn accrue_merchant_earnings() -> AccrueMerchantEarnings {
    AccrueMerchantEarnings {
        merchant_id: merchant(),
        currency: Currency::EUR,
        order_id: order_id(),
        payment_id: PaymentId::from("P1"),
        captured: amount(TOTAL),
        commission: amount("5.44"),
    }
}

/// A refund of 9.50 on the sample order charged to its merchant, 0.95 commission given back.
pub fn charge_merchant_refund() -> ChargeMerchantRefund {
    ChargeMerchantRefund {
        merchant_id: merchant(),
        currency: Currency::EUR,
        order_id: order_id(),
        refund_id: RefundId::from("RF1"),
        refunded: amount("9.50"),
        commission_share: amount("0.95"),
    }
}

/// The sample order delivered a day after the testkit's epoch.
pub fn start_return_window() -> StartReturnWindow {
    StartReturnWindow {
        merchant_id: merchant(),
        currency: Currency::EUR,
        order_id: order_id(),
        delivered_at: at(1440),
    }
}

/// A payout of 40.00 to the sample merchant.
pub fn payout_merchant() -> PayoutMerchant {
    PayoutMerchant {
        merchant_id: merchant(),
        currency: Currency::EUR,
        amount: amount("40.00"),
        payout_reference: "PO-2026-11-001".to_owned(),
    }
}

/// The sample order's parcel owing DHL 4.90 freight.
pub fn accrue_carrier_freight() -> AccrueCarrierFreight {
    AccrueCarrierFreight {
        carrier: CarrierId::from("dhl"),
        currency: Currency::EUR,
        order_id: order_id(),
        tracking_number: "TRK-1".to_owned(),
        freight: amount("4.90"),
    }
}

/// DHL's invoice for the sample parcel: 5.15 billed against 4.90 charged.
pub fn record_carrier_invoice() -> RecordCarrierInvoice {
    RecordCarrierInvoice {
        carrier: CarrierId::from("dhl"),
        currency: Currency::EUR,
        invoice_reference: "DHL-INV-77".to_owned(),
        issued_on: NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"),
        lines: vec![CarrierInvoiceLine {
            tracking_number: "TRK-1".to_owned(),
            freight: amount("5.15"),
        }],
    }
}

/// DHL's invoice paid in full.
pub fn pay_carrier() -> PayCarrier {
    PayCarrier {
        carrier: CarrierId::from("dhl"),
        currency: Currency::EUR,
        invoice_reference: "DHL-INV-77".to_owned(),
        amount: amount("5.15"),
        payment_reference: "SEPA-DHL-0001".to_owned(),
    }
}

/// One event of each merchant and carrier type, as the sample commands above record them
/// (the payout at the testkit's epoch + 20 days, with the default 14-day return window).
pub fn account_events() -> Vec<AccountEvent> {
    let accrue = accrue_merchant_earnings();
    let refund = charge_merchant_refund();
    let window = start_return_window();
    let payout = payout_merchant();
    let freight = accrue_carrier_freight();
    let invoice = record_carrier_invoice();
    let pay = pay_carrier();
    vec![
        MerchantEarningsAccrued {
            merchant_id: accrue.merchant_id,
            currency: accrue.currency,
            order_id: accrue.order_id,
            payment_id: accrue.payment_id,
            captured: accrue.captured,
            commission: accrue.commission,
        }
        .into(),
        MerchantRefundCharged {
            merchant_id: refund.merchant_id,
            currency: refund.currency,
            order_id: refund.order_id,
            refund_id: refund.refund_id,
            refunded: refund.refunded,
            commission_reversed: refund.commission_share,
        }
        .into(),
        ReturnWindowStarted {
            merchant_id: window.merchant_id,
            currency: window.currency,
            order_id: window.order_id,
            delivered_at: window.delivered_at,
        }
        .into(),
        MerchantPaidOut {
            merchant_id: payout.merchant_id,
            currency: payout.currency,
            amount: payout.amount,
            payout_reference: payout.payout_reference,
            available: amount("40.39"),
            windows_closed_through: at(6 * 1440),
        }
        .into(),
        CarrierFreightAccrued {
            carrier: freight.carrier,
            currency: freight.currency,
            order_id: freight.order_id,
            tracking_number: freight.tracking_number,
            freight: freight.freight,
        }
        .into(),
        CarrierInvoiceRecorded {
            carrier: invoice.carrier,
            currency: invoice.currency,
            invoice_reference: invoice.invoice_reference,
            issued_on: invoice.issued_on,
            lines: vec![InvoicedParcel {
                tracking_number: "TRK-1".to_owned(),
                charged: amount("4.90"),
                invoiced: amount("5.15"),
            }],
            charged: amount("4.90"),
            invoiced: amount("5.15"),
        }
        .into(),
        CarrierPaid {
            carrier: pay.carrier,
            currency: pay.currency,
            invoice_reference: pay.invoice_reference,
            amount: pay.amount,
            payment_reference: pay.payment_reference,
        }
        .into(),
    ]
}

/// The run id of the sample reconciliation.
pub const RUN_ID: &str = "psp-2026-10";

/// A reconciliation of October with one missing capture and one payment in transit.
pub fn record_reconciliation() -> RecordReconciliation {
    RecordReconciliation {
        run_id: RUN_ID.to_owned(),
        outcome: ReconciliationOutcome {
            provider: "adyen".to_owned(),
            report_sha256: "ab".repeat(32),
            period_from: NaiveDate::from_ymd_opt(2026, 10, 1),
            period_to: NaiveDate::from_ymd_opt(2026, 10, 31),
            transaction_lines: 120,
            auto_matched: 118,
            breaks: [
                ("missing_in_ledger".to_owned(), 1),
                ("timing".to_owned(), 1),
            ]
            .into(),
            unexplained: 1,
            currencies: vec![ReconciledCurrency {
                currency: Currency::EUR,
                expected_net: amount("4200.00"),
                reported_net: amount("4242.00"),
                variance: amount("42.00"),
            }],
        },
    }
}

/// The event [`record_reconciliation`] records.
pub fn reconciliation_recorded() -> ReconciliationRecorded {
    ReconciliationRecorded {
        outcome: record_reconciliation().outcome,
    }
}

/// A command envelope with fixed ids and times around `command`.
pub fn envelope(command: impl Into<Command>, seed: u128) -> CommandEnvelope {
    let command_id = Uuid::from_u128(0x0c0d_0000_0000_4000_8000_0000_0000_0000 | seed);
    CommandEnvelope {
        command_id,
        correlation_id: command_id,
        causation_id: None,
        actor: Actor::new(ActorKind::Service, "checkout"),
        issued_at: at(0),
        command: command.into(),
    }
}
