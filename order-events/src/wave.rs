//! The pick wave aggregate (key: wave id): orders released to one warehouse together, their
//! pick list sorted by bin location so a picker walks the aisles once, and the picks recorded
//! against it, line by line.
//!
//! A wave is planned by a warehouse service (or `ledger`'s planner over the read models:
//! ready orders of a warehouse, by carrier cut-off and service level, express first, up to a
//! size), which looks the bins up and puts them in the command. What the wave picks reaches
//! the rest of the ledger through the order process: each stock item learns that a wave is
//! picking it (no cycle count meanwhile) and when it is done, and each order learns what was
//! picked for it once all its lines are (what its parcels may hold).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::fits;
use crate::ids::{CarrierId, OrderId, Sku, WarehouseId, WaveId};
use crate::message::message_set;
use crate::order::{LineQuantity, ServiceLevel};
use crate::rejection::{ensure, reject, Rejection, Rule};
use crate::validate;

/// Most orders in one wave.
pub const WAVE_ORDERS_MAX: usize = 1000;

macro_rules! wave_message {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )+
    };
}

wave_message! {
    /// One order released in a wave: what to pick for it.
    pub struct WaveOrder {
        pub order_id: OrderId,
        /// The order's service level: express lines go first within a bin.
        #[serde(default)]
        pub service_level: ServiceLevel,
        pub lines: Vec<WaveLine>,
    }

    /// Units of one SKU to pick for an order, and where they are kept.
    pub struct WaveLine {
        pub sku: Sku,
        pub quantity: u32,
        /// The bin, as looked up when the wave was planned; absent: not known (picked last).
        #[serde(default)]
        pub bin: Option<String>,
    }

    /// One line of a pick list: go to `bin`, take `quantity` of `sku` for `order_id`.
    pub struct PickListLine {
        pub bin: Option<String>,
        pub sku: Sku,
        pub order_id: OrderId,
        pub quantity: u32,
        pub service_level: ServiceLevel,
    }

    /// Release orders to a warehouse's pickers as one wave.
    pub struct PlanWave {
        /// The wave's id: 1-64 of `A-Z a-z 0-9 . _ -`; the aggregate's id.
        pub wave_id: WaveId,
        pub warehouse: WarehouseId,
        /// The carrier whose collection the wave is for, if it is for one.
        #[serde(default)]
        pub carrier: Option<CarrierId>,
        /// The service level the wave is for, if one.
        #[serde(default)]
        pub service_level: Option<ServiceLevel>,
        /// The carrier's cut-off the wave must be packed by, if any.
        #[serde(default, deserialize_with = "crate::wire::optional_time")]
        #[schemars(with = "Option<chrono::DateTime<chrono::Utc>>")]
        pub cutoff_at: Option<DateTime<Utc>>,
        pub orders: Vec<WaveOrder>,
    }

    /// A picker took units for one line of the pick list (fewer than asked: a short pick).
    pub struct RecordPick {
        pub wave_id: WaveId,
        pub order_id: OrderId,
        pub sku: Sku,
        pub picked_quantity: u32,
    }

    /// A wave planned: its pick list, sorted by bin (unknown bins last), then express first,
    /// then SKU and order.
    pub struct WavePlanned {
        pub warehouse: WarehouseId,
        pub carrier: Option<CarrierId>,
        pub service_level: Option<ServiceLevel>,
        #[serde(deserialize_with = "crate::wire::optional_time")]
        #[schemars(with = "Option<chrono::DateTime<chrono::Utc>>")]
        pub cutoff_at: Option<DateTime<Utc>>,
        pub pick_list: Vec<PickListLine>,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub planned_at: DateTime<Utc>,
    }

    /// One line of the pick list picked.
    pub struct PickRecorded {
        pub order_id: OrderId,
        pub sku: Sku,
        pub bin: Option<String>,
        /// Units the line asked for.
        pub quantity: u32,
        pub picked_quantity: u32,
    }

    /// Every line of one order in the wave is picked: the units picked for it (SKUs picked
    /// short to nothing are left out).
    pub struct WaveOrderPicked {
        pub order_id: OrderId,
        pub lines: Vec<LineQuantity>,
    }

    /// Every line of one SKU in the wave is picked.
    pub struct WaveSkuPicked {
        pub sku: Sku,
        pub quantity: u64,
        pub picked_quantity: u64,
    }

    /// Every line of the wave is picked.
    pub struct WaveCompleted {
        pub lines: u32,
        /// Lines picked short.
        pub short_lines: u32,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub completed_at: DateTime<Utc>,
    }
}

message_set! {
    /// Every command of the pick wave aggregate.
    pub enum WaveCommand {
        PlanWave = 1,
        RecordPick = 1,
    }
}

message_set! {
    /// Every event of the pick wave aggregate, with its current schema version.
    pub enum WaveEvent {
        WavePlanned = 1,
        PickRecorded = 1,
        WaveOrderPicked = 1,
        WaveSkuPicked = 1,
        WaveCompleted = 1,
    }
}

impl WaveCommand {
    /// The wave the command addresses.
    pub fn wave_id(&self) -> &WaveId {
        match self {
            WaveCommand::PlanWave(c) => &c.wave_id,
            WaveCommand::RecordPick(c) => &c.wave_id,
        }
    }
}

/// One line of the pick list and its pick, once recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickState {
    pub line: PickListLine,
    pub picked: Option<u32>,
}

/// A wave's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Wave {
    /// `None` until planned.
    pub warehouse: Option<WarehouseId>,
    pub lines: Vec<PickState>,
    pub completed: bool,
}

impl Wave {
    fn line(&self, order_id: &OrderId, sku: &Sku) -> Option<&PickState> {
        self.lines
            .iter()
            .find(|state| &state.line.order_id == order_id && &state.line.sku == sku)
    }

    /// Whether every line matching `belongs` is picked.
    fn all_picked(&self, belongs: impl Fn(&PickListLine) -> bool) -> bool {
        self.lines
            .iter()
            .filter(|state| belongs(&state.line))
            .all(|state| state.picked.is_some())
    }
}

/// Whether `id` is a wave id: 1-64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_wave_id(id: &str) -> bool {
    validate::identifier(id)
}

/// Decides a command against the wave's state.
pub fn decide(
    state: &Wave,
    command: &WaveCommand,
    context: &Context,
) -> Result<Vec<WaveEvent>, Rejection> {
    match command {
        WaveCommand::PlanWave(c) => Ok(vec![plan_wave(state, c, context)?.into()]),
        WaveCommand::RecordPick(c) => record_pick(state, c, context),
    }
}

fn plan_wave(state: &Wave, c: &PlanWave, context: &Context) -> Result<WavePlanned, Rejection> {
    ensure(
        validate::identifier(c.wave_id.as_str()),
        Rule::WaveIdInvalid,
        || {
            format!(
                "wave id '{}' is not 1-64 of A-Z a-z 0-9 . _ -",
                validate::printable(c.wave_id.as_str())
            )
        },
    )?;
    ensure(state.warehouse.is_none(), Rule::WaveAlreadyPlanned, || {
        format!("wave {} is planned already", c.wave_id)
    })?;
    validate::warehouse(&c.warehouse)?;
    if let Some(carrier) = &c.carrier {
        validate::required_text("carrier", carrier.as_str(), 64)?;
    }
    check_orders(&c.orders, context)?;
    let mut pick_list: Vec<PickListLine> = c
        .orders
        .iter()
        .flat_map(|order| {
            order.lines.iter().map(|line| PickListLine {
                bin: line.bin.clone(),
                sku: line.sku.clone(),
                order_id: order.order_id,
                quantity: line.quantity,
                service_level: order.service_level,
            })
        })
        .collect();
    pick_list.sort_by(|a, b| pick_order(a).cmp(&pick_order(b)));
    Ok(WavePlanned {
        warehouse: c.warehouse.clone(),
        carrier: c.carrier.clone(),
        service_level: c.service_level,
        cutoff_at: c.cutoff_at,
        pick_list,
        planned_at: context.now,
    })
}

/// The walk: by bin (unknown last), express first within a bin, then SKU and order.
fn pick_order(line: &PickListLine) -> impl Ord + '_ {
    (
        line.bin.is_none(),
        line.bin.as_deref(),
        line.service_level != ServiceLevel::Express,
        &line.sku,
        line.order_id,
    )
}

fn check_orders(orders: &[WaveOrder], context: &Context) -> Result<(), Rejection> {
    let invalid = |detail: String| Rejection::new(Rule::WaveOrdersInvalid, detail);
    if orders.is_empty() || orders.len() > WAVE_ORDERS_MAX {
        return Err(invalid(format!(
            "{} orders; a wave has 1 to {WAVE_ORDERS_MAX}",
            orders.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for order in orders {
        if !seen.insert(order.order_id) {
            return Err(invalid(format!("order {} is listed twice", order.order_id)));
        }
        if order.lines.is_empty() {
            return Err(invalid(format!("order {} has no lines", order.order_id)));
        }
        let mut skus = std::collections::HashSet::new();
        for line in &order.lines {
            validate::sku(&line.sku)?;
            validate::unique_sku(&mut skus, &line.sku, "lines")?;
            validate::quantity(
                &format!("quantity of {}", line.sku),
                u64::from(line.quantity),
                &context.policy,
            )?;
            if let Some(bin) = &line.bin {
                validate::required_text("bin", bin, 32)?;
            }
        }
    }
    Ok(())
}

fn record_pick(
    state: &Wave,
    c: &RecordPick,
    context: &Context,
) -> Result<Vec<WaveEvent>, Rejection> {
    if state.warehouse.is_none() {
        return reject(
            Rule::WaveNotFound,
            format!("wave {} is not planned", c.wave_id),
        );
    }
    let Some(line) = state.line(&c.order_id, &c.sku) else {
        return reject(
            Rule::PickNotInWave,
            format!(
                "order {} has no line of {} in wave {}",
                c.order_id,
                validate::printable(c.sku.as_str()),
                c.wave_id
            ),
        );
    };
    if let Some(picked) = line.picked {
        // A repeat of the same pick changes nothing; another quantity is a second pick.
        ensure(
            picked == c.picked_quantity,
            Rule::PickAlreadyRecorded,
            || {
                format!(
                    "{} for order {} was picked already: {picked}",
                    c.sku, c.order_id
                )
            },
        )?;
        return Ok(Vec::new());
    }
    ensure(
        c.picked_quantity <= line.line.quantity,
        Rule::PickExceedsLine,
        || {
            format!(
                "picks {} of {}, the line asks for {}",
                c.picked_quantity, c.sku, line.line.quantity
            )
        },
    )?;
    let recorded = PickRecorded {
        order_id: c.order_id,
        sku: c.sku.clone(),
        bin: line.line.bin.clone(),
        quantity: line.line.quantity,
        picked_quantity: c.picked_quantity,
    };
    let mut after = state.clone();
    let recorded = WaveEvent::from(recorded);
    apply(&mut after, &recorded);
    let mut events = vec![recorded];
    events.extend(follow_ups(&after, c, context));
    Ok(events)
}

/// What a pick completes, once folded in: the order's lines, the SKU's lines, the wave.
fn follow_ups(after: &Wave, c: &RecordPick, context: &Context) -> Vec<WaveEvent> {
    let mut events = Vec::new();
    if after.all_picked(|line| line.order_id == c.order_id) {
        let lines = after
            .lines
            .iter()
            .filter(|state| state.line.order_id == c.order_id)
            .filter_map(|state| {
                let picked = state.picked.filter(|&picked| picked > 0)?;
                Some(LineQuantity {
                    sku: state.line.sku.clone(),
                    quantity: picked,
                })
            })
            .collect();
        events.push(
            WaveOrderPicked {
                order_id: c.order_id,
                lines,
            }
            .into(),
        );
    }
    if after.all_picked(|line| line.sku == c.sku) {
        let of_sku = after.lines.iter().filter(|state| state.line.sku == c.sku);
        let (quantity, picked_quantity) = of_sku.fold((0u64, 0u64), |(asked, picked), state| {
            (
                asked + u64::from(state.line.quantity),
                picked + u64::from(state.picked.unwrap_or(0)),
            )
        });
        events.push(
            WaveSkuPicked {
                sku: c.sku.clone(),
                quantity,
                picked_quantity,
            }
            .into(),
        );
    }
    if after.all_picked(|_| true) {
        let short = after
            .lines
            .iter()
            .filter(|state| state.picked < Some(state.line.quantity))
            .count();
        events.push(
            WaveCompleted {
                lines: u32::try_from(after.lines.len()).unwrap_or(u32::MAX),
                short_lines: u32::try_from(short).unwrap_or(u32::MAX),
                completed_at: context.now,
            }
            .into(),
        );
    }
    events
}

/// Folds one event into the wave. Infallible; an event that does not fit is a bug.
pub fn apply(state: &mut Wave, event: &WaveEvent) {
    if let Err(broken) = try_apply(state, event) {
        panic!("{broken}");
    }
}

/// The checked fold, for histories read from outside.
pub fn try_apply(state: &mut Wave, event: &WaveEvent) -> Result<(), String> {
    match event {
        WaveEvent::WavePlanned(e) => {
            fits(state.warehouse.is_none(), || "wave planned twice".into())?;
            state.warehouse = Some(e.warehouse.clone());
            state.lines = e
                .pick_list
                .iter()
                .map(|line| PickState {
                    line: line.clone(),
                    picked: None,
                })
                .collect();
        }
        WaveEvent::PickRecorded(e) => {
            let line = state
                .lines
                .iter_mut()
                .find(|s| s.line.order_id == e.order_id && s.line.sku == e.sku)
                .ok_or_else(|| {
                    format!("pick of {} for {} is not in the wave", e.sku, e.order_id)
                })?;
            fits(line.picked.is_none(), || "a line picked twice".into())?;
            fits(e.picked_quantity <= line.line.quantity, || {
                "picked more than the line asks".into()
            })?;
            line.picked = Some(e.picked_quantity);
        }
        WaveEvent::WaveOrderPicked(_) | WaveEvent::WaveSkuPicked(_) => {}
        WaveEvent::WaveCompleted(_) => {
            fits(state.all_picked(|_| true), || {
                "completed with lines unpicked".into()
            })?;
            state.completed = true;
        }
    }
    Ok(())
}

impl crate::Aggregate for Wave {
    type Command = WaveCommand;
    type Event = WaveEvent;
    const KIND: crate::AggregateKind = crate::AggregateKind::Wave;

    fn decide(
        &self,
        command: &WaveCommand,
        context: &Context,
    ) -> Result<Vec<WaveEvent>, Rejection> {
        decide(self, command, context)
    }

    fn apply(&mut self, event: &WaveEvent) {
        apply(self, event)
    }

    fn check_invariants(&self) -> Result<(), String> {
        if self.completed && !self.all_picked(|_| true) {
            return Err("completed with lines unpicked".into());
        }
        if self.warehouse.is_none() && !self.lines.is_empty() {
            return Err("lines without a plan".into());
        }
        Ok(())
    }
}
