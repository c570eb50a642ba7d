// One order: its lines and the warehouse of each, its timeline, the events that made it (with
// their sequence and hash), and its settlement's journal entries.
import { get, type Access, type Claim, type OrderBalance, type OrderView } from "../api";
import { money, time, words } from "../format";
import { href, useLoad } from "../hooks";
import { Show, Status } from "../ui";

function Lines(props: { order: OrderView }) {
  const o = props.order;
  return (
    <section>
      <h2>Lines</h2>
      <table class="list" data-testid="lines">
        <thead>
          <tr>
            <th>SKU</th>
            <th class="number">Quantity</th>
            <th class="number">Unit price</th>
            <th>Warehouse</th>
            <th class="number">Shipped</th>
            <th class="number">Returned</th>
          </tr>
        </thead>
        <tbody>
          {o.lines.map((line) => (
            <tr>
              <td>{line.sku}</td>
              <td class="number">{line.quantity}</td>
              <td class="number">{money(line.unit_price, o.currency)}</td>
              <td>
                {line.warehouses.length > 0
                  ? line.warehouses.map((w) => `${w.warehouse} (${w.reserved} reserved, ${w.shipped} shipped)`).join(", ")
                  : (line.warehouse ?? "—")}
              </td>
              <td class="number">{line.shipped}</td>
              <td class="number">{line.returned}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        Subtotal {money(o.subtotal, o.currency)} · discounts {money(o.discount_total, o.currency)} · shipping{" "}
        {money(o.shipping_fee, o.currency)} · <strong>total {money(o.total, o.currency)}</strong> · captured{" "}
        {money(o.captured, o.currency)} · refunded {money(o.refunded, o.currency)}
        {o.payment_terms === "cash_on_delivery" ? " · cash on delivery" : ""}
        {parseFloat(o.refund_owed) > 0 ? ` · refund owed ${money(o.refund_owed, o.currency)}` : ""}
      </p>
    </section>
  );
}

/** How a claim ended, in words. */
function resolution(claim: Claim, currency: string): string {
  const r = claim.resolution;
  if (r === null) return claim.claim_id === null ? "recorded with feedback" : "open";
  if ("refund" in r) return `refunded ${money(r.refund.amount, currency)} (${r.refund.refund_id})`;
  if ("replacement" in r) return `replaced (exchange ${r.replacement.return_id})`;
  return `rejected: ${r.rejected.reason}`;
}

/** The customer's review and claims, when there are any. */
function Aftercare(props: { order: OrderView }) {
  const { review, claims, currency } = props.order;
  if (review === null && claims.length === 0) return null;
  return (
    <section data-testid="aftercare">
      <h2>Review and claims</h2>
      {review && (
        <p>
          <span class={review.rating <= 2 ? "status status-on_hold" : "status"}>{"★".repeat(review.rating)}</span>{" "}
          {review.text && `“${review.text}”`}
          {review.reviewed_at && ` · ${time(review.reviewed_at)}`}
          {review.revised_at && ` · revised ${time(review.revised_at)}`}
        </p>
      )}
      {claims.length > 0 && (
        <ul>
          {claims.map((c) => (
            <li>
              {words(c.kind)}
              {c.claim_id && <span class="mono"> {c.claim_id}</span>}
              {c.opened_at && `, opened ${time(c.opened_at)}`}: {resolution(c, currency)}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Timeline(props: { order: OrderView }) {
  return (
    <section>
      <h2>Timeline</h2>
      <ol class="timeline" data-testid="timeline">
        {props.order.timeline.map((step) => (
          <li>
            <Status status={step.status} /> <time>{time(step.at)}</time>
          </li>
        ))}
      </ol>
      {props.order.shipments.map((s) => (
        <p>
          Shipment {s.shipment_id}: {s.carrier} <span class="mono">{s.tracking_number}</span>, dispatched {time(s.dispatched_at)}
          {s.delivered_at ? `, delivered ${time(s.delivered_at)}` : ""}
          {s.refused_at ? `, refused at the door ${time(s.refused_at)}` : ""}
        </p>
      ))}
    </section>
  );
}

function Events(props: { order: OrderView; access: Access }) {
  return (
    <section>
      <h2>Events</h2>
      <table class="list" data-testid="events">
        <thead>
          <tr>
            <th class="number">Seq</th>
            <th>Event</th>
            <th>Recorded</th>
            <th>By</th>
            <th>Position</th>
            <th>Hash</th>
            {props.access.log && <th>Proof</th>}
          </tr>
        </thead>
        <tbody>
          {props.order.events.map((e) => (
            <tr>
              <td class="number">{e.sequence}</td>
              <td>{e.event_type}</td>
              <td>{time(e.recorded_at)}</td>
              <td>
                {e.actor.kind}:{e.actor.id}
              </td>
              <td class="mono">
                {e.partition}:{e.offset}
              </td>
              <td class="mono" title={e.hash}>
                {e.hash.slice(0, 16)}…
              </td>
              {props.access.log && (
                <td>
                  <a href={href("audit", { event: e.event_id })}>proof</a>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Settlement(props: { id: string; currency: string }) {
  const balance = useLoad(() => get<OrderBalance>(`/v1/orders/${props.id}/settlement`), [props.id], true);
  return (
    <section>
      <h2>Settlement</h2>
      <Show loaded={balance}>
        {(b) =>
          b.entries.length === 0 ? (
            <p class="muted">No journal entries yet (nothing captured).</p>
          ) : (
            <table class="list" data-testid="settlement">
              <thead>
                <tr>
                  <th>Entry</th>
                  <th>At</th>
                  <th>Account</th>
                  <th class="number">Debit</th>
                  <th class="number">Credit</th>
                </tr>
              </thead>
              <tbody>
                {b.entries.flatMap((entry) =>
                  entry.postings.map((posting, i) => (
                    <tr class={i === 0 ? "first" : ""}>
                      <td>{i === 0 ? words(entry.kind) : ""}</td>
                      <td>{i === 0 ? time(entry.at) : ""}</td>
                      <td>{posting.account}</td>
                      <td class="number">{Number(posting.debit) ? money(posting.debit, entry.currency) : ""}</td>
                      <td class="number">{Number(posting.credit) ? money(posting.credit, entry.currency) : ""}</td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          )
        }
      </Show>
    </section>
  );
}

export function Order(props: { id: string; access: Access }) {
  const order = useLoad(() => get<OrderView>(`/v1/orders/${props.id}`), [props.id], true);
  return (
    <Show loaded={order}>
      {(o) => (
        <>
          <p>
            <a href={href("orders")}>← Orders</a>
          </p>
          <h1>
            Order <span class="mono">{o.order_id}</span> <Status status={o.status} />
          </h1>
          <p>
            {o.channel} · {o.external_reference} · merchant{" "}
            <a href={href("orders", { merchant: o.merchant_id })}>{o.merchant_id}</a> · customer{" "}
            <a href={href("orders", { customer: o.customer_id })}>{o.customer_id}</a> · placed {time(o.placed_at)}
            {o.hold && ` · on hold: ${words(o.hold)}`}
          </p>
          <Lines order={o} />
          <div class="columns">
            <Timeline order={o} />
            <Settlement id={o.order_id} currency={o.currency} />
          </div>
          <Aftercare order={o} />
          <Events order={o} access={props.access} />
        </>
      )}
    </Show>
  );
}
