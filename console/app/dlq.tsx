/**
 * DLQ: dead letters per queue (rules and each channel) with attempts and last error;
 * inspect one, redrive one, or redrive all in chunks of 500 (as `herald dlq redrive`
 * does) with progress.
 */
import { useState } from "preact/hooks";
import type { DeadLetter } from "../../handlers/runtime/local/sqlite-queue";
import { api, useApi, useLiveTick, type Status } from "./api";
import { Facts } from "./facts";
import { pretty, time } from "./format";

const CHUNK = 500;

type Progress = { done: number; total: number; finished: boolean; error?: string };

export function DlqPage({ params }: { params: URLSearchParams }) {
  const tick = useLiveTick(["attempt", "redriven"]);
  const { data: status } = useApi<Status>("v1/status", tick);
  const queues = Object.keys(status?.stages ?? {});
  const [queue, setQueue] = useState(params.get("queue") ?? "email");
  const { data, error, reload } = useApi<{ deadLetters: DeadLetter[] }>(`v1/dlq?${new URLSearchParams({ queue, limit: "200" })}`, tick);
  const [inspected, setInspected] = useState<DeadLetter | undefined>(undefined);
  const [progress, setProgress] = useState<Progress | undefined>(undefined);
  const letters = data?.deadLetters ?? [];
  const total = status?.stages[queue]?.deadLettered ?? letters.length;

  async function redrive(ids: number[]) {
    const body = { queue, ids };
    const { redriven } = await api<{ redriven: number }>("v1/dlq/redrive", { body });
    return redriven;
  }

  async function redriveAll() {
    // Ids page by page, then moved in chunks: short transactions, visible progress.
    const ids: number[] = [];
    for (let after = 0; ; ) {
      const page = await api<{ deadLetters: DeadLetter[] }>(`v1/dlq?${new URLSearchParams({ queue, limit: "1000", after: String(after) })}`);
      if (page.deadLetters.length === 0) break;
      ids.push(...page.deadLetters.map((d) => d.id));
      after = page.deadLetters[page.deadLetters.length - 1]!.id;
    }
    let done = 0;
    setProgress({ done, total: ids.length, finished: false });
    try {
      for (let i = 0; i < ids.length; i += CHUNK) {
        done += await redrive(ids.slice(i, i + CHUNK));
        setProgress({ done, total: ids.length, finished: false });
      }
      setProgress({ done, total: ids.length, finished: true });
    } catch (failure) {
      setProgress({ done, total: ids.length, finished: true, error: (failure as Error).message });
    }
    setInspected(undefined);
    reload();
  }

  return (
    <div class="page dlq">
      <h1>Dead letters</h1>
      <div class="tabs" role="group" aria-label="Queue">
        {queues.map((name) => (
          <button type="button" aria-pressed={name === queue} id={`dlq-tab-${name}`} onClick={() => (setQueue(name), setInspected(undefined), setProgress(undefined))}>
            {name} <span class={status?.stages[name]?.deadLettered ? "count alert" : "count"}>{status?.stages[name]?.deadLettered ?? 0}</span>
          </button>
        ))}
      </div>
      {error && <p class="message error">{error}</p>}
      <div class="row">
        <button type="button" class="primary" id="redrive-all" disabled={letters.length === 0 || (progress !== undefined && !progress.finished)} onClick={() => void redriveAll()}>
          Redrive all ({total})
        </button>
        {progress && (
          <span id="redrive-progress" role="status" aria-live="polite">
            <progress max={progress.total || 1} value={progress.done} /> {progress.finished ? (progress.error ? `stopped after ${progress.done} of ${progress.total}: ${progress.error}` : `redrove ${progress.done} of ${progress.total}`) : `redriving ${progress.done} of ${progress.total}…`}
          </span>
        )}
      </div>
      {letters.length === 0 ? (
        <p class="empty" id="dlq-empty">
          The {queue} dead-letter queue is empty.
        </p>
      ) : (
        <table class="table" id="dlq-table">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">event</th>
              <th scope="col">attempts</th>
              <th scope="col">last error</th>
              <th scope="col">dead-lettered</th>
              <th scope="col">
                <span class="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {letters.map((d) => (
              <tr>
                <td>{d.id}</td>
                <td>
                  <a href={`#/events?${new URLSearchParams(eventOf(d))}`} title="Follow this event">
                    <code>
                      {eventOf(d).source} {eventOf(d).id}
                    </code>
                  </a>
                </td>
                <td>{d.attempts}</td>
                <td class="error-text">{d.lastError ?? "-"}</td>
                <td>{time(d.deadLetteredAtMs)}</td>
                <td class="actions">
                  <button type="button" onClick={() => setInspected(d)} aria-label={`Inspect dead letter ${d.id}`}>
                    Inspect
                  </button>
                  <button type="button" onClick={() => void redrive([d.id]).then(() => (setInspected(undefined), reload()))} aria-label={`Redrive dead letter ${d.id}`}>
                    Redrive
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {inspected && (
        <section class="panel" aria-label={`dead letter ${inspected.id}`}>
          <h2>Dead letter #{inspected.id}</h2>
          <Facts
            rows={[
              ["queue", inspected.queue],
              ["attempts", inspected.attempts],
              ["last error", <span class="error-text">{inspected.lastError ?? "-"}</span>],
              ["first enqueued", time(inspected.firstEnqueuedAtMs)],
              ["dead-lettered", time(inspected.deadLetteredAtMs)],
            ]}
          />
          <pre class="payload">{pretty(inspected.body)}</pre>
          <button type="button" onClick={() => setInspected(undefined)}>
            Close
          </button>
        </section>
      )}
    </div>
  );
}

/** The event a dead letter came from: a channel message's, or the rules-queue event itself. */
function eventOf(letter: DeadLetter): { source: string; id: string } {
  const body = letter.body as { meta?: { eventSource?: string; eventId?: string }; source?: string; id?: string };
  return { source: String(body.meta?.eventSource ?? body.source ?? "?"), id: String(body.meta?.eventId ?? body.id ?? "?") };
}
