// The console in a real browser (Debian's Chromium, headless, through playwright-core) against
// a `ledger serve` of the demo's shop: what a person signing in sees, page by page. Saves a
// screenshot of each page under docs/console/ (shown in the README).
//
// Needs LEDGER_BIN (a built `ledger`); CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const LEDGER = process.env.LEDGER_BIN ?? resolve("../target/debug/ledger");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = resolve("../docs/console");
// The demo's default size: its orders span several days, so the charts have lines to draw.
const ORDERS = process.env.CONSOLE_DEMO_ORDERS ?? "3000";

const dir = mkdtempSync(join(tmpdir(), "ledger-console-"));
const data = join(dir, "data");
const tokens = {};
let serve;
let base;
let browser;
/** The public half of the key the serve signs its checkpoints with. */
let publicKey;

/** A token of `role`, its SHA-256 in the serve's config. */
function token(name, role) {
  const value = `${name}-${randomBytes(16).toString("hex")}`;
  tokens[name] = value;
  const sha = createHash("sha256").update(value).digest("hex");
  return `[[auth.tokens]]\nname = "${name}"\nsha256 = "${sha}"\nroles = ["${role}"]\n`;
}

async function until(what, check, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  const demo = spawnSync(LEDGER, ["demo", "--orders", ORDERS, "--data", data], { encoding: "utf8" });
  assert.equal(demo.status, 0, `ledger demo failed:\n${demo.stderr}`);
  const key = join(dir, "checkpoint.key");
  const made = spawnSync(LEDGER, ["replay", "checkpoint-key", "--out", key], { encoding: "utf8" });
  publicKey = made.stdout.match(/public key ([0-9a-f]{64})/)?.[1];
  assert.ok(publicKey, `checkpoint-key said:\n${made.stdout}${made.stderr}`);
  const config = join(dir, "ledger.toml");
  const checkpoints = ["[checkpoints]", "interval_secs = 0", `signing_key = ${JSON.stringify(key)}`];
  writeFileSync(
    config,
    [
      "[auth]",
      token("ana", "analyst"),
      token("fin", "finance"),
      token("aud", "auditor"),
      token("wms", "service"),
      ...checkpoints,
      // A SKU the warehouse test packs: the catalog gives its expected weight.
      '[catalog."CONSOLE-MUG"]',
      "weight_grams = 400",
      "",
    ].join("\n"),
  );
  serve = spawn(LEDGER, ["--config", config, "serve", "--data", data, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  serve.stderr.on("data", (chunk) => (stderr += chunk));
  const address = await until("the serve's address", () => {
    if (serve.exitCode !== null) throw new Error(`serve exited ${serve.exitCode}:\n${stderr}`);
    const file = join(data, "serve.addr");
    return existsSync(file) && readFileSync(file, "utf8").trim();
  });
  base = address.startsWith("http") ? address : `http://${address}`;
  // The read models caught up with the demo's log before the pages are looked at.
  await until("the read models", async () => {
    const answer = await fetch(`${base}/v1/projections/status`, { headers: { Authorization: `Bearer ${tokens.ana}` } });
    return answer.ok && (await answer.json()).lag_total === 0;
  });
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  serve?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh tab signed in as `name` (or with `wrong` text as the token). */
async function signedIn(name, { wrong } = {}) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const failures = [];
  page.on("pageerror", (error) => failures.push(error.message));
  page.on("requestfailed", (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`));
  page.failures = failures;
  await page.goto(`${base}/`);
  await page.fill("#token", wrong ?? tokens[name]);
  await page.click("button[type=submit]");
  if (!wrong) await page.waitForSelector("[data-testid=who]");
  return page;
}

async function shot(page, name) {
  // A full-page capture scrolls: the sticky header would be drawn where the scroll left it.
  await page.addStyleTag({ content: "header { position: static !important; }" });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Whether a canvas under `selector` has any drawn (non-transparent) pixel. */
async function drawn(page, selector) {
  return page.$eval(selector, (figure) => {
    const canvas = figure.querySelector("canvas");
    if (!canvas) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
  });
}

test("a wrong token is refused with the API's reason, and nothing else shows", async () => {
  const page = await signedIn(null, { wrong: "not-a-token" });
  const alert = await page.waitForSelector("[role=alert]");
  assert.match(await alert.textContent(), /not one this serve knows/);
  assert.equal(await page.$("[data-testid=who]"), null);
  await shot(page, "sign-in");
  await page.close();
});

test("the overview shows the demo's figures and draws its charts", async () => {
  const page = await signedIn("ana");
  await page.waitForSelector("[data-testid=orders] .value");
  const orders = Number((await page.textContent("[data-testid=orders] .value")).replace(/,/g, ""));
  assert.ok(orders >= Number(ORDERS) * 0.9, `orders placed: ${orders}`);
  await page.waitForSelector("figure.chart canvas");
  const charts = await page.$$eval("figure.chart", (figures) => figures.map((f) => f.dataset.chart));
  assert.ok(charts.some((c) => c.startsWith("GMV")) && charts.some((c) => c.startsWith("Placed")), String(charts));
  for (const chart of charts) assert.ok(await drawn(page, `figure[data-chart="${chart}"]`), `${chart} is drawn`);
  const statuses = await page.$$eval("[data-testid=by-status] tr", (rows) => rows.length);
  assert.ok(statuses >= 3, `statuses shown: ${statuses}`);
  assert.match(await page.textContent("[data-testid=lag] .value"), /^\d/);
  await shot(page, "overview");
  assert.deepEqual(page.failures, []);
  await page.close();
});

test("a filter narrows the orders list, and an order's page shows its timeline and events", async () => {
  const page = await signedIn("ana");
  await page.click("a[href='#/orders']");
  await page.waitForSelector("[data-testid=orders] tbody tr");
  const all = await page.$$eval("[data-testid=orders] tbody tr", (rows) => rows.length);
  await page.selectOption("select[name=status]", "completed");
  await page.click("[data-testid=order-filters] button");
  await page.waitForFunction(() => location.hash.includes("status=completed"));
  await page.waitForFunction(() =>
    [...document.querySelectorAll("[data-testid=orders] tbody tr .status")].every((s) => s.textContent === "completed"),
  );
  const completed = await page.$$eval("[data-testid=orders] tbody tr", (rows) => rows.length);
  assert.ok(completed > 0 && completed <= all, `${completed} completed of ${all}`);
  await shot(page, "orders");

  await page.click("[data-testid=orders] tbody tr:first-child a");
  await page.waitForSelector("[data-testid=timeline] li");
  const steps = await page.$$eval("[data-testid=timeline] li", (items) => items.map((i) => i.textContent));
  assert.ok(steps[0].startsWith("placed") && steps.at(-1).startsWith("completed"), String(steps));
  const events = await page.$$eval("[data-testid=events] tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
  assert.deepEqual(events, events.map((_, i) => String(i + 1)), "events in sequence order from 1");
  await page.waitForSelector("[data-testid=settlement] tbody tr");
  await shot(page, "order");
  assert.deepEqual(page.failures, []);
  await page.close();
});

/** GET `path` from the serve as `name`. */
async function api(name, path) {
  const answer = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${tokens[name]}` } });
  assert.ok(answer.ok, `${path}: ${answer.status}`);
  return answer.json();
}

test("the overview shows the order defect rate's parts by merchant, and an order its review and claim", async () => {
  const page = await signedIn("ana");
  await page.waitForSelector("[data-testid=merchant-defects] tbody tr");
  const report = await api("ana", "/v1/reports");
  const rows = await page.$$eval("[data-testid=merchant-defects] tbody tr", (r) => r.map((row) => row.cells[0].textContent));
  assert.deepEqual(rows, report.by_merchant.slice(0, 10).map((m) => m.merchant_id), "worst merchants first");
  assert.match(await page.textContent("[data-testid=defects]"), new RegExp(`${report.defects.claims} with a claim`));

  // The demo's first order with a claim, found through the API.
  let claimed;
  for (let after; !claimed; ) {
    const listing = await api("ana", `/v1/orders?limit=200${after ? `&after=${after}` : ""}`);
    for (const item of listing.items) {
      const order = await api("ana", `/v1/orders/${item.order_id}`);
      if (order.claims.length > 0 && order.review) {
        claimed = order;
        break;
      }
    }
    assert.ok(claimed || listing.next, "the demo has an order with a review and a claim");
    after = listing.next;
  }
  await page.goto(`${base}/#/orders/${claimed.order_id}`);
  const aftercare = await (await page.waitForSelector("[data-testid=aftercare]")).textContent();
  assert.ok(aftercare.includes("★".repeat(claimed.review.rating)), aftercare);
  assert.match(aftercare, /refunded|replaced|rejected|open/);
  await shot(page, "order-claim");
  assert.deepEqual(page.failures, []);
  await page.close();
});

/** Posts a command as the warehouse service's token (its result once the process reacted). */
async function command(type, payload, actor = "service:wms", schemaVersion = undefined) {
  const answer = await fetch(`${base}/v1/commands?settle=true`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tokens.wms}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      command_id: crypto.randomUUID(),
      type,
      ...(schemaVersion && { schema_version: schemaVersion }),
      actor: { kind: actor.split(":")[0], id: actor.split(":")[1] },
      issued_at: new Date().toISOString(),
      payload,
    }),
  });
  const result = await answer.json();
  assert.equal(result.outcome, "accepted", `${type}: ${JSON.stringify(result)}`);
  return result;
}

/** An order of two CONSOLE-MUGs, paid, planned in a wave, picked, and packed at 1.3 kg (800 g
 * expected): a weight mismatch in the exception queue. */
async function mispackedOrder() {
  const item = { sku: "CONSOLE-MUG", warehouse: "HAM-1" };
  await command("ReceiveStock", { item, quantity: 5, reference: "PO-console" });
  const placed = await command(
    "PlaceOrder",
    {
      channel: "web",
      external_reference: `console-${randomBytes(4).toString("hex")}`,
      customer_id: "cust-console",
      merchant_id: "merchant-1",
      currency: "EUR",
      shipping_fee: "4.90",
      service_level: "standard",
      lines: [{ sku: "CONSOLE-MUG", quantity: 2, unit_price: "9.50" }],
      shipping_address: {
        recipient: "Erika Mustermann",
        phone: "+49 30 1234567",
        street: "Unter den Linden 1",
        city: "Berlin",
        postal_code: "10117",
        country: "DE",
      },
    },
    "service:checkout",
    3,
  );
  const orderId = placed.aggregate_id;
  await command("CapturePayment", {
    order_id: orderId,
    payment_id: "p-console",
    method: "card",
    amount: "23.90",
    currency: "EUR",
    psp_reference: `psp-${orderId}`,
  });
  const lines = [{ sku: "CONSOLE-MUG", quantity: 2 }];
  const wave = "W-CONSOLE-1";
  await command("PlanWave", { wave_id: wave, warehouse: "HAM-1", orders: [{ order_id: orderId, lines }] });
  await command("RecordPick", { wave_id: wave, order_id: orderId, sku: "CONSOLE-MUG", picked_quantity: 2 }, "staff:picker");
  await command("PackParcel", { order_id: orderId, parcel_id: "P-CONSOLE", weight_grams: 1300, lines }, "staff:packer");
  return orderId;
}

test("the exception queue shows a parcel weighed off its expected weight, and the inventory renders", async () => {
  const orderId = await mispackedOrder();
  const page = await signedIn("ana");
  await page.click("a[href='#/exceptions']");
  const row = await page.waitForSelector(`[data-testid=exceptions] tr:has(a[href='#/orders/${orderId}'])`, { timeout: 20_000 });
  const text = await row.textContent();
  assert.match(text, /weight mismatch/);
  assert.match(text, /Parcel P-CONSOLE weighed 1\.3 kg against 800 g expected/);
  await shot(page, "exceptions");
  await page.click("a[href='#/inventory']");
  await page.waitForSelector("[data-testid=inventory] tbody tr");
  const rows = await page.$$eval("[data-testid=inventory] tbody tr", (r) => r.length);
  assert.ok(rows > 0);
  await shot(page, "inventory");
  assert.deepEqual(page.failures, []);
  await page.close();
});

test("the inventory shows bins and counts, and the warehouse its waves, a pick list for the scanner and what to reorder", async () => {
  const page = await signedIn("ana");
  await page.click("a[href='#/inventory']");
  await page.waitForSelector("[data-testid=inventory] tbody tr");
  const bins = await page.$$eval("[data-testid=inventory] tbody tr td:nth-child(7)", (cells) =>
    cells.map((c) => c.textContent).filter((t) => t !== "—"),
  );
  assert.ok(bins.length > 0, "the demo's stock items have bins");

  await page.click("a[href='#/warehouse']");
  await page.waitForSelector("[data-testid=waves] tbody tr");
  const waves = await api("ana", "/v1/waves?limit=50");
  assert.equal(waves.length, 50, "the demo plans more than 50 waves");
  const listed = () => page.$$eval("[data-testid=waves] tbody tr", (r) => r.map((row) => row.cells[0].textContent));
  assert.deepEqual(await listed(), waves.slice(0, 25).map((w) => w.wave_id), "the newest 25 first");
  await page.click("text=More waves");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=waves] tbody tr").length === 50);
  assert.deepEqual(await listed(), waves.map((w) => w.wave_id));
  // A wave with a short pick, if the newest fifty have one; else the newest.
  const wave = waves.find((w) => w.short_lines > 0) ?? waves[0];
  await page.click(`[data-testid=waves] a:text-is("${wave.wave_id}")`);
  await page.waitForSelector("[data-testid=pick-list] tbody tr");
  const lines = await page.$$eval("[data-testid=pick-list] tbody tr", (r) => r.length);
  assert.equal(lines, wave.lines);
  const short = await page.$$eval("[data-testid=pick-list] tr[data-short]", (r) => r.length);
  assert.equal(short, wave.short_lines);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=CSV for the scanner")]);
  assert.equal(download.suggestedFilename(), `pick-list-${wave.wave_id}.csv`);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const csv = readFileSync(file, "utf8").trim().split("\n");
  const header = csv[0].split(",");
  assert.equal(header[0], "sequence");
  for (const column of ["bin", "sku", "quantity", "picked_quantity", "order_id"]) assert.ok(header.includes(column), csv[0]);
  assert.equal(csv.length, wave.lines + 1, "a header and a row per line");

  // Replenishment as of the newest wave's day, the API's figures row for row.
  await page.waitForSelector("[data-testid=replenishment] tbody tr");
  const asOf = waves[0].planned_at.slice(0, 10);
  assert.equal(await page.inputValue("input[name=as_of]"), asOf);
  const figures = await api("ana", `/v1/inventory/replenishment?as_of=${asOf}`);
  const shown = await page.$$eval("[data-testid=replenishment] tbody tr", (r) => r.length);
  assert.equal(shown, figures.items.length);
  const reorder = figures.items.filter((item) => item.reorder).length;
  assert.ok(reorder > 0, "the demo's shop has items to reorder");
  assert.equal(await page.$$eval("[data-testid=replenishment] tr[data-reorder]", (r) => r.length), reorder);
  await shot(page, "warehouse");
  await page.check("input[name=reorder]");
  await page.click("form:has(input[name=reorder]) button[type=submit]");
  await page.waitForFunction(
    (n) => document.querySelectorAll("[data-testid=replenishment] tbody tr").length === n,
    reorder,
  );
  assert.deepEqual(page.failures, []);
  await page.close();
});

test("finance reconciles a provider's report and sees its breaks; an analyst cannot", async () => {
  const analyst = await signedIn("ana");
  await analyst.click("a[href='#/finance']");
  await analyst.waitForSelector("[data-testid=trial-balance]");
  assert.ok(await analyst.$("[data-testid=no-finance-actions]"));
  assert.equal(await analyst.$("[data-testid=reconcile]"), null);
  await analyst.close();

  const page = await signedIn("fin");
  await page.click("a[href='#/finance']");
  await page.waitForSelector("[data-testid=merchants] tbody tr");
  assert.match(await page.textContent("[data-testid=trial-balance]"), /^Balanced/);
  const report = join(dir, "provider.csv");
  writeFileSync(report, "psp_reference,type,gross,fee,net,currency,date\npsp-stranger,capture,10.00,0.00,10.00,EUR,2020-01-02\n");
  await page.setInputFiles("[data-testid=reconcile] input[type=file]", report);
  await page.click("[data-testid=reconcile] button");
  await page.waitForSelector("[data-testid=reconciliation-result]");
  assert.match(await page.textContent("[data-testid=break-kinds]"), /missing in ledger: 1/);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=runs] tbody tr").length > 0);
  await shot(page, "finance");
  assert.deepEqual(page.failures, []);
  await page.close();
});

test("an auditor sees the log and takes a checkpoint", async () => {
  const page = await signedIn("aud");
  await page.click("a[href='#/audit']");
  await page.waitForSelector("[data-testid=health]");
  await page.click("text=Take a checkpoint of the log now");
  await page.waitForSelector("[data-testid=checkpoint]");
  assert.match(await page.textContent("[data-testid=checkpoint]"), /Root [0-9a-f]{64}/);
  await shot(page, "audit");
  assert.deepEqual(page.failures, []);
  await page.close();
});

test("an auditor downloads an event's proof from its order's page, and it checks offline", async () => {
  const page = await signedIn("aud");
  await page.click("a[href='#/orders']");
  await page.click("[data-testid=orders] tbody tr:first-child a");
  const link = await page.waitForSelector("[data-testid=events] tbody tr:first-child a[href^='#/audit?event=']");
  const eventId = (await link.getAttribute("href")).split("event=")[1];
  await link.click();
  await page.waitForSelector("[data-testid=proof]");
  assert.match(await page.textContent("[data-testid=proof]"), new RegExp(`Event ${eventId} is record`));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download the proof")]);
  assert.equal(download.suggestedFilename(), `proof-${eventId}.json`);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const proof = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(proof.format, "order-ledger/proof/v2");
  assert.equal(proof.event_id, eventId);
  const checked = spawnSync(LEDGER, ["replay", "check-proof", file, "--public-key", publicKey], { encoding: "utf8" });
  assert.equal(checked.status, 0, `check-proof said:\n${checked.stdout}${checked.stderr}`);
  await shot(page, "audit-proof");

  // A malformed id is refused in the page, before any request.
  await page.fill("input[name=event]", "not-an-id");
  await page.click("text=Prove");
  assert.match(await (await page.waitForSelector("[role=alert]")).textContent(), /is not an event id/);
  assert.deepEqual(page.failures, []);
  await page.close();
});
