import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../handlers/runtime/local/database";
import { SqliteDirectory, SqliteEventLog, SqliteFrequencyLimiter, SqliteIdempotencyStore, SqliteOutcomes } from "../../../handlers/runtime/local/sqlite-stores";
import { tempDatabase } from "./temp-database";

const T0 = Date.parse("2026-11-20T12:00:00Z");
const DAY = 86_400_000;

describe("SQLite stores beyond the ports", () => {
  let db: Database;
  let path: string;
  let dispose: () => void;
  beforeEach(() => ({ db, path, dispose } = tempDatabase()));
  afterEach(() => dispose());

  it("prunes completed idempotency keys after their TTL and lapsed claims, and not before", async () => {
    const store = new SqliteIdempotencyStore(db, { ttlMs: 7 * DAY });
    const done = await store.claim("done", 1_000, T0);
    if (done.state !== "claimed") throw new Error("not claimed");
    await store.complete("done", done.token, { status: "sent", at: "x" }, T0 + 10);
    await store.claim("lapsed", 1_000, T0);
    await store.claim("live", 30 * DAY, T0);

    expect(store.prune(T0 + 999)).toBe(0);
    expect(store.prune(T0 + 1_000)).toBe(1); // the lapsed claim
    expect(store.prune(T0 + 10 + 7 * DAY - 1)).toBe(0);
    expect((await store.claim("done", 1_000, T0 + 7 * DAY)).state).toBe("completed");
    expect(store.prune(T0 + 10 + 7 * DAY)).toBe(1);
    expect((await store.claim("done", 1_000, T0 + 7 * DAY + 20)).state).toBe("claimed");
    expect((await store.claim("live", 1_000, T0 + 7 * DAY + 20)).state).toBe("in-flight");
  });

  it("releases every live claim at start-up (releaseAllClaims), keeping completed keys", async () => {
    const store = new SqliteIdempotencyStore(db);
    const done = await store.claim("done", 1_000, T0);
    if (done.state !== "claimed") throw new Error("not claimed");
    await store.complete("done", done.token, { status: "sent", at: "x" }, T0);
    await store.claim("held-by-the-dead", 60_000, T0);
    expect(store.releaseAllClaims()).toBe(1);
    expect((await store.claim("held-by-the-dead", 60_000, T0 + 1)).state).toBe("claimed");
    expect((await store.claim("done", 1_000, T0 + 1)).state).toBe("completed");
  });

  it("keeps completed keys, recipients, suppressions and windows across a reopen", async () => {
    const store = new SqliteIdempotencyStore(db);
    const claim = await store.claim("k", 1_000, T0);
    if (claim.state !== "claimed") throw new Error("not claimed");
    await store.complete("k", claim.token, { status: "sent", at: "x", providerMessageId: "p1" }, T0);
    await new SqliteDirectory(db).put({ id: "cus_ada", contacts: { email: "ada@example.com" } });
    await new SqliteDirectory(db).suppress({ channel: "email", address: "Ada@Example.com", reason: "hard-bounce", at: "t" });
    await new SqliteFrequencyLimiter(db).acquire("cus_ada:email", "m1", { limit: 1, windowSeconds: 60 }, T0);
    db.close();

    const reopened = openDatabase(path);
    try {
      expect(await new SqliteIdempotencyStore(reopened).claim("k", 1_000, T0 + 1)).toEqual({
        state: "completed",
        record: { status: "sent", at: "x", providerMessageId: "p1" },
      });
      const directory = new SqliteDirectory(reopened);
      expect(await directory.get("cus_ada")).toEqual({ id: "cus_ada", contacts: { email: "ada@example.com" } });
      expect((await directory.suppression("email", "ada@example.com"))?.reason).toBe("hard-bounce");
      expect(await new SqliteFrequencyLimiter(reopened).acquire("cus_ada:email", "m2", { limit: 1, windowSeconds: 60 }, T0 + 1)).toBe(false);
    } finally {
      reopened.close();
    }
  });

  it("prunes frequency windows in every scope", async () => {
    const limiter = new SqliteFrequencyLimiter(db);
    const cap = { limit: 1, windowSeconds: 60 };
    await limiter.acquire("a", "m1", cap, T0);
    await limiter.acquire("b", "m1", cap, T0 + 10);
    expect(limiter.prune(T0)).toBe(1);
    expect(await limiter.acquire("a", "m2", cap, T0 + 1)).toBe(true);
    expect(await limiter.acquire("b", "m2", cap, T0 + 11)).toBe(false);
  });

  it("records each (source, id) once, counts ingest outcomes, and forgets events past the window", () => {
    const log = new SqliteEventLog(db);
    expect(log.counters()).toEqual({ accepted: 0, rejected: 0, duplicate: 0 });
    expect(log.record("/shop", "e1", T0)).toBe(true);
    expect(log.record("/shop", "e1", T0 + 5)).toBe(false);
    expect(log.record("/billing", "e1", T0)).toBe(true);
    log.bump("accepted");
    log.bump("accepted");
    log.bump("duplicate");
    log.bump("rejected", 3);
    expect(log.counters()).toEqual({ accepted: 2, rejected: 3, duplicate: 1 });
    expect(log.prune(T0 + 1)).toBe(2);
    expect(log.record("/shop", "e1", T0 + 10)).toBe(true);
  });

  it("journals outcomes, counts them by status (per channel) and follows one event in order", () => {
    const outcomes = new SqliteOutcomes(db);
    const event = { eventSource: "/shop", eventId: "e1" };
    outcomes.append([
      { ...event, status: "accepted", reason: "matched", rule: "order-shipped", at: T0, detail: "2 recipients" },
      { ...event, status: "sent", reason: "provider-accepted", rule: "order-shipped", recipientId: "cus_ada", channel: "email", idempotencyKey: "k1", at: T0 + 1 },
      { ...event, status: "throttled", reason: "frequency-cap", rule: "order-shipped", recipientId: "cus_ada", channel: "sms", idempotencyKey: "k2", at: T0 + 1 },
      { eventSource: "/shop", eventId: "e2", status: "sent", reason: "provider-accepted", rule: "order-shipped", recipientId: "cus_bob", channel: "email", at: T0 + 2 },
    ]);
    outcomes.append([]);
    expect(outcomes.countsByStatus()).toEqual({ accepted: 1, sent: 2, throttled: 1 });
    expect(outcomes.countsByStatus("email")).toEqual({ sent: 2 });
    const followed = outcomes.forEvent("/shop", "e1");
    expect(followed.map((o) => o.status)).toEqual(["accepted", "sent", "throttled"]);
    expect(followed[0]).toEqual({ ...event, status: "accepted", reason: "matched", rule: "order-shipped", at: T0, detail: "2 recipients" });
    expect(followed[1]).toEqual({ ...event, status: "sent", reason: "provider-accepted", rule: "order-shipped", recipientId: "cus_ada", channel: "email", idempotencyKey: "k1", at: T0 + 1 });
    expect(outcomes.forEvent("/shop", "nope")).toEqual([]);
  });
});
