/**
 * The behaviour every `FrequencyLimiter` must have, as `InMemoryFrequencyLimiter`
 * defines it: a sliding window per scope, idempotent per message key.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FrequencyCap, FrequencyLimiter } from "../../../handlers/core/policies";
import { uniqueKey, type StoreFactory, type StoreFixture } from "./fixture";

const CAP: FrequencyCap = { limit: 3, windowSeconds: 60 };
const WINDOW = CAP.windowSeconds * 1000;

export function describeFrequencyLimiterConformance(name: string, factory: StoreFactory<FrequencyLimiter>): void {
  describe(`FrequencyLimiter conformance: ${name}`, () => {
    let fixture: StoreFixture<FrequencyLimiter>;
    let limiter: FrequencyLimiter;
    let t0: number;
    let scope: string;

    beforeEach(async () => {
      fixture = await factory();
      limiter = fixture.store;
      t0 = Date.now();
      scope = uniqueKey("cus_ada:email");
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    it("admits up to the limit, then refuses", async () => {
      expect(await limiter.acquire(scope, "m1", CAP, t0)).toBe(true);
      expect(await limiter.acquire(scope, "m2", CAP, t0 + 1)).toBe(true);
      expect(await limiter.acquire(scope, "m3", CAP, t0 + 2)).toBe(true);
      expect(await limiter.acquire(scope, "m4", CAP, t0 + 3)).toBe(false);
      expect(await limiter.acquire(scope, "m5", CAP, t0 + 4)).toBe(false);
    });

    it("admits a key it already counted again, without using up allowance, even at the cap", async () => {
      expect(await limiter.acquire(scope, "m1", CAP, t0)).toBe(true);
      expect(await limiter.acquire(scope, "m1", CAP, t0 + 1)).toBe(true);
      expect(await limiter.acquire(scope, "m2", CAP, t0 + 2)).toBe(true);
      expect(await limiter.acquire(scope, "m3", CAP, t0 + 3)).toBe(true);
      expect(await limiter.acquire(scope, "m1", CAP, t0 + 4)).toBe(true);
      expect(await limiter.acquire(scope, "m4", CAP, t0 + 5)).toBe(false);
    });

    it("slides: each counted message frees its slot one window after it was counted", async () => {
      await limiter.acquire(scope, "m1", CAP, t0);
      await limiter.acquire(scope, "m2", CAP, t0 + WINDOW / 2);
      await limiter.acquire(scope, "m3", CAP, t0 + WINDOW / 2);
      expect(await limiter.acquire(scope, "m4", CAP, t0 + WINDOW - 1)).toBe(false);
      // At exactly one window after m1, m1's slot is free; m2 and m3 still count.
      expect(await limiter.acquire(scope, "m4", CAP, t0 + WINDOW)).toBe(true);
      expect(await limiter.acquire(scope, "m5", CAP, t0 + WINDOW + 1)).toBe(false);
      expect(await limiter.acquire(scope, "m5", CAP, t0 + WINDOW / 2 + WINDOW)).toBe(true);
    });

    it("counts a key anew once its window has passed", async () => {
      await limiter.acquire(scope, "m1", CAP, t0);
      await limiter.acquire(scope, "m2", CAP, t0 + 1);
      await limiter.acquire(scope, "m3", CAP, t0 + 2);
      expect(await limiter.acquire(scope, "m1", CAP, t0 + WINDOW)).toBe(true);
      // m1 now counts from t0 + WINDOW: with m2 and m3 the window is full again.
      expect(await limiter.acquire(scope, "m4", CAP, t0 + WINDOW)).toBe(false);
    });

    it("keeps scopes apart", async () => {
      const other = uniqueKey("cus_grace:email");
      for (const key of ["m1", "m2", "m3"]) await limiter.acquire(scope, key, CAP, t0);
      expect(await limiter.acquire(scope, "m4", CAP, t0)).toBe(false);
      expect(await limiter.acquire(other, "m4", CAP, t0)).toBe(true);
    });

    it("admits exactly the limit among simultaneous requests", async () => {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => limiter.acquire(scope, `m${i}`, CAP, t0)));
      expect(results.filter(Boolean)).toHaveLength(CAP.limit);
    });
  });
}
