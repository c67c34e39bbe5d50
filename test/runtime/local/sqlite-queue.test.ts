import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../../../handlers/runtime/local/database";
import { SqliteQueues } from "../../../handlers/runtime/local/sqlite-queue";
import { tempDatabase } from "./temp-database";

const T0 = Date.parse("2026-11-20T12:00:00Z");
const LEASE = 30_000;

describe("SqliteQueues", () => {
  let db: Database;
  let dispose: () => void;
  let now: number;
  let queues: SqliteQueues;

  beforeEach(() => {
    ({ db, dispose } = tempDatabase());
    now = T0;
    queues = new SqliteQueues(db, { now: () => now });
  });
  afterEach(() => dispose());

  function only(queue: string, leaseMs = LEASE) {
    const leased = queues.lease(queue, 10, leaseMs);
    expect(leased).toHaveLength(1);
    return leased[0]!;
  }

  it("leases a message once, with its body and attempt 1, and deletes it on ack", () => {
    const id = queues.enqueue("email", { to: "ada@example.com", n: 1 });
    const message = only("email");
    expect(message).toMatchObject({ id, queue: "email", body: { to: "ada@example.com", n: 1 }, attempt: 1, enqueuedAtMs: T0, leaseExpiresAtMs: T0 + LEASE });
    expect(message.token).toMatch(/^[0-9a-f]{32}$/);
    expect(message.lastError).toBeUndefined();
    expect(queues.lease("email", 10, LEASE)).toEqual([]);
    expect(queues.ack(message.id, message.token)).toBe(true);
    expect(queues.ack(message.id, message.token)).toBe(false);
    now += LEASE * 10;
    expect(queues.lease("email", 10, LEASE)).toEqual([]);
  });

  it("takes at most max, oldest available first, and gives each message its own token", () => {
    queues.enqueue("email", "late", { delayMs: 100 });
    for (let i = 0; i < 5; i++) queues.enqueue("email", `m${i}`);
    now += 100;
    const first = queues.lease("email", 3, LEASE);
    expect(first.map((m) => m.body)).toEqual(["m0", "m1", "m2"]);
    expect(new Set(first.map((m) => m.token)).size).toBe(3);
    expect(queues.lease("email", 10, LEASE).map((m) => m.body)).toEqual(["late", "m3", "m4"]);
    expect(queues.lease("email", 0, LEASE)).toEqual([]);
  });

  it("keeps queues apart", () => {
    queues.enqueue("email", "e");
    queues.enqueue("sms", "s");
    expect(queues.lease("push", 10, LEASE)).toEqual([]);
    expect(queues.lease("sms", 10, LEASE).map((m) => m.body)).toEqual(["s"]);
    expect(queues.lease("email", 10, LEASE).map((m) => m.body)).toEqual(["e"]);
  });

  it("holds a delayed message back until its time", () => {
    queues.enqueue("email", "later", { delayMs: 5_000 });
    now += 4_999;
    expect(queues.lease("email", 10, LEASE)).toEqual([]);
    now += 1;
    expect(only("email").body).toBe("later");
  });

  it("brings a message back when its lease runs out, with attempt + 1; the old token is dead", () => {
    queues.enqueue("email", "x");
    const first = only("email", 1_000);
    now += 999;
    expect(queues.lease("email", 10, 1_000)).toEqual([]);
    now += 1;
    const second = only("email", 1_000);
    expect(second).toMatchObject({ id: first.id, attempt: 2 });
    expect(second.token).not.toBe(first.token);
    // The first holder wakes up late: nothing it does touches the message.
    expect(queues.ack(first.id, first.token)).toBe(false);
    expect(queues.retry(first.id, first.token, 0, "late", 5)).toBe("lost");
    expect(queues.defer(first.id, first.token, now)).toBe(false);
    expect(queues.deadLetter(first.id, first.token, "late")).toBe(false);
    expect(queues.extendLease(first.id, first.token, 60_000)).toBe(false);
    expect(queues.stats("email").email).toMatchObject({ inFlight: 1, deadLettered: 0 });
    expect(queues.ack(second.id, second.token)).toBe(true);
  });

  it("lets the holder ack after its lease ran out if nobody took the message meanwhile", () => {
    queues.enqueue("email", "x");
    const message = only("email", 1_000);
    now += 5_000;
    expect(queues.ack(message.id, message.token)).toBe(true);
  });

  it("extends a lease so a long send keeps its message", () => {
    queues.enqueue("email", "slow");
    const message = only("email", 1_000);
    now += 900;
    expect(queues.extendLease(message.id, message.token, 1_000)).toBe(true);
    now += 900;
    expect(queues.lease("email", 10, 1_000)).toEqual([]);
    now += 100;
    expect(only("email").attempt).toBe(2);
  });

  it("retries after the delay with the error recorded, and dead-letters after maxAttempts keeping it", () => {
    const id = queues.enqueue("email", { to: "x@example.com" });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const message = only("email");
      expect(message.attempt).toBe(attempt);
      if (attempt > 1) expect(message.lastError).toBe(`ETIMEDOUT ${attempt - 1}`);
      expect(queues.retry(message.id, message.token, 2_000, `ETIMEDOUT ${attempt}`, 3)).toBe("retrying");
      expect(queues.stats("email").email).toMatchObject({ pending: 0, delayed: 1, inFlight: 0 });
      now += 1_999;
      expect(queues.lease("email", 10, LEASE)).toEqual([]);
      now += 1;
    }
    const last = only("email");
    expect(last.attempt).toBe(3);
    now += 10;
    expect(queues.retry(last.id, last.token, 2_000, "ECONNECTION final", 3)).toBe("dead-lettered");
    now += 60_000;
    expect(queues.lease("email", 10, LEASE)).toEqual([]);
    const [dead, ...rest] = queues.listDeadLetters("email");
    expect(rest).toEqual([]);
    expect(dead).toMatchObject({
      queue: "email",
      body: { to: "x@example.com" },
      attempts: 3,
      lastError: "ECONNECTION final",
      originalId: id,
      firstEnqueuedAtMs: T0,
      deadLetteredAtMs: T0 + 4_010,
    });
    expect(queues.getDeadLetter(dead!.id)).toEqual(dead);
    expect(queues.stats("email").email).toEqual({ pending: 0, delayed: 0, inFlight: 0, deadLettered: 1, oldestPendingAgeMs: 0 });
  });

  it("dead-letters at once on request", () => {
    queues.enqueue("sms", { to: "+1" });
    const message = only("sms");
    expect(queues.deadLetter(message.id, message.token, "21211 invalid number")).toBe(true);
    expect(queues.listDeadLetters()).toMatchObject([{ queue: "sms", attempts: 1, lastError: "21211 invalid number" }]);
    expect(queues.ack(message.id, message.token)).toBe(false);
  });

  it("defers without consuming an attempt", () => {
    queues.enqueue("email", "quiet");
    for (let i = 0; i < 5; i++) {
      const message = only("email");
      expect(message.attempt).toBe(1);
      expect(queues.defer(message.id, message.token, now + 3_600_000)).toBe(true);
      expect(queues.stats("email").email).toMatchObject({ delayed: 1, inFlight: 0 });
      now += 3_600_000;
    }
    const message = only("email");
    // maxAttempts 1 would dead-letter at the first real failure, deferrals notwithstanding.
    expect(queues.retry(message.id, message.token, 0, "boom", 2)).toBe("retrying");
    expect(only("email").attempt).toBe(2);
  });

  it("redrives dead letters back to their queue with attempts reset, by queue or by id, in id order", () => {
    const kill = (queue: string, body: string) => {
      queues.enqueue(queue, body);
      const message = only(queue);
      queues.deadLetter(message.id, message.token, `bad ${body}`);
    };
    kill("email", "e1");
    kill("email", "e2");
    kill("sms", "s1");
    kill("email", "e3");
    const email = queues.listDeadLetters("email");
    expect(email.map((d) => d.body)).toEqual(["e1", "e2", "e3"]);
    expect(queues.listDeadLetters(undefined, { limit: 2 }).map((d) => d.body)).toEqual(["e1", "e2"]);
    expect(queues.listDeadLetters(undefined, { after: email[1]!.id }).map((d) => d.body)).toEqual(["s1", "e3"]);

    now += 1_000;
    expect(queues.redrive(undefined, [email[1]!.id])).toBe(1);
    const again = only("email");
    expect(again).toMatchObject({ body: "e2", attempt: 1, lastError: "bad e2", enqueuedAtMs: T0 });
    queues.ack(again.id, again.token);

    expect(queues.redrive("email")).toBe(2);
    expect(queues.listDeadLetters().map((d) => d.body)).toEqual(["s1"]);
    expect(queues.lease("email", 10, LEASE).map((m) => [m.body, m.attempt])).toEqual([
      ["e1", 1],
      ["e3", 1],
    ]);
    expect(queues.redrive("email")).toBe(0);
    expect(queues.purgeDeadLetters("sms")).toBe(1);
    expect(queues.stats("sms").sms).toMatchObject({ deadLettered: 0 });
    expect(queues.listDeadLetters()).toEqual([]);
  });

  it("enqueues a batch all or nothing", () => {
    queues.enqueue("rules", "before");
    expect(() =>
      queues.enqueueMany([
        { queue: "email", body: { ok: 1 } },
        { queue: "sms", body: { amount: 10n } },
        { queue: "push", body: { ok: 3 } },
      ]),
    ).toThrow(TypeError);
    expect(() => queues.enqueueMany([{ queue: "email", body: undefined }])).toThrow(TypeError);
    // A failure inside the transaction, after rows were written, rolls them back too.
    expect(() =>
      queues.enqueueMany([
        { queue: "email", body: 1 },
        { queue: "sms", body: 2 },
        { queue: null as unknown as string, body: 3 },
      ]),
    ).toThrow(/NOT NULL/);
    expect(Object.keys(queues.stats())).toEqual(["rules"]);

    const ids = queues.enqueueMany([
      { queue: "email", body: 1 },
      { queue: "sms", body: 2, delayMs: 1_000 },
    ]);
    expect(ids).toHaveLength(2);
    expect(queues.stats()).toMatchObject({ email: { pending: 1 }, sms: { pending: 0, delayed: 1 } });
    expect(queues.enqueueMany([])).toEqual([]);
  });

  it("never lets a poison message being retried block the messages behind it", () => {
    queues.enqueue("email", "poison");
    for (let i = 0; i < 5; i++) queues.enqueue("email", `ok${i}`);
    const delivered: string[] = [];
    let poisonAttempts = 0;
    for (let round = 0; round < 8 && delivered.length < 5; round++) {
      for (const message of queues.lease("email", 1, LEASE)) {
        if (message.body === "poison") {
          poisonAttempts = message.attempt;
          expect(queues.retry(message.id, message.token, 10, "always fails", 100)).toBe("retrying");
        } else {
          delivered.push(message.body as string);
          queues.ack(message.id, message.token);
        }
      }
      now += 20;
    }
    expect(delivered).toEqual(["ok0", "ok1", "ok2", "ok3", "ok4"]);
    expect(poisonAttempts).toBeGreaterThanOrEqual(1);
    // Nor does one whose holder keeps dying: a message whose lease ran out is available
    // from its lease's expiry, so it queues behind what has been waiting longer.
    queues.enqueue("sms", "crasher");
    queues.lease("sms", 1, 1_000);
    queues.enqueue("sms", "behind");
    now += 1_000;
    expect(queues.lease("sms", 1, 1_000).map((m) => m.body)).toEqual(["behind"]);
    expect(queues.lease("sms", 1, 1_000).map((m) => [m.body, m.attempt])).toEqual([["crasher", 2]]);
  });

  it("reports pending, delayed, in-flight, dead-lettered and the oldest pending age per queue", () => {
    queues.enqueue("email", "a");
    now += 1_000;
    queues.enqueue("email", "b");
    queues.enqueue("email", "c", { delayMs: 60_000 });
    queues.enqueue("sms", "d");
    const [sms] = queues.lease("sms", 1, LEASE);
    now += 500;
    expect(queues.stats()).toEqual({
      email: { pending: 2, delayed: 1, inFlight: 0, deadLettered: 0, oldestPendingAgeMs: 1_500 },
      sms: { pending: 0, delayed: 0, inFlight: 1, deadLettered: 0, oldestPendingAgeMs: 0 },
    });
    queues.deadLetter(sms!.id, sms!.token, "x");
    expect(queues.stats("sms")).toEqual({ sms: { pending: 0, delayed: 0, inFlight: 0, deadLettered: 1, oldestPendingAgeMs: 0 } });
    expect(queues.stats("push")).toEqual({ push: { pending: 0, delayed: 0, inFlight: 0, deadLettered: 0, oldestPendingAgeMs: 0 } });
    // A lease that ran out counts as pending again.
    const [a] = queues.lease("email", 1, 1_000);
    expect(a!.body).toBe("a");
    now += 1_000;
    expect(queues.stats("email").email).toMatchObject({ pending: 2, inFlight: 0 });
  });

  it("acknowledges a batch in one call, counting only the leases still held", () => {
    queues.enqueueMany(Array.from({ length: 4 }, (_, i) => ({ queue: "email", body: i })));
    const leased = queues.lease("email", 4, LEASE);
    expect(queues.ackMany([...leased.slice(0, 3), { id: leased[3]!.id, token: "stale" }])).toBe(3);
    expect(queues.stats("email").email).toMatchObject({ inFlight: 1 });
  });
});

describe("SqliteQueues throughput", () => {
  it("prints enqueue + lease + ack cycles per second, batched and one by one", () => {
    const { db, dispose } = tempDatabase();
    try {
      const queues = new SqliteQueues(db);
      const body = { meta: { idempotencyKey: "a".repeat(64), channel: "email", eventId: "e1", rule: "order-shipped" }, to: "ada@example.com", subject: "Your order shipped" };
      const figures: string[] = [];
      for (const batch of [100, 10]) {
        const messages = 10_000;
        const started = performance.now();
        for (let round = 0; round < messages / batch; round++) {
          queues.enqueueMany(Array.from({ length: batch }, () => ({ queue: "email", body })));
          const leased = queues.lease("email", batch, LEASE);
          expect(queues.ackMany(leased)).toBe(batch);
        }
        figures.push(`${Math.round(messages / ((performance.now() - started) / 1000)).toLocaleString("en-US")} cycles/s in batches of ${batch}`);
      }
      const single = 1_000;
      const started = performance.now();
      for (let i = 0; i < single; i++) {
        queues.enqueue("sms", body);
        const [message] = queues.lease("sms", 1, LEASE);
        queues.ack(message!.id, message!.token);
      }
      figures.push(`${Math.round(single / ((performance.now() - started) / 1000)).toLocaleString("en-US")} cycles/s one message at a time`);
      console.log(`[throughput] SqliteQueues (WAL, synchronous=NORMAL), enqueue + lease + ack: ${figures.join(", ")}`);
      expect(queues.stats()).toEqual({});
    } finally {
      dispose();
    }
  });
});
