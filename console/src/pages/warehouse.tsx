// The warehouse floor: pick waves and their progress, a wave's pick list in walking order (as
// CSV for a handheld scanner), and what to reorder — sales velocity, days of cover, reorder
// point and the suggested order quantity per SKU and warehouse.
import { get, getCsv, type Replenishment, type WaveSummary, type WaveView } from "../api";
import { count, time, words } from "../format";
import { useState } from "preact/hooks";
import { href, useLoad } from "../hooks";
import { download, Failure, Show, Status } from "../ui";

/** The page's place: its filters and the wave shown, all in the location. */
interface Where {
  warehouse?: string;
  /** How many of the newest waves to list. */
  waves?: string;
  open?: string;
  wave?: string;
  as_of?: string;
  window_days?: string;
  lead_time_days?: string;
  cover_days?: string;
  reorder?: string;
}

/** Waves listed at first, and more each time more are asked for; the API gives at most 1000. */
const WAVES_SHOWN = 25;
const WAVES_MAX = 1000;

function where(params: URLSearchParams): Where {
  const get = (name: keyof Where) => params.get(name) || undefined;
  return {
    warehouse: get("warehouse"),
    waves: get("waves"),
    open: get("open"),
    wave: get("wave"),
    as_of: get("as_of"),
    window_days: get("window_days"),
    lead_time_days: get("lead_time_days"),
    cover_days: get("cover_days"),
    reorder: get("reorder"),
  };
}

function link(now: Where, changes: Partial<Where>): string {
  return href("warehouse", { ...now, ...changes } as Record<string, string | undefined>);
}

/** Goes to the page with `changes` over `now` (a form's fields replace theirs). */
function go(now: Where, changes: Partial<Where>) {
  window.location.hash = link(now, changes);
}

/** A failure of a button's download, shown until the next one. */
function useFailure() {
  return useState<Error | undefined>(undefined);
}

/** Runs `work`, keeping what it failed with for the page to show. */
async function reporting(work: () => Promise<void>, setFailure: (error: Error | undefined) => void) {
  try {
    await work();
    setFailure(undefined);
  } catch (error) {
    setFailure(error instanceof Error ? error : new Error(String(error)));
  }
}

/** A form's text fields as a place: empty ones dropped, checkboxes as "true". */
function fields(event: Event, names: (keyof Where)[]): Partial<Where> {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  return Object.fromEntries(names.map((name) => [name, String(form.get(name) ?? "").trim() || undefined]));
}

function checked(event: Event, name: string): string | undefined {
  return new FormData(event.target as HTMLFormElement).get(name) ? "true" : undefined;
}

export function Warehouse(props: { params: URLSearchParams }) {
  const now = where(props.params);
  const limit = Math.min(Number(now.waves) || WAVES_SHOWN, WAVES_MAX);
  const waves = useLoad(
    () => get<WaveSummary[]>("/v1/waves", { warehouse: now.warehouse, open: now.open === "true", limit }),
    [now.warehouse, now.open, limit],
    true,
  );
  // Replenishment is as of the newest wave's day unless asked otherwise: today for a working
  // shop, the last day of a replayed one.
  const asOf = now.as_of ?? waves.data?.[0]?.planned_at.slice(0, 10);
  return (
    <>
      <h1>Warehouse</h1>
      <form
        class="filters"
        onSubmit={(e) => go(now, { ...fields(e, ["warehouse"]), open: checked(e, "open"), wave: undefined, waves: undefined })}
      >
        <label>
          Warehouse <input name="warehouse" value={now.warehouse ?? ""} placeholder="any" />
        </label>
        <label>
          <input type="checkbox" name="open" checked={now.open === "true"} /> still picking only
        </label>
        <button type="submit">Show</button>
      </form>
      <h2>Pick waves</h2>
      <Show loaded={waves}>
        {(items) => (
          <>
            <Waves items={items} now={now} />
            {items.length === limit && limit < WAVES_MAX && (
              <nav class="pager">
                <a href={link(now, { waves: String(limit + WAVES_SHOWN) })}>More waves</a>
              </nav>
            )}
          </>
        )}
      </Show>
      {now.wave && <PickList id={now.wave} />}
      <h2>Replenishment</h2>
      {(waves.data !== undefined || waves.error) && <Reorder now={now} asOf={asOf} />}
    </>
  );
}

function Waves(props: { items: WaveSummary[]; now: Where }) {
  if (props.items.length === 0) return <p class="muted">No pick waves.</p>;
  return (
    <table class="list" data-testid="waves">
      <thead>
        <tr>
          <th>Wave</th>
          <th>Warehouse</th>
          <th>Status</th>
          <th>Carrier · service</th>
          <th>Planned</th>
          <th class="number">Orders</th>
          <th class="number">Lines picked</th>
          <th class="number">Short</th>
          <th class="number">Units picked</th>
        </tr>
      </thead>
      <tbody>
        {props.items.map((wave) => (
          <tr class={wave.short_lines > 0 ? "flag" : ""}>
            <td>
              <a class="mono" href={link(props.now, { wave: wave.wave_id })}>
                {wave.wave_id}
              </a>
            </td>
            <td>{wave.warehouse}</td>
            <td>
              <Status status={wave.status} />
            </td>
            <td>{[wave.carrier, wave.service_level && words(wave.service_level)].filter(Boolean).join(" · ") || "—"}</td>
            <td>{time(wave.planned_at)}</td>
            <td class="number">{count(wave.orders)}</td>
            <td class="number">
              {count(wave.lines_picked)} / {count(wave.lines)}
            </td>
            <td class="number">{count(wave.short_lines)}</td>
            <td class="number">
              {count(wave.units_picked)} / {count(wave.units)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PickList(props: { id: string }) {
    const [failure, setFailure] = useFailure();
  const path = `/v1/waves/${encodeURIComponent(props.id)}`;
  const wave = useLoad(() => get<WaveView>(path), [path], true);
  const scanner = () =>
    reporting(async () => download(`pick-list-${props.id}.csv`, await getCsv(`${path}/pick-list`), "text/csv"), setFailure);
  return (
    <section data-testid="pick-list">
      <h2>
        Pick list of <span class="mono">{props.id}</span>{" "}
        <button type="button" onClick={scanner}>
          CSV for the scanner
        </button>
      </h2>
      {failure && <Failure error={failure} />}
      <Show loaded={wave}>
        {(view) => (
          <table class="list">
            <thead>
              <tr>
                <th class="number">#</th>
                <th>Bin</th>
                <th>SKU</th>
                <th class="number">Quantity</th>
                <th class="number">Picked</th>
                <th>Order</th>
                <th>Service</th>
              </tr>
            </thead>
            <tbody>
              {view.pick_list.map((line) => {
                const short = line.picked_quantity !== null && line.picked_quantity < line.quantity;
                return (
                  <tr class={short ? "flag" : ""} data-short={short ? "true" : undefined}>
                    <td class="number">{line.sequence}</td>
                    <td class="mono">{line.bin ?? "—"}</td>
                    <td>{line.sku}</td>
                    <td class="number">{count(line.quantity)}</td>
                    <td class="number">{line.picked_quantity === null ? "—" : count(line.picked_quantity)}</td>
                    <td>
                      <a class="mono" href={href(`orders/${line.order_id}`)}>
                        {line.order_id.slice(0, 8)}
                      </a>
                    </td>
                    <td>{words(line.service_level)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Show>
    </section>
  );
}

function Reorder(props: { now: Where; asOf: string | undefined }) {
  const { now, asOf } = props;
  const params = {
    warehouse: now.warehouse,
    as_of: asOf,
    window_days: now.window_days,
    lead_time_days: now.lead_time_days,
    cover_days: now.cover_days,
    reorder: now.reorder === "true",
  };
  const page = useLoad(
    () => get<{ items: Replenishment[] }>("/v1/inventory/replenishment", params),
    Object.values(params),
    true,
  );
  const [failure, setFailure] = useFailure();
  const asCsv = () =>
    reporting(async () => {
      const csv = await getCsv("/v1/inventory/replenishment", params);
      download(`replenishment-${asOf ?? "today"}.csv`, csv, "text/csv");
    }, setFailure);
  const submit = (event: Event) =>
    go(now, {
      ...fields(event, ["as_of", "window_days", "lead_time_days", "cover_days"]),
      reorder: checked(event, "reorder"),
    });
  return (
    <>
      <form class="filters" onSubmit={submit}>
        <label>
          As of <input type="date" name="as_of" value={asOf ?? ""} />
        </label>
        <label>
          Window (days) <input name="window_days" inputMode="numeric" size={4} value={now.window_days ?? ""} placeholder="28" />
        </label>
        <label>
          Lead time (days) <input name="lead_time_days" inputMode="numeric" size={4} value={now.lead_time_days ?? ""} placeholder="7" />
        </label>
        <label>
          Cover (days) <input name="cover_days" inputMode="numeric" size={4} value={now.cover_days ?? ""} placeholder="14" />
        </label>
        <label>
          <input type="checkbox" name="reorder" checked={now.reorder === "true"} /> to reorder only
        </label>
        <button type="submit">Show</button>
        <button type="button" onClick={asCsv}>
          CSV
        </button>
      </form>
      {failure && <Failure error={failure} />}
      <Show loaded={page}>
        {({ items }) =>
          items.length === 0 ? (
            <p class="muted">No stock items{now.reorder === "true" ? " to reorder" : ""}.</p>
          ) : (
            <table class="list" data-testid="replenishment">
              <thead>
                <tr>
                  <th>SKU</th>
                  <th>Warehouse</th>
                  <th class="number">Available</th>
                  <th class="number">Sold in window</th>
                  <th class="number">Per day</th>
                  <th class="number">Days of cover</th>
                  <th class="number">Reorder point</th>
                  <th class="number">Order</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr class={item.reorder ? "flag" : ""} data-reorder={item.reorder ? "true" : undefined}>
                    <td>{item.sku}</td>
                    <td>{item.warehouse}</td>
                    <td class="number">{count(item.available)}</td>
                    <td class="number">{count(item.units_sold)}</td>
                    <td class="number">{item.velocity_per_day.toFixed(2)}</td>
                    <td class="number">{item.days_of_cover === null ? "—" : item.days_of_cover.toFixed(1)}</td>
                    <td class="number">{count(item.reorder_point)}</td>
                    <td class="number">{item.suggested_order_quantity > 0 ? count(item.suggested_order_quantity) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}
