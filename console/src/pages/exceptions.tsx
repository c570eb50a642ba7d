// The exception queue: orders on hold, orders in a status longer than its SLA, claims open
// longer than theirs, and refunds owed on cancelled orders — longest waiting first, with what
// to do next for each.
import { get, type ExceptionItem } from "../api";
import { grams, money, time, words } from "../format";
import { href, useLoad } from "../hooks";
import { Show, Status } from "../ui";

/** What the people who run the shop do next, by why the order is in the queue. */
function nextStep(item: ExceptionItem): string {
  if (item.kind === "refund_due") {
    return "Cancelled (or refused at the door) after it was paid: Refund what is owed.";
  }
  const parcel = item.parcel;
  if (item.kind === "weight_mismatch" && parcel) {
    return (
      `Parcel ${parcel.parcel_id} weighed ${grams(parcel.weight_grams)} against ${grams(parcel.expected_weight_grams)} ` +
      "expected: open it, check its contents against the pick, and pack it again (or ship it as it is)."
    );
  }
  if (item.kind === "overweight" && parcel) {
    return (
      `Parcel ${parcel.parcel_id} weighs ${grams(parcel.weight_grams)}, over the ${grams(parcel.weight_limit_grams)} ` +
      "any allowed service takes: split it into parcels, or ship it with a freight carrier."
    );
  }
  if (item.claim) {
    return item.claim.kind === "not_received"
      ? "Trace the parcel with the carrier; refund it with ResolveClaim if it is lost."
      : "Look at the customer's evidence; ResolveClaim with a refund, a replacement, or a rejection and its reason.";
  }
  switch (item.hold) {
    case "payment_failed":
      return "Ask the customer to pay again, then ReleaseHold; or CancelOrder (stock is released).";
    case "parcel_lost":
      return "File a claim with the carrier; ship a replacement or refund, then ReleaseHold.";
    case "parcel_damaged":
      return "Ask the customer for photos, claim with the carrier; replace or refund, then ReleaseHold.";
  }
  switch (item.order.status) {
    case "placed":
    case "backordered":
      return "Stock is short: restock or split the order; cancel if the customer does not wait.";
    case "awaiting_payment":
    case "partially_paid":
      return "Remind the customer; the payment deadline expires the order on its own.";
    case "paid":
    case "ready_to_ship":
      return "Not yet shipped: check the warehouse's pick and pack for this order.";
    case "partially_shipped":
    case "shipped":
      return "Not delivered: ask the carrier with the tracking number.";
    case "return_requested":
      return "The return has not arrived: remind the customer or close the case.";
    default:
      return "Look at the order's timeline.";
  }
}

export function Exceptions() {
  const queue = useLoad(() => get<ExceptionItem[]>("/v1/exceptions", { limit: 500 }), [], true);
  return (
    <>
      <h1>Exceptions</h1>
      <Show loaded={queue}>
        {(items) =>
          items.length === 0 ? (
            <p class="muted">Nothing waits for a person.</p>
          ) : (
            <table class="list" data-testid="exceptions">
              <thead>
                <tr>
                  <th>Order</th>
                  <th>Why</th>
                  <th>Status</th>
                  <th class="number">Hours waiting</th>
                  <th class="number">SLA</th>
                  <th class="number">Total</th>
                  <th>Next step</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => {
                  const waiting = item.claim_hours_open ?? item.hours_in_status;
                  const late = item.sla_hours !== null && waiting > item.sla_hours;
                  return (
                    <tr class={late ? "late" : ""}>
                      <td>
                        <a class="mono" href={href(`orders/${item.order.order_id}`)}>
                          {item.order.order_id.slice(0, 8)}
                        </a>
                      </td>
                      <td>
                        {item.claim
                          ? `${words(item.kind)}: ${words(item.claim.kind)}`
                          : item.hold
                            ? words(item.hold)
                            : words(item.kind)}
                      </td>
                      <td>
                        <Status status={item.order.status} /> since {time(item.order.status_since)}
                      </td>
                      <td class="number">{waiting}</td>
                      <td class="number">{item.sla_hours === null ? "—" : `${item.sla_hours} h`}</td>
                      <td class="number">{money(item.order.total, item.order.currency)}</td>
                      <td>{nextStep(item)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}
