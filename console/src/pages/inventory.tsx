// Stock per SKU and warehouse: on hand, reserved, available against the safety stock (low
// stock highlighted), its bin, the units a pick wave is picking and those picked and waiting at
// the pack station, the last cycle count, and the reservations holding it.
import { get, type InventoryItem, type Page } from "../api";
import { count, signed, time } from "../format";
import { href, useLoad } from "../hooks";
import { Show } from "../ui";

export function Inventory(props: { params: URLSearchParams }) {
  const low = props.params.get("low") === "true";
  const sku = props.params.get("sku") ?? undefined;
  const after = props.params.get("after") ?? undefined;
  const page = useLoad(
    () => get<Page<InventoryItem>>("/v1/inventory", { low, sku, after, limit: 200 }),
    [low, sku, after],
    !after,
  );
  const search = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    window.location.hash = href("inventory", {
      sku: String(form.get("sku") ?? "") || undefined,
      low: form.get("low") ? "true" : undefined,
    });
  };
  return (
    <>
      <h1>Inventory</h1>
      <form class="filters" onSubmit={search}>
        <label>
          SKU <input name="sku" value={sku ?? ""} placeholder="any" />
        </label>
        <label>
          <input type="checkbox" name="low" checked={low} /> low stock only
        </label>
        <button type="submit">Show</button>
      </form>
      <Show loaded={page}>
        {(items) => (
          <>
            <table class="list" data-testid="inventory">
              <thead>
                <tr>
                  <th>SKU</th>
                  <th>Warehouse</th>
                  <th class="number">On hand</th>
                  <th class="number">Reserved</th>
                  <th class="number">Available</th>
                  <th class="number">Safety stock</th>
                  <th>Bin</th>
                  <th class="number">Picking</th>
                  <th class="number">At pack station</th>
                  <th>Last count</th>
                  <th>Reservations</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {items.items.map((item) => (
                  <tr class={item.low_stock ? "low" : ""} data-low={item.low_stock ? "true" : undefined}>
                    <td>{item.sku}</td>
                    <td>{item.warehouse}</td>
                    <td class="number">{count(item.on_hand)}</td>
                    <td class="number">{count(item.reserved)}</td>
                    <td class="number">{count(item.available)}</td>
                    <td class="number">{count(item.safety_stock)}</td>
                    <td class="mono">{item.bin ?? "—"}</td>
                    <td class="number">{item.picking > 0 ? count(item.picking) : "—"}</td>
                    <td class="number">{item.staged > 0 ? count(item.staged) : "—"}</td>
                    <td>
                      {item.last_count ? (
                        <span title={`${item.last_count.reason}: counted ${item.last_count.counted_quantity} against ${item.last_count.book_quantity}`}>
                          {time(item.last_count.counted_at)} ({signed(item.last_count.difference)})
                        </span>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td>
                      {item.reservations.slice(0, 3).map((r) => (
                        <a class="mono reservation" href={href(`orders/${r.order_id}`)} title={`until ${time(r.expires_at)}`}>
                          {r.order_id.slice(0, 8)}×{r.quantity}
                        </a>
                      ))}
                      {item.reservations.length > 3 && ` +${item.reservations.length - 3}`}
                    </td>
                    <td>{time(item.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {items.next && (
              <nav class="pager">
                <a href={href("inventory", { sku, low: low ? "true" : undefined, after: items.next })}>Next page</a>
              </nav>
            )}
          </>
        )}
      </Show>
    </>
  );
}
