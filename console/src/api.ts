// The ledger's HTTP API as the console uses it: the documented routes only (see
// /v1/openapi.json), with the signed-in token as a bearer token.

/** What the API answered instead of what was asked: its `error` code and `reason`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

export type Params = Record<string, string | number | boolean | undefined | null>;

const TOKEN_KEY = "order-ledger/token";

/** The token of this tab's session (kept in sessionStorage: gone when the tab closes). */
export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/** Listeners told when the API refuses the token (it was revoked, or the serve restarted). */
const signedOut = new Set<() => void>();
export function onSignedOut(listener: () => void): () => void {
  signedOut.add(listener);
  return () => signedOut.delete(listener);
}

function url(path: string, params: Params = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) {
      query.set(name, String(value));
    }
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** The answer to a request, or the ApiError it was refused with. */
async function request(method: string, path: string, params: Params, accept: string, body?: BodyInit, type?: string) {
  const headers: Record<string, string> = { Accept: accept };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (type) headers["Content-Type"] = type;
  const response = await fetch(url(path, params), { method, headers, body });
  if (!response.ok) {
    let code = `http_${response.status}`;
    let reason = response.statusText;
    try {
      const answer = await response.json();
      code = answer.error ?? code;
      reason = answer.reason ?? reason;
    } catch {
      // Not JSON: keep the status line.
    }
    if (response.status === 401) signedOut.forEach((listener) => listener());
    throw new ApiError(response.status, code, reason);
  }
  return response;
}

export async function get<T>(path: string, params: Params = {}): Promise<T> {
  return (await (await request("GET", path, params, "application/json")).json()) as T;
}

/** A read route's answer as CSV (every read route answers `Accept: text/csv`). */
export async function getCsv(path: string, params: Params = {}): Promise<string> {
  return (await request("GET", path, params, "text/csv")).text();
}

export async function post<T>(path: string, body: BodyInit, type: string, params: Params = {}): Promise<T> {
  return (await (await request("POST", path, params, "application/json", body, type)).json()) as T;
}

// ---- What the routes answer (the OpenAPI document's schemas, the parts the console shows).

export type Money = string;

export interface Access {
  read: boolean;
  finance: boolean;
  log: boolean;
  commands: boolean;
  metrics: boolean;
  admin: boolean;
}

export interface WhoAmI {
  token: string;
  roles: string[];
  access: Access;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface OrderSummary {
  order_id: string;
  status: string;
  status_since: string;
  channel: string;
  merchant_id: string;
  customer_id: string;
  currency: string;
  total: Money;
  captured: Money;
  refunded: Money;
  placed_at: string;
  updated_at: string;
}

export interface StatusChange {
  status: string;
  at: string;
}

export interface LineWarehouse {
  warehouse: string;
  reserved: number;
  shipped: number;
}

export interface OrderLine {
  sku: string;
  quantity: number;
  unit_price: Money;
  warehouse: string | null;
  warehouses: LineWarehouse[];
  shipped: number;
  returned: number;
}

export interface EventRef {
  sequence: number;
  event_type: string;
  event_id: string;
  recorded_at: string;
  partition: number;
  offset: number;
  hash: string;
  actor: { kind: string; id: string };
}

export interface Shipment {
  shipment_id: string;
  carrier: string;
  tracking_number: string;
  dispatched_at: string;
  delivered_at: string | null;
  refused_at: string | null;
  freight_cost: Money;
}

export interface OrderView extends OrderSummary {
  external_reference: string;
  payment_terms: "prepaid" | "cash_on_delivery";
  refund_owed: Money;
  timeline: StatusChange[];
  lines: OrderLine[];
  subtotal: Money;
  discount_total: Money;
  shipping_fee: Money;
  shipments: Shipment[];
  events: EventRef[];
  hold: string | null;
  review: Review | null;
  claims: Claim[];
}

export interface Review {
  rating: number;
  text: string;
  reviewed_at: string | null;
  revised_at: string | null;
}

/** How staff resolved a claim: exactly one key. */
export type ClaimResolution =
  | { refund: { refund_id: string; amount: Money; psp_reference: string } }
  | { replacement: { return_id: string; lines: { sku: string; quantity: number }[] } }
  | { rejected: { reason: string } };

export interface Claim {
  claim_id: string | null;
  kind: string;
  opened_at: string | null;
  resolution: ClaimResolution | null;
}

/** Orders with a defect, and with each kind of defect. */
export interface Defects {
  defective: number;
  negative_reviews: number;
  claims: number;
  defective_returns: number;
}

export interface MerchantDefects extends Defects {
  merchant_id: string;
  orders: number;
  order_defect_rate: number;
}

export interface Posting {
  account: string;
  debit: Money;
  credit: Money;
}

export interface JournalEntry {
  kind: string;
  event_id: string;
  currency: string;
  at: string;
  postings: Posting[];
}

export interface OrderBalance {
  entries: JournalEntry[];
  accounts: Record<string, Money>;
}

export interface DayReport {
  date: string;
  channel: string;
  currency: string;
  orders: number;
  gross_gmv: Money;
  net_sales: Money;
  average_order_value: Money;
  cancelled: number;
  expired: number;
  returned: number;
  defective: number;
  negative_reviews: number;
  claims: number;
  defective_returns: number;
  by_status: Record<string, number>;
}

/** One placement day over every channel and currency of a report. */
export interface DateSummary {
  date: string;
  orders: number;
  processing_hours_p50: number | null;
  processing_hours_p95: number | null;
}

export interface Report {
  from: string | null;
  to: string | null;
  channel: string | null;
  days: DayReport[];
  dates: DateSummary[];
  orders: number;
  by_status: Record<string, number>;
  by_currency: { currency: string; orders: number; gross_gmv: Money; net_sales: Money; average_order_value: Money }[];
  cancellation_rate: number;
  return_rate: number;
  order_defect_rate: number;
  cash_on_delivery: number;
  refused: number;
  refusal_rate: number;
  defects: Defects;
  by_merchant: MerchantDefects[];
  processing_hours_p50: number | null;
  processing_hours_p95: number | null;
}

/** A parcel as packed and weighed at the pack station. */
export interface ParcelPacked {
  parcel_id: string;
  lines: { sku: string; quantity: number }[];
  weight_grams: number;
  expected_weight_grams: number | null;
  weight_limit_grams: number | null;
  weight_mismatch: boolean;
  overweight: boolean;
  handling: string[];
  packed_at: string;
}

export interface ExceptionItem {
  order: OrderSummary;
  kind: string;
  hold: string | null;
  hours_in_status: number;
  sla_hours: number | null;
  claim: Claim | null;
  claim_hours_open: number | null;
  /** The parcel of a `weight_mismatch` or `overweight` exception. */
  parcel?: ParcelPacked | null;
}

export interface InventoryItem {
  sku: string;
  warehouse: string;
  on_hand: number;
  reserved: number;
  available: number;
  safety_stock: number;
  low_stock: boolean;
  bin: string | null;
  /** Units a pick wave is picking now. */
  picking: number;
  /** Units picked for orders and waiting at the pack station (out of the bin). */
  staged: number;
  last_count: { counted_at: string; book_quantity: number; counted_quantity: number; difference: number; reason: string } | null;
  reservations: { order_id: string; quantity: number; expires_at: string }[];
  updated_at: string;
}

export interface WaveSummary {
  wave_id: string;
  warehouse: string;
  status: "picking" | "completed";
  carrier: string | null;
  service_level: string | null;
  cutoff_at: string | null;
  planned_at: string;
  completed_at: string | null;
  orders: number;
  lines: number;
  lines_picked: number;
  short_lines: number;
  units: number;
  units_picked: number;
}

export interface PickLine {
  sequence: number;
  bin: string | null;
  sku: string;
  quantity: number;
  order_id: string;
  service_level: string;
  picked_quantity: number | null;
}

export interface WaveView extends WaveSummary {
  pick_list: PickLine[];
}

export interface Replenishment {
  sku: string;
  warehouse: string;
  on_hand: number;
  available: number;
  safety_stock: number;
  units_sold: number;
  window_days: number;
  velocity_per_day: number;
  days_of_cover: number | null;
  lead_time_days: number;
  reorder_point: number;
  reorder: boolean;
  suggested_order_quantity: number;
}

export interface AccountBalance {
  currency: string;
  account: string;
  debits: Money;
  credits: Money;
  balance: Money;
}

export interface TrialBalance {
  balanced: boolean;
  currencies: { currency: string; debits: Money; credits: Money; difference: Money; accounts: AccountBalance[] }[];
}

export interface MerchantBalance {
  currency: string;
  merchant_id: string;
  captures: Money;
  commission: Money;
  refunds: Money;
  commission_reversals: Money;
  payouts: Money;
  payable: Money;
  held_back: Money;
  available: Money;
}

export interface ReconciliationOutcome {
  provider: string;
  report_sha256: string;
  period_from: string | null;
  period_to: string | null;
  transaction_lines: number;
  auto_matched: number;
  unexplained: number;
  /** How many breaks of each kind. */
  breaks: Record<string, number>;
}

/** One break of a reconciliation (`POST /v1/reconciliations`' answer). */
export interface ReconciliationBreak {
  kind: string;
  line: number | null;
  psp_reference: string;
  currency: string | null;
  provider_amount: Money | null;
  ledger_amount: Money | null;
  order_id: string | null;
  detail: string;
}

/** What `POST /v1/reconciliations` answers: the run's report. */
export interface ReconciliationReport {
  from: string | null;
  to: string | null;
  transaction_lines: number;
  auto_matched: number;
  auto_match_rate: number | null;
  breaks: ReconciliationBreak[];
  unexplained: number;
  clean: boolean;
  recorded?: { outcome: string; reason?: string };
}

export interface ReconciliationRun {
  run_id: string;
  recorded_at: string;
  actor: { kind: string; id: string };
  outcome: ReconciliationOutcome;
}

export interface ProjectionStatus {
  [field: string]: unknown;
}
