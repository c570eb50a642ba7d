// The money: the trial balance, every account, what is payable to merchants (held back for
// open return windows, and available) and to carriers; a payment provider's report reconciled
// against the ledger, and the runs recorded.
import { useState } from "preact/hooks";
import {
  get,
  post,
  type Access,
  type AccountBalance,
  type MerchantBalance,
  type ReconciliationReport,
  type ReconciliationRun,
  type TrialBalance,
} from "../api";
import { count, money, percent, time, words } from "../format";
import { href, useLoad } from "../hooks";
import { Failure, Figure, Show } from "../ui";

function Trial(props: { trial: TrialBalance }) {
  return (
    <section>
      <h2>Trial balance</h2>
      <p data-testid="trial-balance" class={props.trial.balanced ? "good" : "failure"}>
        {props.trial.balanced ? "Balanced: debits equal credits in every currency." : "NOT balanced."}
      </p>
      <div class="figures">
        {props.trial.currencies.map((c) => (
          <Figure label={`${c.currency}: debits = credits`} value={money(c.debits)} warn={Number(c.difference) !== 0} />
        ))}
      </div>
    </section>
  );
}

function Accounts(props: { title: string; accounts: AccountBalance[]; testid: string }) {
  return (
    <section>
      <h2>{props.title}</h2>
      <table class="list" data-testid={props.testid}>
        <thead>
          <tr>
            <th>Account</th>
            <th class="number">Debits</th>
            <th class="number">Credits</th>
            <th class="number">Balance</th>
          </tr>
        </thead>
        <tbody>
          {props.accounts.map((a) => (
            <tr>
              <td>{a.account}</td>
              <td class="number">{money(a.debits, a.currency)}</td>
              <td class="number">{money(a.credits, a.currency)}</td>
              <td class="number">{money(a.balance, a.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.accounts.length === 0 && <p class="muted">None.</p>}
    </section>
  );
}

function Merchants(props: { merchants: MerchantBalance[] }) {
  return (
    <section>
      <h2>Merchant payables</h2>
      <table class="list" data-testid="merchants">
        <thead>
          <tr>
            <th>Merchant</th>
            <th class="number">Captures</th>
            <th class="number">Commission</th>
            <th class="number">Refunds</th>
            <th class="number">Paid out</th>
            <th class="number">Payable</th>
            <th class="number">Held back</th>
            <th class="number">Available</th>
          </tr>
        </thead>
        <tbody>
          {props.merchants.map((m) => (
            <tr>
              <td>
                <a href={href("orders", { merchant: m.merchant_id })}>{m.merchant_id}</a>
              </td>
              <td class="number">{money(m.captures, m.currency)}</td>
              <td class="number">{money(m.commission, m.currency)}</td>
              <td class="number">{money(m.refunds, m.currency)}</td>
              <td class="number">{money(m.payouts, m.currency)}</td>
              <td class="number">{money(m.payable, m.currency)}</td>
              <td class="number">{money(m.held_back, m.currency)}</td>
              <td class="number">
                <strong>{money(m.available, m.currency)}</strong>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Breaks(props: { report: ReconciliationReport }) {
  const r = props.report;
  const kinds = new Map<string, number>();
  r.breaks.forEach((b) => kinds.set(b.kind, (kinds.get(b.kind) ?? 0) + 1));
  return (
    <div data-testid="reconciliation-result">
      <div class="figures">
        <Figure label="transaction lines" value={count(r.transaction_lines)} />
        <Figure label="auto-matched" value={percent(r.auto_match_rate ?? undefined)} />
        <Figure label="unexplained breaks" value={count(r.unexplained)} warn={r.unexplained > 0} />
        {r.recorded && <Figure label="recorded" value={r.recorded.outcome} />}
      </div>
      <h3>Breaks by kind</h3>
      <ul data-testid="break-kinds">
        {[...kinds].map(([kind, n]) => (
          <li>
            {words(kind)}: {n}
          </li>
        ))}
      </ul>
      <table class="list" data-testid="breaks">
        <thead>
          <tr>
            <th>Kind</th>
            <th>Line</th>
            <th>Reference</th>
            <th class="number">Provider</th>
            <th class="number">Ledger</th>
            <th>Order</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {r.breaks.map((b) => (
            <tr>
              <td>{words(b.kind)}</td>
              <td>{b.line ?? "—"}</td>
              <td class="mono">{b.psp_reference}</td>
              <td class="number">{b.provider_amount ? money(b.provider_amount, b.currency ?? undefined) : "—"}</td>
              <td class="number">{b.ledger_amount ? money(b.ledger_amount, b.currency ?? undefined) : "—"}</td>
              <td>{b.order_id ? <a href={href(`orders/${b.order_id}`)}>{b.order_id.slice(0, 8)}</a> : "—"}</td>
              <td>{b.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Reconcile(props: { onRecorded: () => void }) {
  const [report, setReport] = useState<ReconciliationReport | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const upload = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? "") || undefined;
    const params = {
      provider: text("provider"),
      from: text("from"),
      to: text("to"),
      record: form.get("record") ? "true" : "false",
    };
    const body = new FormData();
    body.set("file", form.get("file") as File);
    setBusy(true);
    setError(undefined);
    try {
      // The multipart body sets its own content type (with the boundary).
      setReport(await post<ReconciliationReport>("/v1/reconciliations", body, "", params));
      props.onRecorded();
    } catch (failure) {
      setError(failure instanceof Error ? failure : new Error(String(failure)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>Reconcile a payment provider's report</h2>
      <form class="filters" onSubmit={upload} data-testid="reconcile">
        <label>
          Report (CSV) <input type="file" name="file" accept=".csv,text/csv" required />
        </label>
        <label>
          Provider <input name="provider" placeholder="psp" />
        </label>
        <label>
          Period from <input type="date" name="from" />
        </label>
        <label>
          to <input type="date" name="to" />
        </label>
        <label>
          <input type="checkbox" name="record" checked /> record the run
        </label>
        <button type="submit" disabled={busy}>
          Reconcile
        </button>
      </form>
      {error && <Failure error={error} />}
      {report && <Breaks report={report} />}
    </section>
  );
}

function Runs(props: { runs: ReconciliationRun[] }) {
  return (
    <section>
      <h2>Recorded runs</h2>
      <table class="list" data-testid="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Recorded</th>
            <th>By</th>
            <th>Provider</th>
            <th>Period</th>
            <th class="number">Lines</th>
            <th class="number">Auto-matched</th>
            <th>Breaks</th>
          </tr>
        </thead>
        <tbody>
          {props.runs.map((run) => (
            <tr>
              <td class="mono">{run.run_id}</td>
              <td>{time(run.recorded_at)}</td>
              <td>{run.actor.id}</td>
              <td>{run.outcome.provider}</td>
              <td>
                {run.outcome.period_from ?? "…"} – {run.outcome.period_to ?? "…"}
              </td>
              <td class="number">{count(run.outcome.transaction_lines)}</td>
              <td class="number">{count(run.outcome.auto_matched)}</td>
              <td>
                {Object.entries(run.outcome.breaks)
                  .map(([kind, n]) => `${words(kind)} ${n}`)
                  .join(", ") || "none"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.runs.length === 0 && <p class="muted">No run recorded yet.</p>}
    </section>
  );
}

export function Finance(props: { access: Access }) {
  const trial = useLoad(() => get<TrialBalance>("/v1/trial-balance"), [], true);
  const accounts = useLoad(() => get<AccountBalance[]>("/v1/balances"), [], true);
  const merchants = useLoad(() => get<MerchantBalance[]>("/v1/balances/merchants"), [], true);
  const runs = useLoad(() => get<ReconciliationRun[]>("/v1/reconciliations"), [], true);
  return (
    <>
      <h1>Finance</h1>
      <Show loaded={trial}>{(t) => <Trial trial={t} />}</Show>
      <Show loaded={merchants}>{(m) => <Merchants merchants={m} />}</Show>
      <Show loaded={accounts}>
        {(all) => (
          <>
            <Accounts
              title="Carrier payables"
              testid="carriers"
              accounts={all.filter((a) => a.account.startsWith("carrier_payable:"))}
            />
            <Accounts title="Every account" testid="accounts" accounts={all} />
          </>
        )}
      </Show>
      {props.access.finance ? (
        <Reconcile onRecorded={runs.reload} />
      ) : (
        <p class="muted" data-testid="no-finance-actions">
          Reconciling needs a finance token.
        </p>
      )}
      <Show loaded={runs}>{(r) => <Runs runs={r} />}</Show>
    </>
  );
}
