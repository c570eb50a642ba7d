//! The read-model store's key layout: every read model in one sled tree, told apart by a
//! prefix, so one atomic `Batch` carries a whole fold step with its checkpoint.
//!
//! ```text
//! c <partition u32>                                  -> next offset of the events partition (u64)
//! q <aggregate id>                                   -> last folded sequence (u64)
//! g <aggregate id>                                   -> GapAlarm
//! u <partition u32><offset u64>                      -> UndecodableAlarm
//! o <order id 16>                                    -> OrderRow
//! x t <placed><id>                                   -> ()   orders by placement time
//! x s <status><placed><id>, x m <merchant>…, x u <customer>…, x h <channel>…
//! x w <status><status since><id>                     -> ()   exception queue (time in status)
//! i <sku><warehouse>                                 -> StockRow
//! a <currency 3><account><part u32>                 -> AccountBalance
//! m <currency 3><merchant><part u32>                -> MerchantTotals
//! b <order id 16>                                    -> OrderBalanceView
//! v <order id 16>                                    -> Vec<EventRef> (the order's events)
//! r <date YYYY-MM-DD><channel><currency 3><part u32> -> DayRow
//! p <date YYYY-MM-DD><channel><currency 3><minutes u32><part u32> -> orders shipped that
//!                                                       many minutes after placement on that
//!                                                       day (u64)
//! z <recorded at><run id>                            -> ReconciliationView
//! h <currency 3><merchant><delivered at | max><order id 16> -> OpenOrder (merchant's earnings
//!                                                       on one order, by when its return
//!                                                       window began; max: not delivered)
//! e <currency 3><merchant><order id 16>              -> Option<delivered at> (where the
//!                                                       order's `h` row is)
//! W <wave id>                                        -> WaveView (a pick wave)
//! k <sku><warehouse><date YYYY-MM-DD>                -> units the item shipped that day (u64)
//! ```
//!
//! Strings inside keys are length-prefixed (u16), so no id can run into the next field; times
//! are milliseconds with the sign bit flipped, so byte order is time order.
//!
//! **Parts.** The rows events of many aggregates add to — accounts, merchant totals, days and
//! their processing times — are kept as one *part* per events partition (the `part` at the
//! end of their key), and queries add a row's parts up ([`whole`]). So the events of one
//! partition only ever write that partition's rows: workers folding different partitions
//! into one store (PostgreSQL) never write the same row, and never conflict. The parts of one
//! row are adjacent in key order.

use crate::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use order_events::money::Currency;
use order_events::order::OrderStatus;
use uuid::Uuid;

pub const CHECKPOINT: u8 = b'c';
pub const SEQUENCE: u8 = b'q';
pub const GAP: u8 = b'g';
pub const UNDECODABLE: u8 = b'u';
pub const ORDER: u8 = b'o';
pub const INDEX: u8 = b'x';
pub const STOCK: u8 = b'i';
pub const ACCOUNT: u8 = b'a';
pub const MERCHANT: u8 = b'm';
pub const ORDER_BALANCE: u8 = b'b';
/// An order's events: what each was, where it is in the log, its hash.
pub const ORDER_EVENTS: u8 = b'v';
pub const DAY: u8 = b'r';
/// The processing-time histogram of a day: one row per distinct number of minutes, so shipping
/// an order touches one small row however many distinct times the day has seen.
pub const PROCESSING: u8 = b'p';
/// Recorded reconciliation runs, by time recorded.
pub const RECONCILIATION: u8 = b'z';
/// A merchant's earnings per order, by delivery time: what payouts hold back is a range.
pub const HOLD: u8 = b'h';
/// Where a merchant's order sits among the [`HOLD`] rows.
pub const HOLD_AT: u8 = b'e';
/// The outbox: per events partition and offset, the notification that event made (JSON).
pub const NOTIFICATION: u8 = b'n';
/// Pick waves, by id (`crate::warehouse`).
pub const WAVE: u8 = b'W';
/// The waves still picking, by warehouse then wave id (no value): the planner and the open
/// listing read these instead of every wave there ever was.
pub const OPEN_WAVE: u8 = b'w';
/// Every wave by when it was planned, newest first (the time inverted), then wave id; the
/// value is its warehouse.
pub const WAVE_TIME: u8 = b'y';
/// A stock item's units shipped per day (`crate::warehouse`).
pub const SALES: u8 = b'k';
/// The store's layout version.
pub const FORMAT: &[u8] = b"_format";

/// The order indexes, by the byte after [`INDEX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderIndex {
    Time,
    Status,
    Merchant,
    Customer,
    Channel,
    /// By status, then time of entering it: the exception queue.
    InStatus,
    /// Orders with an open claim, by the time it was opened.
    OpenClaim,
    /// Cancelled orders (refused at the door too) with money still owed back, by the time
    /// they were cancelled.
    RefundOwed,
    /// Orders with an unshipped parcel whose weight is off its contents', by when it was
    /// packed.
    WeightMismatch,
    /// Orders with an unshipped parcel heavier than any allowed service takes, by when it was
    /// packed.
    Overweight,
}

impl OrderIndex {
    pub fn tag(self) -> u8 {
        match self {
            OrderIndex::Time => b't',
            OrderIndex::Status => b's',
            OrderIndex::Merchant => b'm',
            OrderIndex::Customer => b'u',
            OrderIndex::Channel => b'h',
            OrderIndex::InStatus => b'w',
            OrderIndex::OpenClaim => b'c',
            OrderIndex::RefundOwed => b'f',
            OrderIndex::WeightMismatch => b'k',
            OrderIndex::Overweight => b'v',
        }
    }
}

pub fn push_str(key: &mut Vec<u8>, value: &str) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(&value.as_bytes()[..usize::from(len)]);
}

pub fn notification(partition: u32, offset: u64) -> Vec<u8> {
    let mut key = notification_prefix(partition);
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

pub fn notification_prefix(partition: u32) -> Vec<u8> {
    let mut key = vec![NOTIFICATION];
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

pub fn time(at: DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn time_from(bytes: [u8; 8]) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

pub fn checkpoint(partition: u32) -> Vec<u8> {
    let mut key = vec![CHECKPOINT];
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

pub fn with_str(prefix: u8, value: &str) -> Vec<u8> {
    let mut key = vec![prefix];
    push_str(&mut key, value);
    key
}

pub fn undecodable(partition: u32, offset: u64) -> Vec<u8> {
    let mut key = vec![UNDECODABLE];
    key.extend_from_slice(&partition.to_be_bytes());
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

pub fn order(prefix: u8, id: Uuid) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(id.as_bytes());
    key
}

/// The start of an index's entries for one value (`None` for the time index).
pub fn index_prefix(index: OrderIndex, value: Option<&str>) -> Vec<u8> {
    let mut key = vec![INDEX, index.tag()];
    if let Some(value) = value {
        push_str(&mut key, value);
    }
    key
}

pub fn index_entry(index: OrderIndex, value: Option<&str>, at: DateTime<Utc>, id: Uuid) -> Vec<u8> {
    let mut key = index_prefix(index, value);
    key.extend_from_slice(&time(at));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The order id at the end of an index entry.
pub fn id_at_end(key: &[u8]) -> Result<Uuid, StoreError> {
    key.len()
        .checked_sub(16)
        .and_then(|start| Uuid::from_slice(&key[start..]).ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "an index entry without an order id at its end".into(),
        })
}

pub fn status_code(status: OrderStatus) -> String {
    status.to_string()
}

pub fn stock(sku: &str, warehouse: &str) -> Vec<u8> {
    let mut key = vec![STOCK];
    push_str(&mut key, sku);
    push_str(&mut key, warehouse);
    key
}

pub fn currency_prefix(prefix: u8, currency: Currency) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(currency.code().as_bytes());
    key
}

/// The rows kept in [parts](self#parts), by prefix.
pub const PARTS: [u8; 4] = [ACCOUNT, MERCHANT, DAY, PROCESSING];

/// Whether `key` is a [part](self#parts)'s.
pub fn is_part(key: &[u8]) -> bool {
    key.first().is_some_and(|prefix| PARTS.contains(prefix))
}

/// The bytes a [part](self#parts) adds at the end of a key.
pub const PART: usize = 4;

fn with_part(mut key: Vec<u8>, part: u32) -> Vec<u8> {
    key.extend_from_slice(&part.to_be_bytes());
    key
}

/// The key of the whole row a [part](self#parts)'s key belongs to (the part's key without its
/// part); `None` for a key too short to have one.
pub fn whole(key: &[u8]) -> Option<&[u8]> {
    key.len().checked_sub(PART).map(|end| &key[..end])
}

/// Partition `part`'s part of an account's balance.
pub fn account(currency: Currency, account: &str, part: u32) -> Vec<u8> {
    let mut key = currency_prefix(ACCOUNT, currency);
    push_str(&mut key, account);
    with_part(key, part)
}

/// Partition `part`'s part of a merchant's totals.
pub fn merchant(currency: Currency, merchant: &str, part: u32) -> Vec<u8> {
    let mut key = currency_prefix(MERCHANT, currency);
    push_str(&mut key, merchant);
    with_part(key, part)
}

/// The [`HOLD`] rows of one merchant: prefix of [`hold`].
pub fn hold_prefix(currency: Currency, merchant: &str) -> Vec<u8> {
    let mut key = currency_prefix(HOLD, currency);
    push_str(&mut key, merchant);
    key
}

/// A merchant's earnings on one order, under the time its return window began (`None`: not
/// delivered, sorted after every time).
pub fn hold(
    currency: Currency,
    merchant: &str,
    delivered_at: Option<DateTime<Utc>>,
    order_id: Uuid,
) -> Vec<u8> {
    let mut key = hold_prefix(currency, merchant);
    key.extend_from_slice(&delivered_at.map_or([0xff; 8], time));
    key.extend_from_slice(order_id.as_bytes());
    key
}

/// Where the [`hold`] row of a merchant's order is.
pub fn hold_at(currency: Currency, merchant: &str, order_id: Uuid) -> Vec<u8> {
    let mut key = currency_prefix(HOLD_AT, currency);
    push_str(&mut key, merchant);
    key.extend_from_slice(order_id.as_bytes());
    key
}

/// The first key of `date` among the per-day rows under `prefix` ([`DAY`] or [`PROCESSING`]).
pub fn day_prefix(prefix: u8, date: NaiveDate) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(date.format("%Y-%m-%d").to_string().as_bytes());
    key
}

fn day_of(prefix: u8, date: NaiveDate, channel: &str, currency: Currency) -> Vec<u8> {
    let mut key = day_prefix(prefix, date);
    push_str(&mut key, channel);
    key.extend_from_slice(currency.code().as_bytes());
    key
}

/// Partition `part`'s part of a day's report.
pub fn day(date: NaiveDate, channel: &str, currency: Currency, part: u32) -> Vec<u8> {
    with_part(day_of(DAY, date, channel, currency), part)
}

/// Partition `part`'s part of a day's orders shipped `minutes` after placement.
pub fn processing(
    date: NaiveDate,
    channel: &str,
    currency: Currency,
    minutes: u32,
    part: u32,
) -> Vec<u8> {
    let mut key = day_of(PROCESSING, date, channel, currency);
    key.extend_from_slice(&minutes.to_be_bytes());
    with_part(key, part)
}

/// The date, channel and what follows them in a [`day`] or [`processing`] key, or in a
/// [`whole`] one; `None` for a key of another shape.
pub fn read_day(key: &[u8]) -> Option<(NaiveDate, &str, &[u8])> {
    let date = std::str::from_utf8(key.get(1..11)?).ok()?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let (channel, rest) = read_str(&key[11..])?;
    Some((date, channel, rest))
}

/// The part at the end of a [part](self#parts)'s key.
pub fn part(key: &[u8]) -> Option<u32> {
    let start = key.len().checked_sub(PART)?;
    Some(u32::from_be_bytes(key[start..].try_into().ok()?))
}

pub fn reconciliation(at: DateTime<Utc>, run_id: &str) -> Vec<u8> {
    let mut key = vec![RECONCILIATION];
    key.extend_from_slice(&time(at));
    push_str(&mut key, run_id);
    key
}

/// Reads a length-prefixed string at the start of `bytes`; returns it and the rest.
pub fn read_str(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let len = usize::from(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?));
    let value = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
    Some((value, &bytes[2 + len..]))
}

/// The currency and the name of a per-currency key (`ACCOUNT`, `MERCHANT`).
pub fn currency_and_name(key: &[u8]) -> Result<(Currency, String), StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: "key is not currency + name".into(),
    };
    let currency: Currency = std::str::from_utf8(key.get(1..4).ok_or_else(corrupt)?)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(corrupt)?;
    let (name, _) = read_str(&key[4..]).ok_or_else(corrupt)?;
    Ok((currency, name.to_owned()))
}

/// The least key greater than every key starting with `prefix`; `None` when there is none
/// (the prefix is all `0xff`).
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_bytes_sort_like_times_and_round_trip() {
        let early = Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 0).unwrap();
        let late = Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap();
        assert!(time(early) < time(late));
        assert_eq!(time_from(time(late)), Some(late));
        assert_eq!(time_from(time(early)), Some(early));
    }

    #[test]
    fn strings_in_keys_cannot_run_into_the_next_field() {
        // Without the length prefix, ("ab", "c") and ("a", "bc") would be the same key.
        assert_ne!(stock("ab", "c"), stock("a", "bc"));
        let key = stock("SKU-1", "BER-1");
        let (sku, rest) = read_str(&key[1..]).unwrap();
        let (warehouse, rest) = read_str(rest).unwrap();
        assert_eq!((sku, warehouse, rest), ("SKU-1", "BER-1", &[][..]));
    }

    #[test]
    fn processing_keys_sort_by_day_then_channel_and_read_back() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let key = processing(date, "web", Currency::EUR, 90, 7);
        assert_eq!(key[0], PROCESSING);
        assert_eq!(part(&key), Some(7));
        let (day, channel, rest) = read_day(whole(&key).unwrap()).unwrap();
        assert_eq!((day, channel), (date, "web"));
        assert_eq!(rest, [b"EUR".as_slice(), &90u32.to_be_bytes()].concat());
        assert!(key >= day_prefix(PROCESSING, date));
        assert!(key < day_prefix(PROCESSING, date.succ_opt().unwrap()));
        assert_eq!(read_day(&[PROCESSING, b'2']), None);
    }

    #[test]
    fn the_parts_of_a_row_are_adjacent_and_share_its_whole_key() {
        let mut keys = [
            account(Currency::EUR, "platform_cash", 3),
            account(Currency::EUR, "platform", 0),
            account(Currency::EUR, "platform_cash", 0),
            account(Currency::EUR, "platform", 9),
        ];
        keys.sort();
        let wholes: Vec<_> = keys.iter().map(|k| whole(k).unwrap().to_vec()).collect();
        assert_eq!(wholes[0], wholes[1]);
        assert_eq!(wholes[2], wholes[3]);
        assert_ne!(wholes[1], wholes[2]);
        assert_eq!(
            currency_and_name(&wholes[2]).unwrap(),
            (Currency::EUR, "platform_cash".to_owned())
        );
        assert_eq!(whole(&[1, 2]), None);
    }

    #[test]
    fn the_successor_of_a_prefix_bounds_every_key_that_starts_with_it() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(successor(&[]), None);
    }
}
