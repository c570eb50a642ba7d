// The orders, newest placement first, filtered by status, merchant, customer, channel and
// placement time, a page at a time (the API's cursor).
import { get, type OrderSummary, type Page } from "../api";
import { money, time } from "../format";
import { href, useLoad } from "../hooks";
import { Show, Status } from "../ui";

/** Every status an order can be in (the API's `OrderStatus`). */
export const STATUSES = [
  "placed",
  "backordered",
  "awaiting_payment",
  "partially_paid",
  "paid",
  "ready_to_ship",
  "partially_shipped",
  "shipped",
  "delivered",
  "completed",
  "on_hold",
  "return_requested",
  "partially_returned",
  "returned",
  "refunded",
  "cancelled",
  "expired",
];

const FILTERS = ["status", "merchant", "customer", "channel", "from", "to"] as const;

function Filters(props: { params: URLSearchParams }) {
  const p = props.params;
  const apply = (event: Event) => {
    event.preventDefault();
    const values: Record<string, string> = {};
    new FormData(event.target as HTMLFormElement).forEach((value, name) => {
      if (!value) return;
      // The API takes times; the form gives days: the day's start (UTC).
      values[name] = (name === "from" || name === "to") && !String(value).includes("T") ? `${value}T00:00:00Z` : String(value);
    });
    window.location.hash = href("orders", values);
  };
  const day = (name: string) => (p.get(name) ?? "").slice(0, 10);
  return (
    <form class="filters" onSubmit={apply} data-testid="order-filters">
      <label>
        Status
        <select name="status" value={p.get("status") ?? ""}>
          <option value="">any</option>
          {STATUSES.map((s) => (
            <option value={s}>{s.replace(/_/g, " ")}</option>
          ))}
        </select>
      </label>
      {(["merchant", "customer", "channel"] as const).map((name) => (
        <label>
          {name[0].toUpperCase() + name.slice(1)} <input name={name} value={p.get(name) ?? ""} placeholder="any" />
        </label>
      ))}
      <label>
        Placed from <input type="date" name="from" value={day("from")} />
      </label>
      <label>
        before <input type="date" name="to" value={day("to")} />
      </label>
      <button type="submit">Filter</button>
    </form>
  );
}

export function Orders(props: { params: URLSearchParams }) {
  const p = props.params;
  const query: Record<string, string | undefined> = {};
  for (const name of FILTERS) query[name] = p.get(name) ?? undefined;
  const after = p.get("after") ?? undefined;
  const key = JSON.stringify([query, after]);
  const page = useLoad(() => get<Page<OrderSummary>>("/v1/orders", { ...query, after, limit: 50 }), [key], !after);
  return (
    <>
      <h1>Orders</h1>
      <Filters params={p} />
      <Show loaded={page}>
        {(orders) => (
          <>
            <table class="list" data-testid="orders">
              <thead>
                <tr>
                  <th>Order</th>
                  <th>Status</th>
                  <th>Since</th>
                  <th>Channel</th>
                  <th>Merchant</th>
                  <th>Customer</th>
                  <th class="number">Total</th>
                  <th>Placed</th>
                </tr>
              </thead>
              <tbody>
                {orders.items.map((o) => (
                  <tr>
                    <td>
                      <a href={href(`orders/${o.order_id}`)} class="mono">
                        {o.order_id.slice(0, 8)}
                      </a>
                    </td>
                    <td>
                      <Status status={o.status} />
                    </td>
                    <td>{time(o.status_since)}</td>
                    <td>{o.channel}</td>
                    <td>{o.merchant_id}</td>
                    <td>{o.customer_id}</td>
                    <td class="number">{money(o.total, o.currency)}</td>
                    <td>{time(o.placed_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {orders.items.length === 0 && <p class="muted">No order matches.</p>}
            <nav class="pager">
              {after && <a href={href("orders", query)}>First page</a>}
              {orders.next && (
                <a href={href("orders", { ...query, after: orders.next })} data-testid="next-page">
                  Next page
                </a>
              )}
            </nav>
          </>
        )}
      </Show>
    </>
  );
}
