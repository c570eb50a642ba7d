// What the shop did over a range of placement days: orders by status, GMV and net sales per
// day, placed→shipped times, the rates a marketplace judges, and the queues to watch.
import { get, type ExceptionItem, type ProjectionStatus, type Report } from "../api";
import { DayChart } from "../chart";
import { count, hours, money, percent, words } from "../format";
import { href, useLoad } from "../hooks";
import { Figure, Show } from "../ui";

/** GMV and net sales per day in `currency`, over every channel of the report. */
function moneyByDay(report: Report, currency: string) {
  const days = new Map<string, { gmv: number; net: number }>();
  for (const day of report.days.filter((d) => d.currency === currency)) {
    const sum = days.get(day.date) ?? { gmv: 0, net: 0 };
    sum.gmv += Number(day.gross_gmv);
    sum.net += Number(day.net_sales);
    days.set(day.date, sum);
  }
  const dates = [...days.keys()].sort();
  return { dates, gmv: dates.map((d) => days.get(d)!.gmv), net: dates.map((d) => days.get(d)!.net) };
}

function Filters(props: { params: URLSearchParams }) {
  const p = props.params;
  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const values: Record<string, string> = {};
    form.forEach((value, name) => value && (values[name] = String(value)));
    window.location.hash = href("overview", values);
  };
  return (
    <form class="filters" onSubmit={apply}>
      <label>
        From <input type="date" name="from" value={p.get("from") ?? ""} />
      </label>
      <label>
        To <input type="date" name="to" value={p.get("to") ?? ""} />
      </label>
      <label>
        Channel <input name="channel" value={p.get("channel") ?? ""} placeholder="any" />
      </label>
      <button type="submit">Apply</button>
    </form>
  );
}

function Figures(props: { report: Report }) {
  const r = props.report;
  return (
    <section class="figures">
      <Figure label="orders placed" value={count(r.orders)} testid="orders" />
      {r.by_currency.map((c) => (
        <Figure label={`GMV (${c.currency})`} value={money(c.gross_gmv)} />
      ))}
      {r.by_currency.map((c) => (
        <Figure label={`net sales (${c.currency})`} value={money(c.net_sales)} />
      ))}
      <Figure label="cancellation rate" value={percent(r.cancellation_rate)} />
      <Figure label="return rate" value={percent(r.return_rate)} />
      <Figure label="order defect rate" value={percent(r.order_defect_rate)} warn={r.order_defect_rate > 0.01} />
      <Figure label="cash on delivery" value={count(r.cash_on_delivery)} />
      <Figure label="refused at the door" value={percent(r.refusal_rate)} />
      <Figure label="placed → shipped p50" value={hours(r.processing_hours_p50)} />
      <Figure label="placed → shipped p95" value={hours(r.processing_hours_p95)} />
    </section>
  );
}

/** The order defect rate's parts, and the merchants it is worst for. */
function Defects(props: { report: Report }) {
  const d = props.report.defects;
  const worst = props.report.by_merchant.slice(0, 10);
  return (
    <section data-testid="defects">
      <h2>Order defects</h2>
      <p>
        {count(d.defective)} defective orders: {count(d.negative_reviews)} with a 1–2 star review,{" "}
        {count(d.claims)} with a claim, {count(d.defective_returns)} with a return for a fault of the goods.
      </p>
      <table class="list" data-testid="merchant-defects">
        <thead>
          <tr>
            <th>Merchant</th>
            <th class="number">Orders</th>
            <th class="number">Defective</th>
            <th class="number">Poor reviews</th>
            <th class="number">Claims</th>
            <th class="number">Defective returns</th>
            <th class="number">Order defect rate</th>
          </tr>
        </thead>
        <tbody>
          {worst.map((m) => (
            <tr class={m.order_defect_rate > 0.01 ? "late" : ""}>
              <td>
                <a href={href("orders", { merchant: m.merchant_id })}>{m.merchant_id}</a>
              </td>
              <td class="number">{count(m.orders)}</td>
              <td class="number">{count(m.defective)}</td>
              <td class="number">{count(m.negative_reviews)}</td>
              <td class="number">{count(m.claims)}</td>
              <td class="number">{count(m.defective_returns)}</td>
              <td class="number">{percent(m.order_defect_rate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ByStatus(props: { report: Report }) {
  const entries = Object.entries(props.report.by_status).sort((a, b) => b[1] - a[1]);
  const most = Math.max(1, ...entries.map(([, n]) => n));
  return (
    <section>
      <h2>Orders by status</h2>
      <table class="bars" data-testid="by-status">
        <tbody>
          {entries.map(([status, n]) => (
            <tr>
              <th>
                <a href={href("orders", { status })}>{words(status)}</a>
              </th>
              <td>
                <span class="bar" style={{ width: `${(100 * n) / most}%` }} />
              </td>
              <td class="number">{count(n)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** How many exceptions the overview asks for: more shows as "1,000+". */
const EXCEPTIONS_ASKED = 1000;

function Watch(props: { exceptions: ExceptionItem[] | undefined; status: ProjectionStatus | undefined }) {
  const shown = props.exceptions?.length;
  const lag = props.status?.lag_total as number | undefined;
  const healthy = props.status?.healthy as boolean | undefined;
  return (
    <section class="figures">
      <Figure
        label={<a href={href("exceptions")}>exceptions</a>}
        value={shown === undefined ? "—" : shown >= EXCEPTIONS_ASKED ? `${count(EXCEPTIONS_ASKED)}+` : count(shown)}
        warn={(props.exceptions?.length ?? 0) > 0}
        testid="exceptions"
      />
      <Figure label="projection lag (events)" value={count(lag)} warn={(lag ?? 0) > 1000} testid="lag" />
      <Figure label="read models" value={healthy === undefined ? "—" : healthy ? "healthy" : "alarm"} warn={healthy === false} />
    </section>
  );
}

export function Overview(props: { params: URLSearchParams }) {
  const from = props.params.get("from") ?? undefined;
  const to = props.params.get("to") ?? undefined;
  const channel = props.params.get("channel") ?? undefined;
  const report = useLoad(() => get<Report>("/v1/reports", { from, to, channel }), [from, to, channel], true);
  const exceptions = useLoad(() => get<ExceptionItem[]>("/v1/exceptions", { limit: EXCEPTIONS_ASKED }), [], true);
  const status = useLoad(() => get<ProjectionStatus>("/v1/projections/status"), [], true);
  return (
    <>
      <h1>Overview</h1>
      <Filters params={props.params} />
      <Watch exceptions={exceptions.data} status={status.data} />
      <Show loaded={report}>
        {(r) => (
          <>
            <Figures report={r} />
            <div class="charts">
              {r.by_currency.map(({ currency }) => {
                const m = moneyByDay(r, currency);
                return (
                  <DayChart
                    title={`GMV and net sales per day (${currency})`}
                    days={m.dates}
                    unit={currency}
                    series={[
                      { label: "GMV", values: m.gmv, color: "#2563eb" },
                      { label: "net sales", values: m.net, color: "#16a34a" },
                    ]}
                  />
                );
              })}
              <DayChart
                title="Placed → shipped per placement day"
                days={r.dates.map((d) => d.date)}
                unit="hours"
                series={[
                  { label: "p50", values: r.dates.map((d) => d.processing_hours_p50), color: "#7c3aed" },
                  { label: "p95", values: r.dates.map((d) => d.processing_hours_p95), color: "#db2777" },
                ]}
              />
            </div>
            <ByStatus report={r} />
            <Defects report={r} />
          </>
        )}
      </Show>
    </>
  );
}
