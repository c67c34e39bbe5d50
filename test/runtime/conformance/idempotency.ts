/**
 * The behaviour every `IdempotencyStore` must have, as `InMemoryIdempotencyStore` defines
 * it: `describeIdempotencyConformance("sqlite", factory)` runs it against another store.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeliveryRecord, IdempotencyStore } from "../../../handlers/core/delivery";
import { uniqueKey, type StoreFactory, type StoreFixture } from "./fixture";

const LEASE = 30_000;

export function describeIdempotencyConformance(name: string, factory: StoreFactory<IdempotencyStore>): void {
  describe(`IdempotencyStore conformance: ${name}`, () => {
    let fixture: StoreFixture<IdempotencyStore>;
    let store: IdempotencyStore;
    // Real wall-clock time, so stores with native TTLs see plausible instants.
    let t0: number;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      t0 = Date.now();
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    async function claimed(key: string, nowMs: number, leaseMs = LEASE): Promise<string> {
      const result = await store.claim(key, leaseMs, nowMs);
      if (result.state !== "claimed") throw new Error(`expected a claim on ${key}, got ${JSON.stringify(result)}`);
      expect(typeof result.token).toBe("string");
      expect(result.token.length).toBeGreaterThan(0);
      return result.token;
    }

    it("claims a new key, completes it, and answers completed with the record ever after", async () => {
      const key = uniqueKey("k");
      const token = await claimed(key, t0);
      const record: DeliveryRecord = { status: "sent", at: new Date(t0).toISOString(), providerMessageId: "<250 queued as 7F3A>" };
      await store.complete(key, token, record, t0 + 5);
      expect(await store.claim(key, LEASE, t0 + 10)).toEqual({ state: "completed", record });
      // Long after any lease would have lapsed, it is still completed.
      expect(await store.claim(key, LEASE, t0 + 24 * 3_600_000)).toEqual({ state: "completed", record });
    });

    it("keeps a failed record with its reason", async () => {
      const key = uniqueKey("k");
      const token = await claimed(key, t0);
      const record: DeliveryRecord = { status: "failed", at: new Date(t0).toISOString(), reason: "hard-bounce" };
      await store.complete(key, token, record, t0);
      expect(await store.claim(key, LEASE, t0 + 1)).toEqual({ state: "completed", record });
    });

    it("answers in-flight with the expiry while a live claim holds the key", async () => {
      const key = uniqueKey("k");
      await claimed(key, t0);
      expect(await store.claim(key, LEASE, t0 + 1)).toEqual({ state: "in-flight", expiresAtMs: t0 + LEASE });
      expect(await store.claim(key, LEASE, t0 + LEASE - 1)).toEqual({ state: "in-flight", expiresAtMs: t0 + LEASE });
    });

    it("lets a claim whose lease ran out be taken over, with a new token (expiry instant included)", async () => {
      const key = uniqueKey("k");
      const first = await claimed(key, t0);
      const second = await claimed(key, t0 + LEASE);
      expect(second).not.toBe(first);
      expect(await store.claim(key, LEASE, t0 + LEASE + 1)).toEqual({ state: "in-flight", expiresAtMs: t0 + 2 * LEASE });
    });

    it("ignores complete with a stale token: the new holder's claim stands and its record wins", async () => {
      const key = uniqueKey("k");
      const stale = await claimed(key, t0);
      const current = await claimed(key, t0 + LEASE + 1);
      await store.complete(key, stale, { status: "sent", at: "stale" }, t0 + LEASE + 2);
      expect(await store.claim(key, LEASE, t0 + LEASE + 3)).toEqual({ state: "in-flight", expiresAtMs: t0 + 2 * LEASE + 1 });
      const record: DeliveryRecord = { status: "sent", at: "current" };
      await store.complete(key, current, record, t0 + LEASE + 4);
      expect(await store.claim(key, LEASE, t0 + LEASE + 5)).toEqual({ state: "completed", record });
    });

    it("ignores release with a stale token", async () => {
      const key = uniqueKey("k");
      const stale = await claimed(key, t0);
      await claimed(key, t0 + LEASE);
      await store.release(key, stale);
      expect((await store.claim(key, LEASE, t0 + LEASE + 1)).state).toBe("in-flight");
    });

    it("makes a released key claimable at once", async () => {
      const key = uniqueKey("k");
      const token = await claimed(key, t0);
      await store.release(key, token);
      await claimed(key, t0 + 1);
    });

    it("ignores complete and release with a token that never held the key", async () => {
      const key = uniqueKey("k");
      await store.complete(key, "not-a-token", { status: "sent", at: "x" }, t0);
      await store.release(key, "not-a-token");
      await claimed(key, t0);
    });

    it("does not undo a completion with release", async () => {
      const key = uniqueKey("k");
      const token = await claimed(key, t0);
      const record: DeliveryRecord = { status: "sent", at: "x" };
      await store.complete(key, token, record, t0);
      await store.release(key, token);
      expect(await store.claim(key, LEASE, t0 + 1)).toEqual({ state: "completed", record });
    });

    it("keeps keys independent", async () => {
      const a = uniqueKey("a");
      const b = uniqueKey("b");
      const token = await claimed(a, t0);
      await claimed(b, t0);
      await store.complete(a, token, { status: "sent", at: "x" }, t0);
      expect((await store.claim(b, LEASE, t0 + 1)).state).toBe("in-flight");
    });

    it("grants exactly one of many simultaneous claims", async () => {
      const key = uniqueKey("k");
      const results = await Promise.all(Array.from({ length: 10 }, () => store.claim(key, LEASE, t0)));
      expect(results.filter((r) => r.state === "claimed")).toHaveLength(1);
      expect(results.filter((r) => r.state === "in-flight")).toHaveLength(9);
    });
  });
}
