/**
 * Chaos: the store fails to write while events are published and delivered. Two ways:
 * a full disk, then a read-only store. The usual ways to get there do not work on this
 * machine: the tests run as root, for whom a chmod'ed data directory is still writable,
 * and no small file system can be mounted. So the failure is put where SQLite meets the
 * file system, on the runtime's own connection: `max_page_count` pinned at the current
 * size makes every write that needs another page fail with SQLITE_FULL, exactly as on a
 * full disk; `query_only` makes every write fail with SQLITE_READONLY, as on a read-only
 * one. Both fail the runtime's writes (ingest, leases, claims, sink records, settling)
 * while reads go on.
 *
 * Ingest must answer 503 and acknowledge nothing it has not stored: every event of a 202
 * is in the store, no event of a 503 is. Once the store is writable again, the refused
 * batches are published again, and every acknowledged event is delivered.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestRuntime, type TestRuntime } from "../support/local-runtime";
import { chaosEvent, inboxTally, postBatch, publishUntilAcknowledged, range, reportCounts, scale, summarize, waitUntilDrained } from "./chaos-support";

const TAG = "store";
const BATCH = 50;
const BEFORE = scale(2, 10);
const MAX_FULL_BATCHES = scale(200, 400);
const READ_ONLY_BATCHES = scale(3, 10);

let herald: TestRuntime | undefined;
afterAll(async () => {
  await herald?.stop();
});

describe("chaos: the store fails to write", () => {
  it("answers 503 while the store is full or read-only, acknowledges only what it stored, and loses nothing", async () => {
    const startedAt = Date.now();
    // Settling that failed leaves its messages leased until the lease (6 x timeoutMs) runs
    // out; keep that short so the drain after the outage does not wait minutes.
    herald = await startTestRuntime({ HERALD_CHANNEL_EMAIL_TIMEOUT_MS: "2000", HERALD_CHANNEL_SMS_TIMEOUT_MS: "2000" });
    const connection = herald.runtime.db.connection;
    const stored = connection.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM ingested_events WHERE id = ?");
    // A long message so that a batch needs new pages.
    const padding = "x".repeat(400);
    let next = 0;
    const makeBatch = () =>
      range(BATCH).map(() => {
        const event = chaosEvent(TAG, next++);
        return { ...event, data: { ...event.data, message: `${event.data.message} ${padding}` } };
      });
    const acknowledged: Array<Record<string, any>> = [];
    const refused: Array<Array<Record<string, any>>> = [];
    const violations: string[] = [];
    const publish = async (batch: Array<Record<string, any>>): Promise<number> => {
      const status = await postBatch(herald!.url, batch);
      const kept = batch.filter((event) => stored.get(event.id)!.n === 1).length;
      if (status === 202) {
        acknowledged.push(...batch);
        if (kept !== batch.length) violations.push(`202 for a batch of which only ${kept} events are stored`);
      } else if (status === 503) {
        refused.push(batch);
        if (kept !== 0) violations.push(`503 for a batch of which ${kept} events are stored`);
      } else violations.push(`ingest answered ${status}`);
      return status;
    };

    for (let i = 0; i < BEFORE; i += 1) expect(await publish(makeBatch())).toBe(202);

    // Full disk: no page beyond the current ones. Publish until ingest says 503, then a few more.
    const pages = connection.pragma("page_count", { simple: true }) as number;
    connection.pragma(`max_page_count = ${pages}`);
    let fullRefusals = 0;
    let fullBatches = 0;
    for (; fullBatches < MAX_FULL_BATCHES && fullRefusals < 3; fullBatches += 1) if ((await publish(makeBatch())) === 503) fullRefusals += 1;
    connection.pragma("max_page_count = 4294967294");

    // Read-only: every write refused.
    connection.pragma("query_only = ON");
    let readOnlyRefusals = 0;
    for (let i = 0; i < READ_ONLY_BATCHES; i += 1) if ((await publish(makeBatch())) === 503) readOnlyRefusals += 1;
    connection.pragma("query_only = OFF");

    // Writable again: the publisher retries what was refused.
    const republished = refused.flat();
    await publishUntilAcknowledged(() => herald!.url, republished, BATCH);
    acknowledged.push(...republished);
    await waitUntilDrained(herald.runtime.queues, scale(150_000, 300_000));

    const numbers = acknowledged.map((event) => Number(/-(\d+)$/.exec(event.id as string)![1]));
    const counts = summarize(inboxTally(herald.runtime.db, TAG), { email: numbers, sms: numbers });
    const deadLettered = connection.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM dead_letters").get()!.n;
    reportCounts(
      "store-failure",
      { ...counts, deadLettered, eventsPublished: next, batchesRefusedFull: fullRefusals, batchesRefusedReadOnly: readOnlyRefusals, eventsRefusedThenRepublished: republished.length, ingestViolations: violations.length },
      startedAt,
    );

    expect(violations).toEqual([]);
    expect(fullRefusals).toBeGreaterThan(0);
    expect(readOnlyRefusals).toBe(READ_ONLY_BATCHES);
    expect(new Set(acknowledged.map((event) => event.id)).size).toBe(next);
    expect(counts.lost).toBe(0);
    expect(deadLettered).toBe(0);
    // A send the sink recorded while the store could no longer record its completion goes
    // out again once the store is back: the crash window, opened by the store instead. The
    // failure phases are short and each has at most the channels' caps of sends in flight
    // at a time, so this is a loose bound, not an exact count like the crash test's.
    const caps = ["email", "sms"].reduce((sum, channel) => sum + herald!.runtime.config.channels.get(channel)!.concurrency, 0);
    expect(counts.duplicates).toBeLessThanOrEqual(2 * caps);
  }, scale(240_000, 600_000));
});
