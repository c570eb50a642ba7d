//! The demo summary's warehouse part: the waves picked, the parcels packed (mis-packs refused,
//! weight mismatches, overweight), the cycle counts, and what to reorder.

use std::io::Write;

use event_log::{Log, Topic};
use order_events::codec::decode_event;
use order_events::order::OrderEvent;
use order_events::stock::StockEvent;
use order_events::Event;
use projections::warehouse::{ReplenishmentParams, WaveStatus};

/// What the events say happened on the floor.
#[derive(Debug, Default)]
struct Floor {
    parcels: u64,
    mismatched: u64,
    overweight: u64,
    counts: u64,
    counts_off: u64,
    units_off: i64,
}

impl Floor {
    fn count(&mut self, event: &Event) {
        match event {
            Event::Order(OrderEvent::ParcelPacked(parcel)) => {
                self.parcels += 1;
                self.mismatched += u64::from(parcel.weight_mismatch);
                self.overweight += u64::from(parcel.overweight);
            }
            Event::Stock(StockEvent::StockCounted(count)) => {
                self.counts += 1;
                self.counts_off += u64::from(count.difference != 0);
                self.units_off += count.difference;
            }
            _ => {}
        }
    }
}

async fn floor(log: &dyn Log) -> anyhow::Result<Floor> {
    let mut floor = Floor::default();
    super::each_record(log, Topic::Events, |record| {
        if let Ok(envelope) = decode_event(&record.payload) {
            floor.count(&envelope.event);
        }
    })
    .await?;
    Ok(floor)
}

/// Writes the warehouse lines of the summary; `as_of` is the shop's last day.
pub(super) async fn write(
    log: &dyn Log,
    store: &projections::ProjectionStore,
    mis_packs: u64,
    as_of: chrono::NaiveDate,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let waves = store.waves(None, false, projections::query::PAGE_LIMIT_MAX)?;
    let picked = waves
        .iter()
        .filter(|w| w.status == WaveStatus::Completed)
        .count();
    let lines: u32 = waves.iter().map(|w| w.lines_picked).sum();
    let short: u32 = waves.iter().map(|w| w.short_lines).sum();
    let floor = floor(log).await?;
    writeln!(
        out,
        "Warehouse: {} pick waves ({picked} picked), {lines} lines picked, {short} short",
        waves.len()
    )?;
    writeln!(
        out,
        "  {} parcels packed: {mis_packs} mis-packs refused, {} weight mismatches, {} overweight",
        floor.parcels, floor.mismatched, floor.overweight
    )?;
    writeln!(
        out,
        "  {} cycle counts, {} with a difference ({:+} units)",
        floor.counts, floor.counts_off, floor.units_off
    )?;
    let params = ReplenishmentParams {
        window_days: ReplenishmentParams::WINDOW_DAYS_DEFAULT,
        lead_time_days: ReplenishmentParams::LEAD_TIME_DAYS_DEFAULT,
        cover_days: ReplenishmentParams::COVER_DAYS_DEFAULT,
        as_of,
    };
    let mut reorder = store.replenishment(&params, None, None, true)?;
    reorder.sort_by_key(|item| std::cmp::Reverse(item.suggested_order_quantity));
    writeln!(
        out,
        "Replenishment as of {as_of} ({}-day window, {} days lead time): {} items to reorder",
        params.window_days,
        params.lead_time_days,
        reorder.len()
    )?;
    for item in reorder.iter().take(5) {
        let cover = item
            .days_of_cover
            .map_or("-".to_owned(), |days| format!("{days:.1} d"));
        writeln!(
            out,
            "  {:<10} {:<7} sold {:>4}  {:>5.2}/day  cover {:>7}  reorder point {:>4}  order {:>4}",
            item.sku.as_str(),
            item.warehouse.as_str(),
            item.units_sold,
            item.velocity_per_day,
            cover,
            item.reorder_point,
            item.suggested_order_quantity
        )?;
    }
    Ok(())
}
