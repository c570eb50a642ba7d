//! One of everything: a command of every type and an event of every type, with fixed values
//! — what the golden fixtures, the published schemas' checks and the transition table's test
//! run over. New types go last, so every earlier fixture keeps its envelope.

use super::at;
use super::samples::*;
use super::warehouse;
use crate::account::*;
use crate::envelope::{Command, Event};
use crate::ids::*;
use crate::money::Currency;
use crate::order::*;
use crate::stock::*;

/// One command of every order command type, each valid in every status the transition table
/// allows it in (given [`history_to`] and a decision at minute 2880, two days in).
pub fn one_of_each_order_command() -> Vec<OrderCommand> {
    let order_id = order_id();
    vec![
        place_order().into(),
        ModifyPrice {
            order_id,
            sku: Sku::from(TSHIRT),
            unit_price: amount("18.00"),
            reason: "price match".to_owned(),
        }
        .into(),
        ApplyDiscount {
            order_id,
            discount: Discount {
                code: "WELCOME5".to_owned(),
                amount: amount("5.00"),
            },
        }
        .into(),
        CancelOrder {
            order_id,
            reason: CancelReason::CustomerRequest,
            note: String::new(),
        }
        .into(),
        ExpireOrder { order_id }.into(),
        PlanReservations {
            order_id,
            reservations: reservations(),
            continues: false,
        }
        .into(),
        RecordReservation {
            order_id,
            sku: Sku::from(MUG),
            warehouse: WarehouseId::from(WAREHOUSE),
            reserved: true,
            quantity: None,
        }
        .into(),
        ConfirmStockReserved {
            order_id,
            reservations: reservations(),
        }
        .into(),
        MarkStockShort {
            order_id,
            short_lines: vec![line_quantity(MUG, 1)],
            resolution: ShortResolution::Backorder,
        }
        .into(),
        CapturePayment {
            order_id,
            payment_id: PaymentId::from("P-NEW"),
            method: PaymentMethod::Wallet,
            amount: amount("10.00"),
            currency: Currency::EUR,
            psp_reference: "psp-new".to_owned(),
        }
        .into(),
        FailPayment {
            order_id,
            payment_id: PaymentId::from("P-NEW-FAIL"),
            reason: "insufficient funds".to_owned(),
        }
        .into(),
        ReleaseHold {
            order_id,
            note: "customer called".to_owned(),
        }
        .into(),
        AllocateWarehouse {
            order_id,
            allocations: vec![Allocation {
                sku: Sku::from(TSHIRT),
                warehouse: WarehouseId::from(WAREHOUSE),
            }],
        }
        .into(),
        Ship {
            order_id,
            shipment_id: ShipmentId::from("S-NEW"),
            carrier: Some(CarrierId::from("ups")),
            service_level: ServiceLevel::Standard,
            tracking_number: "1Z999".to_owned(),
            lines: vec![line_quantity(MUG, 1)],
            freight_cost: Some(amount("2.10")),
            weight_grams: Some(400),
        }
        .into(),
        RecordCarrierException {
            order_id,
            shipment_id: ShipmentId::from("S1"),
            kind: CarrierExceptionKind::Delayed,
            note: "hub congestion".to_owned(),
        }
        .into(),
        RecordDelivery {
            order_id,
            shipment_id: ShipmentId::from("S1"),
        }
        .into(),
        CollectCashOnDelivery {
            order_id,
            shipment_id: ShipmentId::from("S1"),
            payment_id: PaymentId::from("COD-1"),
            amount: amount(TOTAL),
            currency: Currency::EUR,
        }
        .into(),
        RefuseDelivery {
            order_id,
            shipment_id: ShipmentId::from("S1"),
            note: "not at home, neighbour refused".to_owned(),
        }
        .into(),
        ConfirmReceipt { order_id }.into(),
        RequestReturn {
            order_id,
            return_id: ReturnId::from("R-NEW"),
            lines: vec![line_quantity(TSHIRT, 1)],
            reason: ReturnReason::ChangedMind,
        }
        .into(),
        RequestExchange {
            order_id,
            return_id: ReturnId::from("X-NEW"),
            lines: vec![line_quantity(TSHIRT, 1)],
            replacement: vec![line_quantity("TSHIRT-RED-L", 1)],
            reason: ReturnReason::WrongItem,
        }
        .into(),
        ReceiveReturn {
            order_id,
            return_id: ReturnId::from("R1"),
            disposition: ReturnDisposition::Restock,
        }
        .into(),
        Refund {
            order_id,
            refund_id: RefundId::from("RF-NEW"),
            amount: amount("1.00"),
            reason: RefundReason::Goodwill,
            psp_reference: "psp-rf-new".to_owned(),
        }
        .into(),
        RecordFeedback {
            order_id,
            rating: 4,
            comment: "fast delivery".to_owned(),
            claim: None,
        }
        .into(),
        ReviewOrder {
            order_id,
            rating: 2,
            text: "mug arrived chipped".to_owned(),
        }
        .into(),
        ReviseReview {
            order_id,
            rating: 4,
            text: "support replaced it quickly".to_owned(),
        }
        .into(),
        OpenClaim {
            order_id,
            claim_id: ClaimId::from("C1"),
            kind: ClaimKind::NotReceived,
            text: "the parcel never came".to_owned(),
        }
        .into(),
        ResolveClaim {
            order_id,
            claim_id: ClaimId::from("C1"),
            resolution: ClaimResolution::Rejected(ClaimRejection {
                reason: "the photos show the item as listed".to_owned(),
            }),
        }
        .into(),
        warehouse::record_picks(vec![line_quantity(MUG, 1)]).into(),
        warehouse::pack_parcel("P9", vec![line_quantity(MUG, 1)], 420).into(),
    ]
}

/// One event of every type, order and stock, with fixed values: the golden fixtures' content.
pub fn one_of_each_event() -> Vec<Event> {
    let order_events: Vec<OrderEvent> = vec![
        order_placed(),
        PriceModified {
            sku: Sku::from(TSHIRT),
            previous_unit_price: amount("19.99"),
            unit_price: amount("18.00"),
            reason: "price match".to_owned(),
        }
        .into(),
        DiscountApplied {
            discount: Discount {
                code: "WELCOME5".to_owned(),
                amount: amount("5.00"),
            },
        }
        .into(),
        cancelled("54.38"),
        OrderExpired { expired_at: at(31) }.into(),
        stock_reserved(),
        stock_short(ShortResolution::Split),
        payment_captured("P1", TOTAL),
        payment_failed(),
        HoldReleased {
            note: "customer called".to_owned(),
        }
        .into(),
        WarehouseAllocated {
            allocations: vec![Allocation {
                sku: Sku::from(MUG),
                warehouse: WarehouseId::from(WAREHOUSE),
            }],
        }
        .into(),
        shipment_dispatched("S1", everything()),
        CarrierExceptionRecorded {
            shipment_id: ShipmentId::from("S1"),
            kind: CarrierExceptionKind::Damaged,
            note: "box crushed".to_owned(),
        }
        .into(),
        shipment_delivered("S1"),
        ReceiptConfirmed {
            automatic: true,
            confirmed_at: at(11520),
        }
        .into(),
        return_requested("R1", vec![line_quantity(MUG, 1)]),
        ExchangeRequested {
            return_id: ReturnId::from("X1"),
            lines: vec![line_quantity(TSHIRT, 1)],
            replacement: vec![line_quantity("TSHIRT-RED-L", 1)],
            reason: ReturnReason::WrongItem,
        }
        .into(),
        return_received("R1", vec![line_quantity(MUG, 1)]),
        refund_issued("RF1", "9.50"),
        FeedbackRecorded {
            rating: 2,
            comment: "mug arrived broken".to_owned(),
            claim: Some(ClaimKind::Defective),
        }
        .into(),
    ];
    let stock_events: Vec<StockEvent> = vec![
        StockReceived {
            quantity: 100,
            reference: "PO-2026-001".to_owned(),
        }
        .into(),
        StockAdjusted {
            previous_on_hand: 100,
            counted_quantity: 98,
            reason: "cycle count".to_owned(),
        }
        .into(),
        SafetyStockSet { quantity: 10 }.into(),
        StockReserved {
            order_id: order_id(),
            quantity: 1,
            expires_at: at(30),
        }
        .into(),
        ReservationReleased {
            order_id: order_id(),
            quantity: 1,
            reason: ReleaseReason::Expired,
        }
        .into(),
        ReservationCommitted {
            order_id: order_id(),
            shipment_id: ShipmentId::from("S1"),
            quantity: 1,
        }
        .into(),
        StockRestocked {
            order_id: order_id(),
            return_id: ReturnId::from("R1"),
            quantity: 1,
        }
        .into(),
    ];
    // Types added later go last, so every earlier fixture keeps its envelope.
    let added_later: Vec<OrderEvent> = vec![
        ReservationsPlanned {
            reservations: reservations(),
            continues: false,
        }
        .into(),
        ReservationRecorded {
            sku: Sku::from(MUG),
            warehouse: WarehouseId::from(WAREHOUSE),
            quantity: 1,
            reserved: true,
            reserved_quantity: 1,
        }
        .into(),
    ];
    order_events
        .into_iter()
        .map(Event::Order)
        .chain(stock_events.into_iter().map(Event::Stock))
        .chain(added_later.into_iter().map(Event::Order))
        .chain([Event::Reconciliation(reconciliation_recorded().into())])
        .chain([Event::Account(psp_settlement_recorded().into())])
        .chain(account_events().into_iter().map(Event::Account))
        .chain(reviews_and_claims().into_iter().map(Event::Order))
        .chain(cash_on_delivery_events())
        .chain(warehouse::events())
        .collect()
}

/// The events of cash on delivery and refusal at the door (added after every type before
/// them, so last).
fn cash_on_delivery_events() -> Vec<Event> {
    let remit = record_cod_remittance();
    let freight = charge_merchant_freight();
    let order: Vec<OrderEvent> = vec![
        cash_collected(3000),
        delivery_refused("rts-S1", "not at home, neighbour refused", 3000),
    ];
    let accrue = accrue_carrier_cod();
    let account: Vec<AccountEvent> = vec![
        CarrierCodAccrued {
            carrier: accrue.carrier,
            currency: accrue.currency,
            order_id: accrue.order_id,
            tracking_number: accrue.tracking_number,
            amount: accrue.amount,
        }
        .into(),
        CodRemitted {
            carrier: remit.carrier,
            currency: remit.currency,
            remittance_reference: remit.remittance_reference,
            received_on: remit.received_on,
            parcels: vec![RemittedParcel {
                tracking_number: "TRK-S1".to_owned(),
                amount: amount(TOTAL),
            }],
            gross: amount(TOTAL),
            fees: remit.fees,
            netted: remit.netted,
            net: amount("48.33"),
        }
        .into(),
        MerchantFreightCharged {
            merchant_id: freight.merchant_id,
            currency: freight.currency,
            order_id: freight.order_id,
            shipment_id: freight.shipment_id,
            freight: freight.freight,
        }
        .into(),
    ];
    let order = order.into_iter().map(Event::Order);
    order
        .chain(account.into_iter().map(Event::Account))
        .collect()
}

/// The events of reviews and claims (added after every type before them, so last).
fn reviews_and_claims() -> Vec<OrderEvent> {
    vec![
        ReviewRecorded {
            rating: 2,
            text: "mug arrived chipped".to_owned(),
            reviewed_at: at(3000),
        }
        .into(),
        ReviewRevised {
            rating: 4,
            text: "support replaced it quickly".to_owned(),
            revised_at: at(4000),
        }
        .into(),
        ClaimOpened {
            claim_id: ClaimId::from("C1"),
            kind: ClaimKind::Damaged,
            text: "the handle broke off in transit".to_owned(),
            opened_at: at(3100),
        }
        .into(),
        ClaimResolved {
            claim_id: ClaimId::from("C1"),
            resolution: ClaimResolution::Replacement(ClaimReplacement {
                return_id: ReturnId::from("X-C1"),
                lines: vec![line_quantity(MUG, 1)],
            }),
            resolved_at: at(3200),
        }
        .into(),
    ]
}

/// One command of every type the ledger decides, each a valid instance of its type.
pub fn one_of_each_command() -> Vec<Command> {
    let item = stock_key();
    let order_id = order_id();
    let stock: Vec<StockCommand> = vec![
        ReceiveStock {
            item: item.clone(),
            quantity: 40,
            reference: "PO-1".to_owned(),
        }
        .into(),
        AdjustStock {
            item: item.clone(),
            counted_quantity: 38,
            reason: "cycle count".to_owned(),
        }
        .into(),
        SetSafetyStock {
            item: item.clone(),
            quantity: 5,
        }
        .into(),
        ReserveStock {
            item: item.clone(),
            order_id,
            quantity: 2,
            expires_at: at(30),
            minimum: Some(1),
        }
        .into(),
        ReleaseReservation {
            item: item.clone(),
            order_id,
            reason: ReleaseReason::OrderCancelled,
        }
        .into(),
        CommitReservation {
            item: item.clone(),
            order_id,
            shipment_id: ShipmentId::from("s-1"),
            quantity: 2,
        }
        .into(),
        RestockReturn {
            item,
            order_id,
            return_id: ReturnId::from("r-1"),
            quantity: 1,
        }
        .into(),
    ];
    let accounts: Vec<Command> = vec![
        record_psp_settlement().into(),
        accrue_merchant_earnings().into(),
        charge_merchant_refund().into(),
        start_return_window().into(),
        payout_merchant().into(),
        accrue_carrier_freight().into(),
        record_carrier_invoice().into(),
        pay_carrier().into(),
        accrue_carrier_cod().into(),
        record_cod_remittance().into(),
        charge_merchant_freight().into(),
    ];
    let orders = one_of_each_order_command().into_iter().map(Command::from);
    orders
        .chain(stock.into_iter().map(Command::from))
        .chain(accounts)
        .chain([record_reconciliation().into()])
        .chain(warehouse::commands())
        .collect()
}
