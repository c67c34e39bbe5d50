import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { email } from "../../handlers/channels/email";
import { push } from "../../handlers/channels/push";
import { backoffDelay, deliver, type DeliveryContext } from "../../handlers/core/delivery";
import { ConfigError, PermanentError, TransientError } from "../../handlers/core/errors";
import { InMemoryDirectory } from "../../handlers/core/in-memory-directory";
import { InMemoryIdempotencyStore } from "../../handlers/core/in-memory-idempotency";
import type { ChannelMessage, ChannelSender, SendResult } from "../../handlers/core/ports";
import { ada, pushSubscription } from "../support/evaluation-fixture";

function message(overrides: Partial<ChannelMessage["meta"]> = {}, channel = "email"): any {
  return {
    meta: {
      idempotencyKey: "a".repeat(64),
      channel,
      eventId: "e1",
      eventSource: "/test",
      eventType: "order.shipped",
      eventVersion: 1,
      rule: "order-shipped",
      recipientId: "cus_ada",
      category: "orders",
      critical: false,
      locale: "en",
      createdAt: "2026-11-20T12:00:00.000Z",
      ...overrides,
    },
    to: "ada@example.com",
    subject: "s",
    html: "<p>h</p>",
    text: "t",
    subscription: pushSubscription,
  };
}

/** A sender scripted per call: each entry is a result or an error to throw. */
function scriptedSender(script: Array<SendResult | Error | "hang">): ChannelSender & { calls: number } {
  const sender = {
    calls: 0,
    async send() {
      const step = script[Math.min(sender.calls, script.length - 1)]!;
      sender.calls += 1;
      if (step === "hang") return new Promise<SendResult>(() => {});
      if (step instanceof Error) throw step;
      return step;
    },
    async close() {},
  };
  return sender;
}

function context(sender: ChannelSender, overrides: Partial<DeliveryContext> = {}): DeliveryContext & { directory: InMemoryDirectory } {
  return {
    adapter: email,
    sender,
    idempotency: new InMemoryIdempotencyStore(),
    directory: new InMemoryDirectory([ada]),
    now: () => Date.parse("2026-11-20T12:00:00Z"),
    random: () => 0.5,
    ...overrides,
  } as DeliveryContext & { directory: InMemoryDirectory };
}

describe("deliver", () => {
  it("sends once; a redelivery of the same key sends nothing", async () => {
    const sender = scriptedSender([{ providerMessageId: "smtp-1" }]);
    const ctx = context(sender);
    expect(await deliver(message(), 1, ctx)).toEqual({ status: "sent", providerMessageId: "smtp-1" });
    expect(await deliver(message(), 1, ctx)).toMatchObject({ status: "duplicate", record: { status: "sent", providerMessageId: "smtp-1" } });
    expect(sender.calls).toBe(1);
  });

  it("retries a transient failure no sooner than Retry-After, then sends", async () => {
    const sender = scriptedSender([new TransientError("smtp-4xx", "451", { retryAfterMs: 30_000 }), { providerMessageId: "ok" }]);
    const ctx = context(sender);
    const first = await deliver(message(), 1, ctx);
    expect(first).toMatchObject({ status: "retry", delayMs: 30_000 });
    expect(await deliver(message(), 2, ctx)).toMatchObject({ status: "sent" });
    expect(sender.calls).toBe(2);
  });

  it("classifies unknown errors through the channel and backs off exponentially", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const ctx = context(scriptedSender([refused]));
    const delays = [];
    for (const attempt of [1, 2, 3, 4]) {
      const outcome = await deliver(message(), attempt, ctx);
      expect(outcome.status).toBe("retry");
      delays.push((outcome as { delayMs: number }).delayMs);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000]);
  });

  it("retries config errors slowly", async () => {
    const outcome = await deliver(message(), 1, context(scriptedSender([new ConfigError("EAUTH", "bad credentials")])));
    expect(outcome).toMatchObject({ status: "retry", delayMs: 30_000 });
  });

  it("records a permanent failure, suppresses the address, and never retries it", async () => {
    const sender = scriptedSender([new PermanentError("smtp-5xx", "550 no such user", { suppress: "hard-bounce" })]);
    const ctx = context(sender);
    expect(await deliver(message(), 1, ctx)).toMatchObject({ status: "failed", error: { code: "smtp-5xx" } });
    expect(await ctx.directory.suppression("email", "ada@example.com")).toMatchObject({ reason: "hard-bounce" });
    expect(await deliver(message(), 2, ctx)).toMatchObject({ status: "duplicate", record: { status: "failed", reason: "smtp-5xx" } });
    expect(sender.calls).toBe(1);
  });

  it("removes a gone push subscription from the directory", async () => {
    const sender = scriptedSender([new PermanentError("push-410", "gone", { suppress: "subscription-gone" })]);
    const ctx = context(sender, { adapter: push });
    await deliver(message({ channel: "push" }, "push"), 1, ctx);
    expect((await ctx.directory.get("cus_ada"))!.contacts.push).toEqual([]);
  });

  it("defers a message in quiet hours without claiming it", async () => {
    const sender = scriptedSender([{}]);
    const ctx = context(sender);
    expect(await deliver(message({ notBefore: "2026-11-21T07:00:00.000Z" }), 1, ctx)).toEqual({ status: "deferred", untilMs: Date.parse("2026-11-21T07:00:00Z") });
    expect(sender.calls).toBe(0);
  });

  it("leaves a live claim alone (busy), and takes over an expired one: the stated crash window", async () => {
    const idempotency = new InMemoryIdempotencyStore();
    let now = Date.parse("2026-11-20T12:00:00Z");
    await idempotency.claim("a".repeat(64), 60_000, now); // a worker that then dies before completing
    const sender = scriptedSender([{}]);
    const ctx = context(sender, { idempotency, now: () => now });
    expect(await deliver(message(), 1, ctx)).toEqual({ status: "busy", retryInMs: 60_000 });
    now += 60_001;
    expect(await deliver(message(), 1, ctx)).toMatchObject({ status: "sent" });
    expect(sender.calls).toBe(1);
  });

  it("cuts off a sender that ignores its timeout, as a transient failure", async () => {
    const quick = { ...email, defaults: { ...email.defaults, timeoutMs: 50 } };
    const outcome = await deliver(message(), 1, context(scriptedSender(["hang"]), { adapter: quick }));
    expect(outcome).toMatchObject({ status: "retry", error: { code: "timeout" } });
  });
});

describe("backoffDelay", () => {
  it("draws within [0, min(cap, base * 2^(attempt-1))] and never below Retry-After", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.option(fc.nat(100_000)), (attempt, r, retryAfter) => {
        const delay = backoffDelay(attempt, 1000, 300_000, retryAfter ?? undefined, () => r);
        const ceiling = Math.min(300_000, 1000 * 2 ** (attempt - 1));
        expect(delay).toBeGreaterThanOrEqual(retryAfter ?? 0);
        expect(delay).toBeLessThanOrEqual(Math.max(ceiling, retryAfter ?? 0));
      }),
    );
  });
});
