//! The commands and events of the finance accounts.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CarrierId, MerchantId, OrderId, PaymentId, RefundId, ShipmentId};
use crate::message::message_set;
use crate::money::{Amount, Currency};

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

    /// The order process: a capture on one of the merchant's orders earns the merchant the
    /// captured amount less the platform's commission on it. Issued by the system only.
    pub struct AccrueMerchantEarnings {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub payment_id: PaymentId,
        pub captured: Amount,
        /// The platform's commission on the capture (the settlement rules' rate of it).
        pub commission: Amount,
    }

    pub struct MerchantEarningsAccrued {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub payment_id: PaymentId,
        pub captured: Amount,
        pub commission: Amount,
    }

    /// The order process: a refund on one of the merchant's orders is borne by the merchant,
    /// less the commission the platform gives back. Issued by the system only.
    pub struct ChargeMerchantRefund {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub refund_id: RefundId,
        pub refunded: Amount,
        /// The settlement rules' rate of the refund: given back, up to what is left of the
        /// commission charged on the order.
        pub commission_share: Amount,
    }

    pub struct MerchantRefundCharged {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub refund_id: RefundId,
        pub refunded: Amount,
        /// The commission given back.
        pub commission_reversed: Amount,
    }

    /// The order process: the merchant's order was delivered, so its return window runs from
    /// `delivered_at`; its earnings are held back until the window closes. System only.
    pub struct StartReturnWindow {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub delivered_at: DateTime<Utc>,
    }

    pub struct ReturnWindowStarted {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub delivered_at: DateTime<Utc>,
    }

    /// Finance pays a merchant: at most what is available (earnings less what is held back
    /// for open return windows, less earlier payouts). Idempotent by `payout_reference`.
    pub struct PayoutMerchant {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub amount: Amount,
        /// The bank transfer's reference: one payout per reference.
        pub payout_reference: String,
    }

    pub struct MerchantPaidOut {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub amount: Amount,
        pub payout_reference: String,
        /// What was available before this payout.
        pub available: Amount,
        /// Orders delivered at or before this time were past their return window at the
        /// payout: their earnings are no longer held back, and the account stops tracking them.
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub windows_closed_through: DateTime<Utc>,
    }

    /// The order process: a dispatched parcel owes its carrier the freight charged for it.
    /// System only.
    pub struct AccrueCarrierFreight {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub order_id: OrderId,
        /// The carrier's tracking number: what its invoice lines name.
        pub tracking_number: String,
        pub freight: Amount,
    }

    pub struct CarrierFreightAccrued {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub tracking_number: String,
        pub freight: Amount,
    }

    /// Finance records a carrier's invoice: what it bills for each parcel. The difference to
    /// the freight charged for those parcels is the invoice's variance.
    pub struct RecordCarrierInvoice {
        pub carrier: CarrierId,
        pub currency: Currency,
        /// The carrier's invoice number: recorded once.
        pub invoice_reference: String,
        pub issued_on: NaiveDate,
        pub lines: Vec<CarrierInvoiceLine>,
    }

    /// One parcel on a carrier's invoice.
    pub struct CarrierInvoiceLine {
        pub tracking_number: String,
        /// What the carrier bills for it.
        pub freight: Amount,
    }

    pub struct CarrierInvoiceRecorded {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub invoice_reference: String,
        pub issued_on: NaiveDate,
        pub lines: Vec<InvoicedParcel>,
        /// Freight charged for the parcels, when they were dispatched.
        pub charged: Amount,
        /// Freight the carrier invoiced for them.
        pub invoiced: Amount,
    }

    /// One parcel of a recorded invoice: what was charged at dispatch and what was billed.
    pub struct InvoicedParcel {
        pub tracking_number: String,
        pub charged: Amount,
        pub invoiced: Amount,
    }

    /// Finance pays (part of) a recorded carrier invoice. Idempotent by `payment_reference`.
    pub struct PayCarrier {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub invoice_reference: String,
        pub amount: Amount,
        /// The bank transfer's reference: one payment per reference.
        pub payment_reference: String,
    }

    pub struct CarrierPaid {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub invoice_reference: String,
        pub amount: Amount,
        pub payment_reference: String,
    }

    /// The order process records the cash a carrier collected at the door (from the order's
    /// `CashCollected`): the carrier owes it until it remits it.
    pub struct AccrueCarrierCod {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub tracking_number: String,
        pub amount: Amount,
    }

    pub struct CarrierCodAccrued {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub tracking_number: String,
        pub amount: Amount,
    }

    /// Finance records a carrier's remittance of cash collected on delivery: the parcels it
    /// covers, the carrier's fees, and any invoice of the carrier's it nets (the carrier keeps
    /// that much against the invoice). What reaches the bank is the cash less both.
    pub struct RecordCodRemittance {
        pub carrier: CarrierId,
        pub currency: Currency,
        /// The bank transfer's reference: recorded once.
        pub remittance_reference: String,
        pub received_on: NaiveDate,
        /// The parcels' tracking numbers, each collected and not yet remitted.
        pub parcels: Vec<String>,
        /// What the carrier charges for collecting.
        #[serde(default)]
        pub fees: Amount,
        #[serde(default)]
        pub netted: Option<NettedInvoice>,
    }

    /// A carrier invoice paid by keeping part of a COD remittance.
    pub struct NettedInvoice {
        pub invoice_reference: String,
        pub amount: Amount,
    }

    pub struct CodRemitted {
        pub carrier: CarrierId,
        pub currency: Currency,
        pub remittance_reference: String,
        pub received_on: NaiveDate,
        pub parcels: Vec<RemittedParcel>,
        /// The cash the parcels' collections add up to.
        pub gross: Amount,
        pub fees: Amount,
        pub netted: Option<NettedInvoice>,
        /// What reached the bank: gross − fees − netted.
        pub net: Amount,
    }

    /// One parcel of a remittance and the cash collected for it.
    pub struct RemittedParcel {
        pub tracking_number: String,
        pub amount: Amount,
    }

    /// The order process charges a merchant the freight of a delivery refused at the door,
    /// when the policy puts it on the merchant.
    pub struct ChargeMerchantFreight {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        pub freight: Amount,
    }

    pub struct MerchantFreightCharged {
        pub merchant_id: MerchantId,
        pub currency: Currency,
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        pub freight: Amount,
    }
}

impl CodRemitted {
    /// The part of the remittance kept against an invoice.
    pub fn netted_amount(&self) -> Amount {
        self.netted.as_ref().map_or(Amount::ZERO, |n| n.amount)
    }
}

impl CarrierInvoiceRecorded {
    /// Invoiced minus charged: positive when the carrier billed more than was charged.
    pub fn variance(&self) -> Amount {
        self.invoiced - self.charged
    }
}

message_set! {
    /// Every command of the finance account aggregate.
    pub enum AccountCommand {
        RecordPspSettlement = 1,
        AccrueMerchantEarnings = 1,
        ChargeMerchantRefund = 1,
        StartReturnWindow = 1,
        PayoutMerchant = 1,
        AccrueCarrierFreight = 1,
        RecordCarrierInvoice = 1,
        PayCarrier = 1,
        AccrueCarrierCod = 1,
        RecordCodRemittance = 1,
        ChargeMerchantFreight = 1,
    }
}

message_set! {
    /// Every event of the finance account aggregate, with its current schema version.
    pub enum AccountEvent {
        PspSettlementRecorded = 1,
        MerchantEarningsAccrued = 1,
        MerchantRefundCharged = 1,
        ReturnWindowStarted = 1,
        MerchantPaidOut = 1,
        CarrierFreightAccrued = 1,
        CarrierInvoiceRecorded = 1,
        CarrierPaid = 1,
        CarrierCodAccrued = 1,
        CodRemitted = 1,
        MerchantFreightCharged = 1,
    }
}
