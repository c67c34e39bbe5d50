/**
 * The Service Bus sender and the v4 settlement on the in-process fake (fake-service-bus.ts;
 * no Service Bus emulator runs without Docker): batches split at the size limit, messages
 * for later are scheduled, a failed send names what did not go; abandon throws after its
 * (capped) hold, dead-lettering keeps the body with the reason.
 */
import { describe, expect, it } from "vitest";
import type { InvocationContext } from "@azure/functions";
import type { ChannelMessage } from "../../../handlers/core/ports";
import { AbandonMessage, inboundFromTrigger, MAX_HOLD_MS, settleInFunction } from "../../../handlers/runtime/azure/function-settlement";
import { ChannelQueueSender, QueueSendError } from "../../../handlers/runtime/azure/sender";
import { FakeServiceBus } from "./fake-service-bus";

function message(channel: string, key: string, notBefore?: string): ChannelMessage {
  return { meta: { idempotencyKey: key, channel, eventId: "e1", eventSource: "s", eventType: "t", eventVersion: 1, rule: "r", recipientId: "u", category: "c", critical: false, locale: "en", createdAt: "2026-01-01T00:00:00.000Z", ...(notBefore ? { notBefore } : {}) }, padding: "x".repeat(300) } as ChannelMessage;
}

describe("ChannelQueueSender", () => {
  it("fills batches up to the size limit, one send per full batch, per channel queue", async () => {
    const bus = new FakeServiceBus({ maxBatchBytes: 2_000 });
    const sender = new ChannelQueueSender(bus, { queueOf: (channel) => `q-${channel}` });
    await sender.send([...Array.from({ length: 7 }, (_, i) => message("email", `k${i}`)), message("sms", "s1")]);
    const emailCalls = bus.sendCalls.filter((call) => call.queue === "q-email").map((call) => call.count);
    expect(emailCalls.length).toBeGreaterThan(1);
    expect(emailCalls.reduce((a, b) => a + b, 0)).toBe(7);
    expect(bus.sendCalls.filter((call) => call.queue === "q-sms")).toEqual([{ queue: "q-sms", count: 1 }]);
    expect(bus.queue("q-email").messages.map((m) => m.message.messageId)).toEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k6"]);
  });

  it("schedules a message due later at its notBefore, and not one already due", async () => {
    const bus = new FakeServiceBus();
    const now = Date.parse("2026-01-01T12:00:00.000Z");
    const sender = new ChannelQueueSender(bus, { queueOf: () => "q", now: () => now });
    await sender.send([message("email", "later", "2026-01-01T21:00:00.000Z"), message("email", "due", "2026-01-01T11:00:00.000Z")]);
    const [later, due] = bus.queue("q").messages.map((m) => m.message);
    expect(later?.scheduledEnqueueTimeUtc?.toISOString()).toBe("2026-01-01T21:00:00.000Z");
    expect(due?.scheduledEnqueueTimeUtc).toBeUndefined();
  });

  it("throws a QueueSendError naming the messages that did not go, after sending the others", async () => {
    const bus = new FakeServiceBus();
    const sender = new ChannelQueueSender(bus, { queueOf: (channel) => { if (channel === "fax") throw new Error("no queue for channel fax"); return `q-${channel}`; } });
    const fax = message("fax", "f1");
    const error = await sender.send([message("email", "e1"), fax]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QueueSendError);
    expect((error as QueueSendError).unsent).toEqual([fax]);
    expect(bus.queue("q-email").messages).toHaveLength(1);
  });
});

describe("settling in a v4 function", () => {
  const context = { triggerMetadata: { messageId: "m1", deliveryCount: 3, applicationProperties: { a: "b" } } } as unknown as InvocationContext;

  it("reads the attempt and ids from the trigger metadata", () => {
    expect(inboundFromTrigger({ x: 1 }, context)).toEqual({ body: { x: 1 }, messageId: "m1", deliveryCount: 3, applicationProperties: { a: "b" } });
    expect(inboundFromTrigger("x", {} as InvocationContext).deliveryCount).toBe(1);
  });

  it("completes by returning, abandons by throwing after a hold capped below the lock", async () => {
    const inbound = inboundFromTrigger("x", context);
    await expect(settleInFunction({ kind: "complete" }, inbound)).resolves.toBeUndefined();
    const held: number[] = [];
    const sleep = async (ms: number) => void held.push(ms);
    await expect(settleInFunction({ kind: "abandon", delayMs: 1_500 }, inbound, { sleep })).rejects.toBeInstanceOf(AbandonMessage);
    await expect(settleInFunction({ kind: "abandon", delayMs: 300_000 }, inbound, { sleep })).rejects.toBeInstanceOf(AbandonMessage);
    expect(held).toEqual([1_500, MAX_HOLD_MS]);
  });

  it("dead-letters to the given queue with Service Bus's reason properties, or throws without one", async () => {
    const bus = new FakeServiceBus();
    const inbound = inboundFromTrigger("{not json", context);
    await settleInFunction({ kind: "deadLetter", reason: "malformed-json", description: "event is not valid JSON" }, inbound, { deadLetterQueue: bus.createSender("rules-dlq") });
    const [kept] = bus.queue("rules-dlq").messages.map((m) => m.message);
    expect(kept?.body.toString("utf8")).toBe("{not json");
    expect(kept?.applicationProperties).toEqual({ deadLetterReason: "malformed-json", deadLetterErrorDescription: "event is not valid JSON", originalMessageId: "m1" });
    await expect(settleInFunction({ kind: "deadLetter", reason: "r", description: "d" }, inbound)).rejects.toBeInstanceOf(AbandonMessage);
  });
});
