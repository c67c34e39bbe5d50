/**
 * The Azure shims end to end: Table Storage on Azurite, Service Bus as the in-process
 * fake of fake-service-bus.ts (no Service Bus emulator runs without Docker), the local
 * sinks as providers. Events sent to the events queue are handed to the rules message
 * handler, its channel messages land on the per-channel queues, and the channel message
 * handlers deliver them through the real channel modules to the sinks (SMTP, Web Push,
 * Twilio API). The tests play the Functions host: they apply each returned settlement.
 */
import { expectExampleDeliveries, seedExampleRecipients } from "../conformance/shipped-examples";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { channels } from "../../../handlers/channels";
import { createChannelMessageHandler, createRulesMessageHandler, type ChannelMessageHandlerDeps } from "../../../handlers/runtime/azure/message-handler";
import { AZURE_ENV, channelQueueVariable } from "../../../handlers/runtime/azure/env";
import { createJsonLogger } from "../../../handlers/runtime/azure/json-logger";
import { MESSAGE_PROPERTIES, toOutgoingMessage } from "../../../handlers/runtime/azure/sender";
import { TableDirectory } from "../../../handlers/runtime/azure/table-directory";
import { tableClientFor } from "../../../handlers/runtime/azure/table-keys";
import { sinkChannelEnv, startSinksInWorker, type WorkerSinks } from "../../../handlers/runtime/local/sinks/sink-worker";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import { shippedExamples } from "../../support/local-runtime";
import { startAzurite, type Azurite } from "./azurite";
import { FakeServiceBus, type Handled } from "./fake-service-bus";

const UNSUBSCRIBE_BASE_URL = "https://notify.example.com/v1/unsubscribe";

let azurite: Azurite;
let sinks: WorkerSinks;
let vapid: { publicKey: string; privateKey: string };
const deliveries: SinkDelivery[] = [];
const logs: Array<Record<string, any>> = [];
const logger = createJsonLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) });

beforeAll(async () => {
  vapid = webpush.generateVAPIDKeys();
  const [started, sinkWorker] = await Promise.allSettled([startAzurite(), startSinksInWorker({ vapidPublicKey: vapid.publicKey, smtp: true, twilio: true, onDelivery: (d) => void deliveries.push(d) })]);
  if (sinkWorker.status === "fulfilled") sinks = sinkWorker.value;
  if (started.status === "fulfilled") azurite = started.value;
  if (started.status === "rejected") throw started.reason;
  if (sinkWorker.status === "rejected") throw sinkWorker.reason;
});
afterAll(async () => {
  await sinks?.close();
  await azurite?.stop();
});

/** A fresh stack: two tables, a fake namespace, the functions' app settings. */
async function createStack() {
  const idempotency = await azurite.createTable("idempotency");
  const recipients = await azurite.createTable("recipients");
  const bus = new FakeServiceBus();
  // As the stack sets them: plain settings as settings, the secret ones (those the channel
  // modules declare) in one JSON setting (a Key Vault reference in the cloud).
  const channelSettings = sinkChannelEnv(sinks, vapid);
  const secretKeys = new Set(channels.flatMap((channel) => channel.secretConfigKeys ?? []));
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(channelSettings).filter(([key]) => !secretKeys.has(key))),
    [AZURE_ENV.channelSecrets]: JSON.stringify(Object.fromEntries(Object.entries(channelSettings).filter(([key]) => secretKeys.has(key)))),
    [AZURE_ENV.tablesConnection]: azurite.connectionString,
    [AZURE_ENV.idempotencyTable]: idempotency.tableName,
    [AZURE_ENV.recipientsTable]: recipients.tableName,
    [AZURE_ENV.unsubscribeBaseUrl]: UNSUBSCRIBE_BASE_URL,
    [AZURE_ENV.unsubscribeSecret]: "unsubscribe-signing-key",
    ...Object.fromEntries(channels.map((channel) => [channelQueueVariable(channel.name), `herald-${channel.name}`])),
  };
  const events = bus.queue("herald-events");
  return {
    bus,
    env,
    events,
    queue: (channel: string) => bus.queue(`herald-${channel}`),
    directory: new TableDirectory(tableClientFor(azurite.connectionString, recipients.tableName)),
    send(event: unknown, messageId = `evt-${Math.random()}`) {
      events.accept({ body: Buffer.from(typeof event === "string" ? event : JSON.stringify(event)), contentType: "application/json", messageId });
    },
    // The tables come from the settings (HERALD_TABLES_CONNECTION), as in the cloud.
    rules: () => createRulesMessageHandler({ env, serviceBus: bus, logger, random: () => 0 }),
    channel: (name: string, deps: Partial<ChannelMessageHandlerDeps> = {}) =>
      createChannelMessageHandler(channels.find((c) => c.name === name)!, { env, serviceBus: bus, logger, random: () => 0, ...deps }),
  };
}

function testNotification(id: string, contacts: Record<string, unknown>): Record<string, any> {
  const event = shippedExamples().find((example) => example.type === "herald.test_notification")!.event;
  return { ...event, id, data: { ...event.data, contacts } };
}

const kinds = (handled: readonly Handled[]) => handled.map((h) => h.settlement.kind);

describe("Azure shims on Azurite and a fake Service Bus, end to end", () => {
  it("delivers every shipped example from the events queue over SMTP, Web Push and the Twilio API", async () => {
    const stack = await createStack();
    const from = deliveries.length;
    await seedExampleRecipients(stack.directory, await sinks.push.createSubscription());
    const examples = shippedExamples();
    for (const { event } of examples) stack.send(event);

    const rules = await stack.events.deliverUntilEmpty(stack.rules());
    expect(rules).toHaveLength(examples.length);
    expect(new Set(kinds(rules))).toEqual(new Set(["complete"]));

    // order v1 (ada: 3), order v2 (grace: email), payment (ada: email+sms), welcome (email),
    // login alert (ada: 3), test notification (email+sms) = 6 email, 2 push, 4 sms.
    const queued = Object.fromEntries(["email", "push", "sms"].map((channel) => [channel, stack.queue(channel).messages.map((m) => m.message)]));
    expect(Object.fromEntries(Object.entries(queued).map(([channel, list]) => [channel, list.length]))).toEqual({ email: 6, push: 2, sms: 4 });
    for (const [channel, list] of Object.entries(queued)) {
      for (const message of list) {
        const meta = JSON.parse(message.body.toString("utf8")).meta;
        // The message id is the idempotency key (duplicate detection); nothing was for later.
        expect(message.messageId).toBe(meta.idempotencyKey);
        expect(message.scheduledEnqueueTimeUtc).toBeUndefined();
        expect(message.applicationProperties).toEqual({ [MESSAGE_PROPERTIES.channel]: channel, [MESSAGE_PROPERTIES.eventId]: meta.eventId, [MESSAGE_PROPERTIES.idempotencyKey]: meta.idempotencyKey });
      }
    }

    for (const channel of ["email", "push", "sms"]) {
      const handled = await stack.queue(channel).deliverUntilEmpty(stack.channel(channel));
      expect(new Set(kinds(handled)), channel).toEqual(new Set(["complete"]));
      expect(stack.queue(channel).messages).toEqual([]);
    }
    // Signed with the key from the (Key Vault) setting; the SMTP password came from the secrets JSON.
    expectExampleDeliveries(deliveries.slice(from), UNSUBSCRIBE_BASE_URL);

    // Logs: correlated by event id, addresses masked.
    const sent = logs.filter((line) => line.message === "sent" && line.eventId === "2f6c1a8e-7d4b-4c1e-9a53-0c1f2d3e4a01");
    expect(sent.map((line) => line.channel).sort()).toEqual(["email", "push", "sms"]);
    const text = logs.map((line) => JSON.stringify(line)).join("\n");
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("+14155550123");
  });

  it("abandons a send the provider refused for now, sends it on redelivery, and never sends a redelivered message twice", async () => {
    const stack = await createStack();
    const from = deliveries.length;
    stack.send(testNotification("az-retry", { email: "retry@example.com" }));
    expect(kinds(await stack.events.deliver(stack.rules()))).toEqual(["complete"]);
    // The rules function retried (its completion lost): duplicate detection drops the copies.
    stack.send(testNotification("az-retry", { email: "retry@example.com" }));
    await stack.events.deliver(stack.rules());
    expect(stack.queue("email").messages).toHaveLength(1);
    expect(stack.queue("email").droppedDuplicates).toBe(1);

    const email = stack.queue("email");
    const handler = stack.channel("email");
    await sinks.smtp!.failNext(451);
    const first = await email.deliver(handler);
    expect(first.map((h) => [h.deliveryCount, h.settlement])).toEqual([[1, { kind: "abandon", delayMs: 0 }]]);
    expect(deliveries.slice(from)).toEqual([]);
    expect(logs.some((line) => line.message === "failed; will retry" && line.eventId === "az-retry" && line.attempt === 1)).toBe(true);

    // Delivery 2 sends it, but its completion is lost: Service Bus delivers it a third
    // time, and the completed Table Storage claim keeps it from going out again.
    const second = await email.deliver(handler, { loseSettlement: true });
    expect(second.map((h) => [h.deliveryCount, h.settlement.kind])).toEqual([[2, "complete"]]);
    const third = await email.deliver(handler);
    expect(third.map((h) => [h.deliveryCount, h.settlement.kind])).toEqual([[3, "complete"]]);
    expect(deliveries.slice(from).map((d) => d.address)).toEqual(["retry@example.com"]);
    expect(logs.filter((line) => line.message === "already handled; not sent again" && line.eventId === "az-retry")).toHaveLength(1);
    expect(email.messages).toEqual([]);
  });

  it("dead-letters invalid events with their reason; the good one goes on", async () => {
    const stack = await createStack();
    const from = deliveries.length;
    const invalid = { ...testNotification("az-bad", { email: "bad@example.com" }), data: { contacts: { email: "bad@example.com" }, message: "" } };
    stack.send(invalid);
    stack.send("{not json");
    stack.send(testNotification("az-good", { email: "good@example.com" }));
    expect(kinds(await stack.events.deliver(stack.rules()))).toEqual(["deadLetter", "deadLetter", "complete"]);
    expect(stack.events.messages).toEqual([]);
    const byReason = Object.fromEntries(stack.events.deadLettered.map((d) => [d.reason, d]));
    expect(Object.keys(byReason).sort()).toEqual(["invalid-data", "malformed-json"]);
    expect(byReason["invalid-data"]!.description).toContain("/data/message");
    expect(JSON.parse(byReason["invalid-data"]!.message.body.toString("utf8"))).toEqual(invalid);
    expect(byReason["malformed-json"]!.message.body.toString("utf8")).toBe("{not json");

    await stack.queue("email").deliverUntilEmpty(stack.channel("email"));
    expect(deliveries.slice(from).map((d) => d.address)).toEqual(["good@example.com"]);
  });

  it("sends a message that came before its notBefore again, scheduled for then, and completes this copy", async () => {
    const stack = await createStack();
    const from = deliveries.length;
    stack.send(testNotification("az-later", { email: "later@example.com" }));
    await stack.events.deliver(stack.rules());
    const [original] = stack.queue("email").drain();
    const message = JSON.parse(original!.body.toString("utf8"));
    const notBefore = new Date(Date.now() + 90_000).toISOString();
    const early = toOutgoingMessage({ ...message, meta: { ...message.meta, notBefore } }, Date.now() - 120_000);
    // Delivered early (a producer or a clock that does not honour the schedule).
    stack.queue("email").accept({ ...early, scheduledEnqueueTimeUtc: undefined, messageId: "early-copy" });
    expect(kinds(await stack.queue("email").deliver(stack.channel("email")))).toEqual(["complete"]);

    const [again] = stack.queue("email").messages.map((m) => m.message);
    expect(again?.scheduledEnqueueTimeUtc?.toISOString()).toBe(notBefore);
    // Not the idempotency key: duplicate detection would drop it as a repeat of the original.
    expect(again?.messageId).toBe(`${message.meta.idempotencyKey}@${notBefore}`);
    expect(again?.applicationProperties?.[MESSAGE_PROPERTIES.notBefore]).toBe(notBefore);
    expect(stack.queue("email").visible()).toEqual([]);
    expect(deliveries.slice(from)).toEqual([]);

    // When its time comes it is delivered (the handler's clock moves with the queue's).
    stack.bus.nowMs = Date.parse(notBefore) + 1;
    const later = await stack.queue("email").deliver(stack.channel("email", { now: () => Date.parse(notBefore) + 1 }));
    expect(later.map((h) => [h.deliveryCount, h.settlement.kind])).toEqual([[1, "complete"]]);
    expect(deliveries.slice(from).map((d) => d.address)).toEqual(["later@example.com"]);
  });

  it("abandons when a port fails, so the event comes back; dead-letters an unreadable channel message", async () => {
    const stack = await createStack();
    stack.send(testNotification("az-port", { email: "port@example.com" }));
    stack.bus.failSends = 1;
    const first = await stack.events.deliver(stack.rules());
    expect(first.map((h) => h.settlement.kind)).toEqual(["abandon"]);
    expect(logs.some((line) => line.message === "channel messages not sent; the event will be retried" && line.eventId === "az-port")).toBe(true);
    expect(stack.queue("email").messages).toEqual([]);
    const again = await stack.events.deliver(stack.rules());
    expect(again.map((h) => [h.deliveryCount, h.settlement.kind])).toEqual([[2, "complete"]]);
    expect(stack.queue("email").messages).toHaveLength(1);

    const junk = await stack.channel("email")({ body: "{}", messageId: "junk", deliveryCount: 1 });
    expect(junk).toEqual({ kind: "deadLetter", reason: "unreadable-message", description: "not a email channel message" });
  });
});
