// For auditors: the log's layout, the read models' health (sequence gaps, undecodable
// records), and a signed checkpoint of the log as it is now — kept to check later that the
// history was only ever appended to (`ledger replay verify --checkpoint`).
import { useState } from "preact/hooks";
import { get, post, type Access, type ProjectionStatus } from "../api";
import { count, time } from "../format";
import { useLoad } from "../hooks";
import { Failure, Figure, Show } from "../ui";

interface Layout {
  prefix: string;
  partitions: number;
  ends: number[];
}

interface Checkpoint {
  format: string;
  partitions: { partition: number; size: number; root: string }[];
  root: string;
  signature?: { key_id: string; signed_at: string; signature: string };
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
  const download = () => {
    const blob = new Blob([JSON.stringify(checkpoint, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `checkpoint-${checkpoint!.root.slice(0, 12)}.json`;
    link.click();
    URL.revokeObjectURL(link.href);
  };
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
            {checkpoint.signature
              ? ` · signed by key ${checkpoint.signature.key_id} at ${time(checkpoint.signature.signed_at)}`
              : " · unsigned"}
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

export function Audit(props: { access: Access }) {
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
        </>
      ) : (
        <p class="muted">The event log and its checkpoints need an auditor token.</p>
      )}
    </>
  );
}
