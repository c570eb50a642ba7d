// Pieces every page uses.
import type { ComponentChildren } from "preact";
import { ApiError } from "./api";
import type { Loaded } from "./hooks";

export function Failure(props: { error: Error }) {
  const error = props.error;
  const text = error instanceof ApiError ? `${error.reason} (${error.code}, HTTP ${error.status})` : error.message;
  return (
    <p class="failure" role="alert">
      {text}
    </p>
  );
}

/** What `loaded` holds, or why not yet. */
export function Show<T>(props: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  const { data, error, loading } = props.loaded;
  return (
    <>
      {error && <Failure error={error} />}
      {data !== undefined ? props.children(data) : loading && !error && <p class="muted">Loading…</p>}
    </>
  );
}

export function Figure(props: { label: ComponentChildren; value: string; warn?: boolean; testid?: string }) {
  return (
    <div class={props.warn ? "figure warn" : "figure"} data-testid={props.testid}>
      <div class="value">{props.value}</div>
      <div class="label">{props.label}</div>
    </div>
  );
}

/** Saves `value` as a JSON file named `name` (a download the browser asks about or keeps). */
export function downloadJson(name: string, value: unknown) {
  download(name, JSON.stringify(value, null, 2), "application/json");
}

/** Saves `text` as a file named `name` of media type `type`. */
export function download(name: string, text: string, type: string) {
  const blob = new Blob([text], { type });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}

export function Status(props: { status: string }) {
  return <span class={`status status-${props.status}`}>{props.status.replace(/_/g, " ")}</span>;
}
