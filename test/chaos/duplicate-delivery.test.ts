/**
 * Chaos: a queue that delivers every message twice. Each enqueue (the ingest's rules
 * message, and each channel message the rules stage fans out) puts the message on its
 * queue twice, the second copy after a random 0-300 ms: some copies are handled at the
 * same time as the original, some after it finished; and since the rules message is
 * doubled too, every event is evaluated twice and every notification is on its channel
 * queue four times. The real channel code sends to the local sinks over SMTP, Web Push
 * and the Twilio API; each notification must arrive exactly once.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { SqliteQueues } from "../../handlers/runtime/local/sqlite-queue";
import { startTestRuntime, type TestRuntime } from "../support/local-runtime";
import { chaosEvent, inboxTally, publishUntilAcknowledged, range, reportCounts, scale, summarize, waitUntilDrained } from "./chaos-support";

const EVENTS = scale(150, 1_000);
const TAG = "twice";

/**
 * The seam: the runtime's one SqliteQueues instance, with enqueue and enqueueMany
 * wrapped so every message goes on its queue twice, in the caller's transaction (so the
 * copy exists exactly when the original does). Returns how many copies were added.
 */
function deliverEverythingTwice(queues: SqliteQueues): () => number {
  let copies = 0;
  const jitter = () => Math.floor(Math.random() * 300);
  const enqueue = queues.enqueue.bind(queues);
  const enqueueMany = queues.enqueueMany.bind(queues);
  queues.enqueue = (queue, body, options = {}) => {
    const id = enqueue(queue, body, options);
    enqueue(queue, body, { delayMs: (options.delayMs ?? 0) + jitter() });
    copies += 1;
    return id;
  };
  queues.enqueueMany = (items) => {
    const ids = enqueueMany(items);
    enqueueMany(items.map((item) => ({ ...item, delayMs: (item.delayMs ?? 0) + jitter() })));
    copies += items.length;
    return ids;
  };
  return () => copies;
}

let herald: TestRuntime | undefined;
afterAll(async () => {
  await herald?.stop();
});

describe("chaos: every message delivered twice by the queue", () => {
  it(`sends each of ${EVENTS} events' e-mail, push and SMS exactly once`, async () => {
    const startedAt = Date.now();
    // A copy handled while the original holds the idempotency claim waits for the claim's
    // lease (2 x timeoutMs) before it finds the key completed: keep that short here.
    herald = await startTestRuntime({ HERALD_CHANNEL_EMAIL_TIMEOUT_MS: "5000", HERALD_CHANNEL_SMS_TIMEOUT_MS: "5000", HERALD_CHANNEL_PUSH_TIMEOUT_MS: "5000" });
    const copies = deliverEverythingTwice(herald.runtime.queues);
    const subscription = await herald.runtime.pushSink.createSubscription();

    const events = range(EVENTS).map((n) => chaosEvent(TAG, n, { email: "ada@example.com", phone: "+14155550123", pushSubscription: subscription }));
    await publishUntilAcknowledged(() => herald!.url, events, 100);
    await waitUntilDrained(herald.runtime.queues, scale(150_000, 300_000));

    const db = herald.runtime.db;
    const counts = summarize(inboxTally(db, TAG), { email: range(EVENTS), push: range(EVENTS), sms: range(EVENTS) });
    const deadLettered = db.connection.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM dead_letters").get()!.n;
    const sentOutcomes = db.connection.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM outcomes WHERE status = 'sent'").get()!.n;
    reportCounts("duplicate-delivery", { ...counts, deadLettered, copiesInjected: copies(), sentOutcomes }, startedAt);

    // The injection happened: one copy per ingest and one per channel message per evaluation.
    expect(copies()).toBe(EVENTS + 2 * EVENTS * 3);
    expect(counts.published).toBe(EVENTS * 3);
    expect(counts.lost).toBe(0);
    expect(counts.duplicates).toBe(0);
    expect(deadLettered).toBe(0);
    expect(sentOutcomes).toBe(EVENTS * 3);
  }, scale(240_000, 600_000));
});
