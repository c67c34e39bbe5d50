/**
 * The GCP shims end to end on the Pub/Sub and Firestore emulators: events published to
 * the events topic are pulled and handed to the rules push handler in the push format,
 * its channel messages land on the per-channel topics, and the channel push handlers
 * deliver them through the real channel modules to the local sinks (SMTP, Web Push,
 * Twilio API). The tests play Pub/Sub's push delivery: ack on 2xx, nack otherwise.
 */
import { expectExampleDeliveries, seedExampleRecipients } from "../conformance/shipped-examples";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Firestore } from "@google-cloud/firestore";
import { FirestoreDirectory } from "../../../handlers/runtime/gcp/firestore-directory";
import { MESSAGE_ATTRIBUTES } from "../../../handlers/runtime/gcp/publisher";
import { REJECTION_ATTRIBUTES } from "../../../handlers/runtime/gcp/push-handler";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import { startFirestoreEmulator, startPubSubEmulator, TEST_PROJECT, type GcpEmulator } from "../../support/gcp-emulators";
import { firestoreClient, pubsubClient } from "./gcp-fixture";
import { createStack, shippedExamples, startPeers, UNSUBSCRIBE_BASE_URL, type GcpPeers, type Handed } from "./gcp-stack";

let emulators: GcpEmulator[] = [];
let firestore: Firestore;
let peers: GcpPeers;

beforeAll(async () => {
  // Both JVMs start at once; a failure of either fails the file with gcloud's output.
  const started = await Promise.allSettled([startPubSubEmulator(), startFirestoreEmulator()]);
  emulators = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failure = started.find((result) => result.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
  const [pubsubEmulator, firestoreEmulator] = emulators as [GcpEmulator, GcpEmulator];
  firestore = firestoreClient(firestoreEmulator, TEST_PROJECT);
  peers = await startPeers(pubsubEmulator, pubsubClient(pubsubEmulator, TEST_PROJECT), firestore);
});
afterAll(async () => {
  await peers?.stop();
  await peers?.pubsub.close();
  await firestore?.terminate();
  await Promise.all(emulators.map((emulator) => emulator.stop()));
});

function deliveredSince(from: number): SinkDelivery[] {
  return peers.deliveries.slice(from);
}

function testNotification(id: string, contacts: Record<string, unknown>): Record<string, any> {
  const event = shippedExamples().find((example) => example.type === "herald.test_notification")!.event;
  return { ...event, id, data: { ...event.data, contacts } };
}

const statuses = (handed: readonly Handed[]) => handed.map((h) => h.response.status);

describe("GCP shims on the Pub/Sub and Firestore emulators, end to end", () => {
  it("delivers every shipped example from the events topic over SMTP, Web Push and the Twilio API", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    await seedExampleRecipients(new FirestoreDirectory(firestore, stack.recipientsCollection), await peers.sinks.push.createSubscription());

    const examples = shippedExamples();
    for (const { event } of examples) await stack.publish(event);

    const rules = await stack.events.pushUntilEmpty(stack.rulesHandler());
    expect(rules).toHaveLength(examples.length);
    expect(new Set(statuses(rules))).toEqual(new Set([204]));
    expect(JSON.parse(rules[0]!.data).specversion).toBe("1.0");

    // order v1 (ada: 3), order v2 (grace: email), payment (ada: email+sms), welcome (email),
    // login alert (ada: 3), test notification (email+sms) = 6 email, 2 push, 4 sms.
    const handed: Record<string, Handed[]> = {};
    for (const channel of Object.keys(stack.channelSubscriptions)) {
      handed[channel] = await stack.channelSubscriptions[channel]!.pushUntilEmpty(stack.channelHandler(channel));
    }
    expect(Object.fromEntries(Object.entries(handed).map(([channel, list]) => [channel, list.length]))).toEqual({ email: 6, push: 2, sms: 4 });
    for (const [channel, list] of Object.entries(handed)) {
      expect(new Set(statuses(list)), channel).toEqual(new Set([204]));
      for (const message of list) {
        // The publisher's attributes mirror the message's meta; nothing was for later.
        const meta = JSON.parse(message.data).meta;
        expect(message.attributes).toEqual({
          [MESSAGE_ATTRIBUTES.channel]: channel,
          [MESSAGE_ATTRIBUTES.eventId]: meta.eventId,
          [MESSAGE_ATTRIBUTES.idempotencyKey]: meta.idempotencyKey,
        });
      }
    }

    expectExampleDeliveries(deliveredSince(from), UNSUBSCRIBE_BASE_URL);

    // Nothing left anywhere, nothing rejected.
    for (const sub of [stack.events, stack.rulesDeadLetter, ...Object.values(stack.channelSubscriptions)]) expect(await sub.pull(), sub.name).toEqual([]);

    // Logs: Cloud Logging's severity, the event id as correlation id, addresses masked.
    const orderLines = peers.logs.filter((line) => line.eventId === "2f6c1a8e-7d4b-4c1e-9a53-0c1f2d3e4a01");
    expect(orderLines.map((line) => line.message)).toEqual(expect.arrayContaining(["event evaluated", "outcome", "sent"]));
    expect(orderLines.filter((line) => line.message === "sent").map((line) => line.channel).sort()).toEqual(["email", "push", "sms"]);
    expect(orderLines.every((line) => ["DEBUG", "INFO", "WARNING", "ERROR"].includes(line.severity))).toBe(true);
    const text = peers.logs.map((line) => JSON.stringify(line)).join("\n");
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("+14155550123");
  });

  it("nacks a send the provider refused for now, delivers it on redelivery, and never sends a redelivered message twice", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    await stack.publish(testNotification("gcp-retry", { email: "retry@example.com" }));
    expect(statuses(await stack.events.push(stack.rulesHandler()))).toEqual([204]);

    const email = stack.channelSubscriptions.email!;
    const handler = stack.channelHandler("email");
    await peers.sinks.smtp!.failNext(451);
    const first = await email.push(handler);
    expect(first).toHaveLength(1);
    expect(first[0]!.attempt).toBe(1);
    expect(first[0]!.response.status).toBe(503);
    expect(first[0]!.response.headers?.["Retry-After"]).toBe("0");
    expect(deliveredSince(from)).toEqual([]);
    expect(peers.logs.some((line) => line.message === "failed; will retry" && line.eventId === "gcp-retry" && line.attempt === 1)).toBe(true);

    // Redelivered (the nack), attempt 2: sent. The ack is "lost" (forceNack), so Pub/Sub
    // delivers it a third time: the Firestore claim, completed, keeps it from going out again.
    const second = await email.push(handler, { forceNack: true });
    expect(second.map((h) => [h.messageId, h.attempt, h.response.status])).toEqual([[first[0]!.messageId, 2, 204]]);
    const third = await email.push(handler);
    expect(third.map((h) => [h.messageId, h.attempt, h.response.status])).toEqual([[first[0]!.messageId, 3, 204]]);
    expect(deliveredSince(from).map((d) => d.address)).toEqual(["retry@example.com"]);
    expect(peers.logs.filter((line) => line.message === "already handled; not sent again" && line.eventId === "gcp-retry")).toHaveLength(1);
    expect(await email.pull()).toEqual([]);
  });

  it("nacks a message for later with Retry-After until its notBefore, and an unreadable one with 400", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    await stack.publish(testNotification("gcp-later", { email: "later@example.com" }));
    await stack.events.push(stack.rulesHandler());
    const [pulled] = await stack.channelSubscriptions.email!.drain();
    const message = JSON.parse(Buffer.from(pulled!.message.data!, "base64").toString("utf8"));
    const notBefore = new Date(Date.now() + 90_000).toISOString();
    const handler = stack.channelHandler("email");
    const later = await handler({
      body: { message: { data: Buffer.from(JSON.stringify({ ...message, meta: { ...message.meta, notBefore } })).toString("base64"), messageId: "m-later" } },
      headers: {},
    });
    expect(later.status).toBe(429);
    expect(Number(later.headers?.["Retry-After"])).toBeGreaterThanOrEqual(89);
    expect(Number(later.headers?.["Retry-After"])).toBeLessThanOrEqual(90);
    // By the fourth attempt the wait would soon use up the dead-letter budget: the message
    // is published anew (a fresh attempt count) and this copy acknowledged.
    const deferredData = Buffer.from(JSON.stringify({ ...message, meta: { ...message.meta, notBefore } })).toString("base64");
    const fourth = await handler({ body: { message: { data: deferredData, messageId: "m-later" }, deliveryAttempt: 4 }, headers: {} });
    expect(fourth.status).toBe(204);
    const again = await stack.channelSubscriptions.email!.drain();
    expect(again).toHaveLength(1);
    expect(JSON.parse(Buffer.from(again[0]!.message.data!, "base64").toString("utf8")).meta).toMatchObject({ idempotencyKey: message.meta.idempotencyKey, notBefore });
    expect((await handler({ body: { message: { data: Buffer.from("{}").toString("base64"), messageId: "m-junk" } }, headers: {} })).status).toBe(400);
    expect((await handler({ body: { nothing: true }, headers: {} })).status).toBe(400);
    expect(deliveredSince(from)).toEqual([]);
  });

  it("keeps invalid events on the rules dead-letter topic with the reason and acks them; the good one goes on", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    const good = testNotification("dlq-good", { email: "dlq-good@example.com" });
    const invalid = { ...testNotification("dlq-bad", { email: "dlq-bad@example.com" }), data: { contacts: { email: "dlq-bad@example.com" }, message: "" } };
    await stack.publish(invalid);
    await stack.publish("{not json");
    await stack.publish(good);

    const handed = await stack.events.push(stack.rulesHandler());
    expect(handed).toHaveLength(3);
    expect(statuses(handed)).toEqual([204, 204, 204]);
    expect(await stack.events.pull()).toEqual([]);

    const kept = await stack.rulesDeadLetter.drain();
    expect(kept).toHaveLength(2);
    const byReason = Object.fromEntries(kept.map((m) => [m.message.attributes?.[REJECTION_ATTRIBUTES.reason], m.message]));
    expect(Object.keys(byReason).sort()).toEqual(["invalid-data", "malformed-json"]);
    const body = (reason: string) => Buffer.from(byReason[reason]!.data ?? "", "base64").toString("utf8");
    expect(JSON.parse(body("invalid-data"))).toEqual(invalid);
    expect(byReason["invalid-data"]!.attributes?.[REJECTION_ATTRIBUTES.detail]).toContain("/data/message");
    expect(body("malformed-json")).toBe("{not json");
    expect(peers.logs.some((line) => line.message === "event rejected; kept on the rules dead-letter topic" && line.eventId === "dlq-bad")).toBe(true);

    await stack.channelSubscriptions.email!.pushUntilEmpty(stack.channelHandler("email"));
    expect(deliveredSince(from).map((d) => d.address)).toEqual(["dlq-good@example.com"]);
  });

  it("answers 500 when a port fails, so the event comes back; evaluated again it goes through", async () => {
    const stack = await createStack(peers);
    await stack.publish(testNotification("gcp-port", { email: "port@example.com" }));
    // The directory is the port evaluation reads (suppressions of the inline address).
    class Unavailable extends FirestoreDirectory {
      override async get(): Promise<never> {
        throw new Error("firestore unavailable");
      }
      override async suppression(): Promise<never> {
        throw new Error("firestore unavailable");
      }
    }
    const broken = stack.rulesHandler({ directory: new Unavailable(firestore, stack.recipientsCollection) });
    const first = await stack.events.push(broken);
    expect(statuses(first)).toEqual([500]);
    expect(peers.logs.some((line) => line.message === "evaluation failed; the event will be retried" && line.eventId === "gcp-port" && /firestore unavailable/.test(line.error))).toBe(true);
    expect(await stack.channelSubscriptions.email!.pull()).toEqual([]);
    const again = await stack.events.push(stack.rulesHandler());
    expect(again.map((h) => [h.messageId, h.attempt, h.response.status])).toEqual([[first[0]!.messageId, 2, 204]]);
    expect(await stack.channelSubscriptions.email!.drain()).toHaveLength(1);
  });
});
