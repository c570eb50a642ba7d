// For auditors: the log's layout, the read models' health (sequence gaps, undecodable
// records), a signed checkpoint of the log as it is now — kept to check later that the
// history was only ever appended to (`ledger replay verify --checkpoint`) — and an event's
// inclusion proof, checked offline with `ledger replay check-proof`.
import { useEffect, useState } from "preact/hooks";
import { get, post, type Access, type ProjectionStatus } from "../api";
import { count, time } from "../format";
import { useLoad } from "../hooks";
import { downloadJson, Failure, Figure, Show } from "../ui";

interface Layout {
  prefix: string;
  partitions: number;
  ends: number[];
}

interface Head {
  partition: number;
  size: number;
  root: string;
}

interface Signature {
  key_id: string;
  signed_at: string;
  signature: string;
}

interface Checkpoint {
  format: string;
  partitions: Head[];
  root: string;
  signature?: Signature;
}

/** An inclusion proof (docs/verifiable-history.md §3): the parts the page shows. */
interface Proof {
  event_id: string;
  partition: number;
  index: number;
  offset: number;
  path: string[];
  head: Head;
  heads_path: string[];
  root: string;
  signature?: Signature;
}

function signed(signature: Signature | undefined): string {
  return signature ? ` · signed by key ${signature.key_id} at ${time(signature.signed_at)}` : " · unsigned";
}

function Health(props: { status: ProjectionStatus }) {
  const gaps = (props.status.gaps as unknown[]) ?? [];
  const undecodable = (props.status.undecodable as unknown[]) ?? [];
  return (
    <section>
      <h2>Read models</h2>
      <div class="figures">
        <Figure label="health" value={props.status.healthy ? "healthy" : "alarm"} warn={!props.status.healthy} testid="health" />
        <Figure label="generation" value={String(props.status.generation ?? "—")} />
        <Figure label="sequence gaps" value={count(gaps.length)} warn={gaps.length > 0} />
        <Figure label="undecodable records" value={count(undecodable.length)} warn={undecodable.length > 0} />
        <Figure label="lag (events)" value={count(props.status.lag_total as number)} />
      </div>
      {gaps.length + undecodable.length > 0 && <pre>{JSON.stringify({ gaps, undecodable }, null, 2)}</pre>}
    </section>
  );
}

function TakeCheckpoint() {
  const [checkpoint, setCheckpoint] = useState<Checkpoint | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const take = async () => {
    setError(undefined);
    try {
      setCheckpoint(await post<Checkpoint>("/v1/checkpoints", "", ""));
    } catch (failure) {
      setError(failure instanceof Error ? failure : new Error(String(failure)));
    }
  };
  const download = () => downloadJson(`checkpoint-${checkpoint!.root.slice(0, 12)}.json`, checkpoint);
  return (
    <section>
      <h2>Signed checkpoint</h2>
      <button type="button" onClick={take}>
        Take a checkpoint of the log now
      </button>
      {error && <Failure error={error} />}
      {checkpoint && (
        <div data-testid="checkpoint">
          <p>
            Root <span class="mono">{checkpoint.root}</span>
            {signed(checkpoint.signature)}
          </p>
          <table class="list">
            <thead>
              <tr>
                <th>Partition</th>
                <th class="number">Records</th>
                <th>Tree root</th>
              </tr>
            </thead>
            <tbody>
              {checkpoint.partitions.map((p) => (
                <tr>
                  <td>{p.partition}</td>
                  <td class="number">{count(p.size)}</td>
                  <td class="mono">{p.root}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" onClick={download}>
            Download (for replay verify --checkpoint)
          </button>
        </div>
      )}
    </section>
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An event's proof: asked for by id (or arriving with one from an order's events). */
function ProveEvent(props: { event: string | null }) {
  const [id, setId] = useState(props.event ?? "");
  const [proof, setProof] = useState<Proof | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [proving, setProving] = useState(false);
  const prove = async (eventId: string) => {
    setError(undefined);
    setProof(undefined);
    if (!UUID.test(eventId.trim())) {
      setError(new Error(`"${eventId}" is not an event id (a UUID such as an order page's events show)`));
      return;
    }
    setProving(true);
    try {
      setProof(await get<Proof>(`/v1/log/proofs/${eventId.trim()}`));
    } catch (failure) {
      setError(failure instanceof Error ? failure : new Error(String(failure)));
    } finally {
      setProving(false);
    }
  };
  useEffect(() => {
    if (props.event) {
      setId(props.event);
      void prove(props.event);
    }
  }, [props.event]);
  return (
    <section>
      <h2>An event's proof</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void prove(id);
        }}
      >
        <label>
          Event id <input name="event" value={id} size={38} onInput={(e) => setId(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={proving}>
          {proving ? "Proving…" : "Prove"}
        </button>
      </form>
      {error && <Failure error={error} />}
      {proof && (
        <div data-testid="proof">
          <p>
            Event <span class="mono">{proof.event_id}</span> is record {count(proof.index)} of partition{" "}
            {proof.partition}'s {count(proof.head.size)} (offset {proof.offset}): {proof.path.length} +{" "}
            {proof.heads_path.length} hashes up to the checkpoint root <span class="mono">{proof.root}</span>
            {signed(proof.signature)}.
          </p>
          <button type="button" onClick={() => downloadJson(`proof-${proof.event_id}.json`, proof)}>
            Download the proof
          </button>{" "}
          <span class="muted">
            Check it offline: <code>ledger replay check-proof proof-{proof.event_id}.json --public-key KEY</code>
          </span>
        </div>
      )}
    </section>
  );
}

export function Audit(props: { access: Access; params: URLSearchParams }) {
  const status = useLoad(() => get<ProjectionStatus>("/v1/projections/status"), [], true);
  const layout = useLoad(() => get<Layout>("/v1/log/layout"), [], props.access.log);
  return (
    <>
      <h1>Audit</h1>
      {props.access.read && <Show loaded={status}>{(s) => <Health status={s} />}</Show>}
      {props.access.log ? (
        <>
          <Show loaded={layout}>
            {(l) => (
              <section>
                <h2>Event log</h2>
                <p>
                  Topics <span class="mono">{l.prefix}.*</span>, {l.partitions} partitions,{" "}
                  {count(l.ends.reduce((a, b) => a + b, 0))} event records.
                </p>
              </section>
            )}
          </Show>
          <TakeCheckpoint />
          <ProveEvent event={props.params.get("event")} />
        </>
      ) : (
        <p class="muted">The event log and its checkpoints need an auditor token.</p>
      )}
    </>
  );
}
