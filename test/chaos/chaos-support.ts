/**
 * Shared pieces of the chaos suite (test/chaos/*.test.ts): the scale switch, the counts
 * line every scenario prints, test events, the publisher that retries until a batch is
 * acknowledged, and the tally of what the local sinks received.
 *
 * Scale: `npm test` runs the short form; `npm run test:chaos` sets HERALD_CHAOS=full for
 * the figures issue 7 names (10,000 events, at least 20 kills, ...), and then also writes
 * each scenario's counts to bench/results/chaos.json for the README to quote.
 */
import { createHash } from "node:crypto";
import { cpus } from "node:os";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Database } from "../../handlers/runtime/local/database";
import type { SqliteQueues } from "../../handlers/runtime/local/sqlite-queue";

export const FULL = process.env.HERALD_CHAOS === "full";

/** The short figure under `npm test`, the full one under `npm run test:chaos`. */
export function scale<T>(short: T, full: T): T {
  return FULL ? full : short;
}

export const RESULTS_FILE = "bench/results/chaos.json";

/** What every scenario reports; extra fields say what else it measured. */
export interface ChaosCounts {
  readonly published: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly deadLettered: number;
  readonly lost: number;
  readonly [extra: string]: number | string;
}

/**
 * Prints one line per scenario (`[chaos] name: published N, delivered N, duplicates N,
 * dead-lettered N, lost N, ...`) and, at full scale, records it in RESULTS_FILE. The
 * counts are measured by the caller; the assertions come after, on the same numbers.
 */
export function reportCounts(scenario: string, counts: ChaosCounts, startedAtMs: number): void {
  const { published, delivered, duplicates, deadLettered, lost, ...extra } = counts;
  const seconds = (Date.now() - startedAtMs) / 1000;
  const extras = Object.entries(extra).map(([key, value]) => `, ${key} ${value}`).join("");
  console.log(
    `[chaos] ${scenario} (${FULL ? "full" : "short"}): published ${published}, delivered ${delivered}, duplicates ${duplicates}, dead-lettered ${deadLettered}, lost ${lost}${extras} (${seconds.toFixed(1)} s)`,
  );
  if (!FULL) return;
  // test:chaos runs the files one after another (--no-file-parallelism): read-modify-write is safe.
  const previous = existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, "utf8")) as { scenarios?: Record<string, unknown> }) : {};
  const results = {
    machine: `${cpus().length} x ${cpus()[0]?.model ?? "unknown CPU"}`,
    node: process.version,
    updatedAt: new Date().toISOString(),
    scenarios: { ...(previous.scenarios ?? {}), [scenario]: { ...counts, seconds: Number(seconds.toFixed(1)), at: new Date().toISOString() } },
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
}

const base = JSON.parse(readFileSync("schemas/events/herald.test_notification/examples/v1-email-and-sms.json", "utf8")) as Record<string, any>;

/** A herald.test_notification event whose message text is `<tag> <n>`, to the contacts given. */
export function chaosEvent(tag: string, n: number, contacts: Record<string, unknown> = base.data.contacts): Record<string, any> {
  return { ...base, id: `${tag}-${n}`, data: { contacts, message: `${tag} ${n}` } };
}

/** POSTs one batch; the status, or 0 when the runtime could not be reached. */
export async function postBatch(url: string, events: readonly unknown[]): Promise<number> {
  try {
    const response = await fetch(`${url}/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(events) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * Publishes `events` in batches, each retried until acknowledged (the runtime may be down
 * or refusing; ingest dedupes by (source, id), so a retry after an unknown outcome is
 * safe). `url` is read per attempt, so a restarted runtime on another port is followed.
 */
export async function publishUntilAcknowledged(url: () => string, events: readonly unknown[], batchSize = 50, onAcknowledged?: (count: number) => void): Promise<void> {
  for (let start = 0; start < events.length; start += batchSize) {
    const batch = events.slice(start, start + batchSize);
    while ((await postBatch(url(), batch)) !== 202) await sleep(50);
    onAcknowledged?.(batch.length);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How many times each `<tag> <n>` message reached each channel's local sink, from the inbox table. */
export function inboxTally(db: Database, tag: string): Map<string, Map<number, number>> {
  const rows = db.connection
    .prepare<[], { channel: string; text: string | null }>(
      `SELECT channel, CASE channel WHEN 'sms' THEN json_extract(content, '$.body')
                                    WHEN 'push' THEN json_extract(content, '$.payload.body')
                                    ELSE json_extract(content, '$.text') END AS text
         FROM inbox`,
    )
    .all();
  const pattern = new RegExp(`\\b${tag} (\\d+)\\b`);
  const tally = new Map<string, Map<number, number>>();
  for (const row of rows) {
    const match = pattern.exec(row.text ?? "");
    if (!match) continue;
    const perChannel = tally.get(row.channel) ?? new Map<number, number>();
    tally.set(row.channel, perChannel);
    const n = Number(match[1]);
    perChannel.set(n, (perChannel.get(n) ?? 0) + 1);
  }
  return tally;
}

/** Sums a tally against the `expected` message numbers per channel. */
export function summarize(tally: Map<string, Map<number, number>>, expected: Record<string, readonly number[]>): { published: number; delivered: number; duplicates: number; lost: number } {
  let published = 0;
  let delivered = 0;
  let duplicates = 0;
  let lost = 0;
  for (const [channel, numbers] of Object.entries(expected)) {
    const got = tally.get(channel) ?? new Map<number, number>();
    published += numbers.length;
    for (const n of numbers) {
      const times = got.get(n) ?? 0;
      if (times === 0) lost += 1;
      else {
        delivered += 1;
        duplicates += times - 1;
      }
    }
  }
  return { published, delivered, duplicates, lost };
}

/** How many items have each key. */
export function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** 0..n-1 */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** A uniform number in [0, 1) fixed by `parts`: the same call gets the same answer whatever the interleaving. */
export function seededUniform(...parts: ReadonlyArray<string | number>): number {
  return createHash("sha256").update(parts.join("\u0000")).digest().readUInt32BE(0) / 2 ** 32;
}

/** Waits until no queue has a pending, delayed or in-flight message; fails after `timeoutMs`. */
export async function waitUntilDrained(queues: SqliteQueues, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = queues.stats();
    const busy = Object.values(stats).reduce((sum, s) => sum + s.pending + s.delayed + s.inFlight, 0);
    if (busy === 0) return;
    if (Date.now() > deadline) throw new Error(`not drained after ${timeoutMs} ms: ${JSON.stringify(stats)}`);
    await sleep(100);
  }
}
