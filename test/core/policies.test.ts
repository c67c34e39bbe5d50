import { describe, expect, it } from "vitest";
import { InMemoryFrequencyLimiter, isOptedOut, isValidTimeZone, parseClock, quietHoursEnd } from "../../handlers/core/policies";

const at = (iso: string) => Date.parse(iso);

describe("quietHoursEnd", () => {
  const night = { start: "22:00", end: "07:00" };

  it("defers to the end of a window that wraps midnight, in the recipient's zone", () => {
    // 23:30 in Berlin (UTC+1 in winter) → 07:00 Berlin next day = 06:00Z.
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-01-15T22:30:00Z"))).toBe(at("2026-01-16T06:00:00Z"));
    // 05:10:42 in Berlin → 07:00 the same day.
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-01-16T04:10:42.500Z"))).toBe(at("2026-01-16T06:00:00Z"));
  });

  it("returns undefined outside the window and at its end", () => {
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-01-15T12:00:00Z"))).toBeUndefined();
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-01-16T06:00:00Z"))).toBeUndefined();
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-01-15T21:00:00Z"))).toBe(at("2026-01-16T06:00:00Z"));
  });

  it("handles a same-day window and other zones", () => {
    const lunch = { start: "12:00", end: "13:30" };
    expect(quietHoursEnd(lunch, "America/New_York", at("2026-06-01T16:15:00Z"))).toBe(at("2026-06-01T17:30:00Z"));
    expect(quietHoursEnd(lunch, "Asia/Kolkata", at("2026-06-01T06:45:00Z"))).toBe(at("2026-06-01T08:00:00Z"));
  });

  it("keeps the local end time across a DST change", () => {
    // Night of 28-29 March 2026: Berlin moves from UTC+1 to UTC+2 at 02:00 local.
    // 23:00 local (22:00Z) → 07:00 local CEST = 05:00Z, not 06:00Z.
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-03-28T22:00:00Z"))).toBe(at("2026-03-29T05:00:00Z"));
    // And back in October: 07:00 CET on 25 Oct = 06:00Z.
    expect(quietHoursEnd(night, "Europe/Berlin", at("2026-10-24T21:00:00Z"))).toBe(at("2026-10-25T06:00:00Z"));
  });

  it("ignores malformed windows and falls back to UTC for an unknown zone", () => {
    expect(quietHoursEnd({ start: "25:00", end: "07:00" }, "UTC", at("2026-01-01T23:00:00Z"))).toBeUndefined();
    expect(quietHoursEnd({ start: "07:00", end: "07:00" }, "UTC", at("2026-01-01T07:00:00Z"))).toBeUndefined();
    expect(quietHoursEnd(night, "Mars/Olympus", at("2026-01-01T23:00:00Z"))).toBe(at("2026-01-02T07:00:00Z"));
    expect(isValidTimeZone("Mars/Olympus")).toBe(false);
    expect(isValidTimeZone("Europe/Lisbon")).toBe(true);
    expect(parseClock("07:05")).toBe(425);
  });
});

describe("isOptedOut", () => {
  it("matches category and channel, with * wildcards", () => {
    const optOuts = [{ category: "orders", channel: "sms" }, { category: "*", channel: "push" }];
    expect(isOptedOut(optOuts, "orders", "sms")).toBe(true);
    expect(isOptedOut(optOuts, "orders", "email")).toBe(false);
    expect(isOptedOut(optOuts, "billing", "push")).toBe(true);
    expect(isOptedOut(undefined, "orders", "sms")).toBe(false);
  });
});

describe("InMemoryFrequencyLimiter", () => {
  it("allows `limit` distinct messages per window, counts a repeat once, and frees slots as time passes", async () => {
    const limiter = new InMemoryFrequencyLimiter();
    const cap = { limit: 2, windowSeconds: 60 };
    const t0 = at("2026-01-01T00:00:00Z");
    expect(await limiter.acquire("ada/email", "k1", cap, t0)).toBe(true);
    expect(await limiter.acquire("ada/email", "k2", cap, t0 + 1000)).toBe(true);
    expect(await limiter.acquire("ada/email", "k3", cap, t0 + 2000)).toBe(false);
    expect(await limiter.acquire("ada/email", "k1", cap, t0 + 3000)).toBe(true);
    expect(await limiter.acquire("ada/sms", "k3", cap, t0 + 3000)).toBe(true);
    expect(await limiter.acquire("ada/email", "k3", cap, t0 + 60_001)).toBe(true);
  });
});
