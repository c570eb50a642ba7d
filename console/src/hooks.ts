// Loading what a page shows, and keeping it fresh while the tab is visible.
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** How often live pages ask again (the read models move as events arrive). */
export const LIVE_MS = 5000;

/**
 * Runs `load` now and whenever `deps` change; with `live`, again every LIVE_MS while the tab
 * is visible. What is shown stays until the next answer replaces it (no flicker).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], live = false): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let current = true;
    setLoading(true);
    load()
      .then((answer) => {
        if (!current) return;
        setData(answer);
        setError(undefined);
      })
      .catch((failure: unknown) => {
        if (!current) return;
        setError(failure instanceof Error ? failure : new Error(String(failure)));
      })
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    }, LIVE_MS);
    return () => window.clearInterval(timer);
  }, [live]);

  return { data, error, loading, reload: () => setTick((t) => t + 1) };
}

/** The part of the location after `#`, as a path and its query parameters. */
export interface Place {
  path: string[];
  params: URLSearchParams;
}

function place(): Place {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?", 2);
  return {
    path: path.split("/").filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(query ?? ""),
  };
}

/** Where the console is (hash routing: the serve knows one page, `/`). */
export function usePlace(): Place {
  const [where, setWhere] = useState(place);
  useEffect(() => {
    const changed = () => setWhere(place());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return where;
}

/** A link target within the console. */
export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}
