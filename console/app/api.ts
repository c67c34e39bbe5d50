/** The console's calls to its server, and the live-update stream. */
import { useEffect, useState } from "preact/hooks";

/** A refusal from the server, with its message (and per-field issues when it gave them). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** GET or POST JSON under `/api/console/`; a non-2xx answer throws `ApiError` with the server's message. */
export async function api<T>(path: string, init: { method?: string; body?: unknown; contentType?: string } = {}): Promise<T> {
  const response = await fetch(`/api/console/${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    credentials: "same-origin",
    ...(init.body !== undefined ? { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body), headers: { "content-type": init.contentType ?? "application/json" } } : {}),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, String(body.message ?? `${response.status} ${response.statusText}`), body);
  return body as T;
}

export type LiveState = "connecting" | "live" | "reconnecting";

type Listener = (kinds: readonly string[]) => void;
const listeners = new Set<Listener>();
let source: EventSource | undefined;
let state: LiveState = "connecting";
const stateListeners = new Set<(state: LiveState) => void>();

function connect(): void {
  if (source) return;
  source = new EventSource("/console/events");
  source.addEventListener("open", () => setState("live"));
  source.addEventListener("error", () => setState("reconnecting"));
  source.addEventListener("change", (event) => {
    const { kinds } = JSON.parse((event as MessageEvent<string>).data) as { kinds: string[] };
    for (const listener of listeners) listener(kinds);
  });
}

function setState(next: LiveState): void {
  state = next;
  for (const listener of stateListeners) listener(next);
}

/** Whether live updates arrive. */
export function useLiveState(): LiveState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    connect();
    stateListeners.add(setCurrent);
    return () => void stateListeners.delete(setCurrent);
  }, []);
  return current;
}

/**
 * A counter that moves whenever the runtime reports a change of one of `kinds` (all kinds
 * when empty): put it in an effect's dependencies to refetch.
 */
export function useLiveTick(kinds: readonly string[] = []): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    connect();
    const listener: Listener = (changed) => {
      if (kinds.length === 0 || changed.some((kind) => kinds.includes(kind))) setTick((n) => n + 1);
    };
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, [kinds.join(",")]);
  return tick;
}

/** Fetches `path` now and again on each tick; keeps the last good value when a refetch fails. */
export function useApi<T>(path: string | undefined, tick: number): { data?: T; error?: string; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [manual, setManual] = useState(0);
  useEffect(() => {
    if (!path) return;
    let current = true;
    api<T>(path).then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(undefined);
      },
      (failure: unknown) => current && setError((failure as Error).message),
    );
    return () => {
      current = false;
    };
  }, [path, tick, manual]);
  return { ...(data !== undefined ? { data } : {}), ...(error !== undefined ? { error } : {}), reload: () => setManual((n) => n + 1) };
}

/** The runtime's `/v1/status`, as the pages use it. */
export interface Status {
  readonly ingest: Partial<Record<"accepted" | "rejected" | "duplicate", number>>;
  readonly stages: Record<
    string,
    {
      pending: number;
      delayed: number;
      inFlight: number;
      deadLettered: number;
      oldestPendingAgeMs: number;
      active: number;
      concurrency: number;
      maxAttempts?: number;
      provider?: string;
      outcomes: Partial<Record<string, number>>;
    }
  >;
  readonly inbox: Record<string, number>;
}
