/**
 * The channel handler on moto_server against the local sinks: what each delivery outcome
 * makes SQS do. Partial batch failures with the retry delay as the record's visibility,
 * maxReceiveCount dead-lettering and redrive, duplicates stopped by the DynamoDB claim,
 * a live claim elsewhere, quiet hours by SQS delay, a bad secret. Messages are made by the
 * real rules handler from test events, so they are exactly what production queues carry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChangeMessageVisibilityCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { ChannelMessage } from "../../../handlers/core/ports";
import { DynamoDirectory } from "../../../handlers/runtime/aws/dynamo-directory";
import { DynamoIdempotencyStore } from "../../../handlers/runtime/aws/dynamo-idempotency";
import { sinkChannelEnv } from "../../../handlers/runtime/local/sinks/sink-worker";
import { startMoto, type MotoServer } from "../../support/moto";
import { drain, invoke, queueCounts, receiveEvent, redrive, settle } from "./aws-fixture";
import { createStack, shippedExamples, startPeers, type AwsPeers, type TestStack } from "./aws-stack";

let moto: MotoServer;
let peers: AwsPeers;

beforeAll(async () => {
  moto = await startMoto();
  peers = await startPeers(moto);
});
afterAll(async () => {
  await peers?.stop();
  await moto?.stop();
});

const RETRY = { baseMs: 60_000, capMs: 300_000, configBaseMs: 600_000, configCapMs: 900_000 };

/** Publishes one test notification per contact set and runs the rules stage on them. */
async function enqueue(stack: TestStack, contacts: ReadonlyArray<Record<string, string>>, prefix: string): Promise<void> {
  const base = shippedExamples().find((example) => example.type === "herald.test_notification")!.event;
  for (const [index, contact] of contacts.entries()) await stack.publish({ ...base, id: `${prefix}-${index}`, data: { ...base.data, contacts: contact } });
  const { event, response } = await invoke(peers.sqs, stack.rules, stack.rulesHandler());
  expect(event.Records).toHaveLength(contacts.length);
  expect(response.batchItemFailures).toEqual([]);
}

function delivered(address: string): number {
  return peers.deliveries.filter((delivery) => delivery.address === address).length;
}

/** The ChangeMessageVisibility calls made for one receipt handle. */
function visibilityCalls(receiptHandle: string): number[] {
  return peers.sqsCommands
    .filter((c) => c.action === "ChangeMessageVisibility" && c.input.ReceiptHandle === receiptHandle)
    .map((c) => c.input.VisibilityTimeout);
}

describe("channel handler on moto", () => {
  it("fails only the record whose send failed, hidden for the backoff delay; the rest of the batch is acknowledged", async () => {
    const stack = await createStack(peers);
    await enqueue(stack, [{ email: "partial-1@example.com" }, { email: "partial-2@example.com" }, { email: "partial-3@example.com" }], "partial");
    await peers.sinks.smtp!.failNext(451);

    // Received with visibility 0: a record stays visible unless the handler hides it.
    const event = await receiveEvent(peers.sqs, stack.queues.email!, { visibilitySeconds: 0 });
    expect(event.Records).toHaveLength(3);
    const response = await stack.channelHandler("email", { retry: RETRY, random: () => 1 })(event);
    // Records go one at a time, so the first one met the 451.
    const first = event.Records[0]!;
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: first.messageId }]);
    // Attempt 1: full jitter drew the top of [0, 60 s].
    expect(visibilityCalls(first.receiptHandle)).toEqual([60]);
    for (const record of event.Records.slice(1)) expect(visibilityCalls(record.receiptHandle)).toEqual([]);

    const firstAddress = (JSON.parse(first.body) as { to: string }).to;
    const others = event.Records.slice(1).map((record) => (JSON.parse(record.body) as { to: string }).to);
    expect(delivered(firstAddress)).toBe(0);
    for (const address of others) expect(delivered(address)).toBe(1);
    const retryLine = peers.logs.find((line) => line.msg === "failed; will retry" && line.messageId === first.messageId);
    expect(retryLine).toMatchObject({ channel: "email", attempt: 1, delayMs: 60_000 });
    expect(retryLine!.code).toMatch(/451/);

    // Lambda deletes the acknowledged ones; the failed one stays on the queue, invisible.
    await settle(peers.sqs, stack.queues.email!, event, response);
    expect(await queueCounts(peers.sqs, stack.queues.email!)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
  });

  it("moves a message that fails maxReceiveCount times to the DLQ; redrive brings it back and it is delivered once", async () => {
    const stack = await createStack(peers, { maxReceiveCount: 3 });
    await enqueue(stack, [{ phone: "+14155550177" }], "dlq");
    await peers.sinks.twilio!.failNext(20500, 500, 3);
    const handler = stack.channelHandler("sms");

    const attempts: string[] = [];
    for (let i = 0; i < 3; i++) {
      // random 0: backoff 0 s, visible again at once, so no test waits on a clock.
      const { event, response } = await invoke(peers.sqs, stack.queues.sms!, handler, { visibilitySeconds: 0 });
      expect(event.Records).toHaveLength(1);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
      attempts.push(event.Records[0]!.attributes.ApproximateReceiveCount!);
    }
    expect(attempts).toEqual(["1", "2", "3"]);
    // The fourth receive finds it over maxReceiveCount: SQS moves it to the DLQ instead.
    expect((await receiveEvent(peers.sqs, stack.queues.sms!)).Records).toEqual([]);
    expect(await queueCounts(peers.sqs, stack.queues.sms!.dlq)).toMatchObject({ visible: 1 });
    expect(delivered("+14155550177")).toBe(0);
    expect(peers.logs.filter((line) => line.msg === "failed; will retry" && line.code === "twilio-20500").map((line) => line.attempt)).toEqual([1, 2, 3]);

    expect(await redrive(peers.sqs, stack.queues.sms!.dlq, stack.queues.sms!)).toBe(1);
    const { event, response } = await invoke(peers.sqs, stack.queues.sms!, handler);
    expect(event.Records[0]!.attributes.ApproximateReceiveCount).toBe("1");
    expect(response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550177")).toBe(1);
    expect(await queueCounts(peers.sqs, stack.queues.sms!)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await queueCounts(peers.sqs, stack.queues.sms!.dlq)).toMatchObject({ visible: 0 });
  });

  it("sends a message that arrives twice (in one batch, then again later) exactly once", async () => {
    const stack = await createStack(peers);
    await enqueue(stack, [{ phone: "+14155550166" }], "twice");
    const [original] = await drain(peers.sqs, stack.queues.sms!);
    // SQS delivers at least once: the same body as two messages.
    for (let i = 0; i < 2; i++) await peers.sqs.send(new SendMessageCommand({ QueueUrl: stack.queues.sms!.url, MessageBody: original!.Body! }));

    const handler = stack.channelHandler("sms");
    const { event, response } = await invoke(peers.sqs, stack.queues.sms!, handler);
    expect(event.Records).toHaveLength(2);
    expect(response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550166")).toBe(1);

    // A redelivery after the key completed: acknowledged, nothing sent.
    await peers.sqs.send(new SendMessageCommand({ QueueUrl: stack.queues.sms!.url, MessageBody: original!.Body! }));
    expect((await invoke(peers.sqs, stack.queues.sms!, handler)).response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550166")).toBe(1);
    const key = (JSON.parse(original!.Body!) as ChannelMessage).meta.idempotencyKey;
    expect(peers.logs.filter((line) => line.msg === "already handled; not sent again" && line.idempotencyKey === key)).toHaveLength(2);
    expect(await queueCounts(peers.sqs, stack.queues.sms!)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it("leaves a message whose key another instance holds until that claim lapses, then delivers it", async () => {
    const stack = await createStack(peers);
    await enqueue(stack, [{ phone: "+14155550155" }], "busy");
    const store = new DynamoIdempotencyStore(peers.aws.dynamodb, stack.idempotencyTable);
    const event = await receiveEvent(peers.sqs, stack.queues.sms!, { visibilitySeconds: 0 });
    const message = JSON.parse(event.Records[0]!.body) as ChannelMessage;
    const held = await store.claim(message.meta.idempotencyKey, 45_000, Date.now());
    if (held.state !== "claimed") throw new Error("expected to hold the claim");

    const handler = stack.channelHandler("sms");
    const response = await handler(event);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
    const [seconds] = visibilityCalls(event.Records[0]!.receiptHandle);
    expect(seconds).toBeGreaterThanOrEqual(44);
    expect(seconds).toBeLessThanOrEqual(45);
    expect(delivered("+14155550155")).toBe(0);
    expect(await queueCounts(peers.sqs, stack.queues.sms!)).toMatchObject({ visible: 0, inFlight: 1 });

    // The other holder gives the key back; the test plays the clock forward by making the message visible.
    await store.release(message.meta.idempotencyKey, held.token);
    await peers.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: stack.queues.sms!.url, ReceiptHandle: event.Records[0]!.receiptHandle, VisibilityTimeout: 0 }),
    );
    const again = await invoke(peers.sqs, stack.queues.sms!, handler);
    expect(again.event.Records).toHaveLength(1);
    expect(again.response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550155")).toBe(1);
  });

  it("waits out quiet hours with SQS delays, without using up receives, and delivers after", async () => {
    const stack = await createStack(peers);
    await new DynamoDirectory(peers.aws.dynamodb, stack.recipientsTable).put({
      id: "cus_night",
      contacts: { phone: "+14155550144" },
      timeZone: "UTC",
      quietHours: { start: "22:00", end: "07:00" },
    });
    const night = Date.parse("2026-11-20T23:00:00Z");
    const order = shippedExamples().find((example) => example.file === "v1-standard.json")!.event;
    await stack.publish({ ...order, id: "quiet-1", data: { ...order.data, customerId: "cus_night" } });
    const commandsBefore = peers.sqsCommands.length;
    const rules = await invoke(peers.sqs, stack.rules, stack.rulesHandler({ now: () => night }));
    expect(rules.response.batchItemFailures).toEqual([]);
    const queued = peers.sqsCommands.slice(commandsBefore).find((c) => c.action === "SendMessageBatch")!;
    expect(queued.input.Entries).toHaveLength(1);
    expect(queued.input.Entries[0].DelaySeconds).toBe(900);
    const message = JSON.parse(queued.input.Entries[0].MessageBody) as ChannelMessage;
    expect(message.meta.notBefore).toBe("2026-11-21T07:00:00.000Z");
    expect(await queueCounts(peers.sqs, stack.queues.sms!)).toEqual({ visible: 0, inFlight: 0, delayed: 1 });

    // Fifteen minutes on (played by sending it undelayed): still night, so it goes round again.
    await peers.sqs.send(new SendMessageCommand({ QueueUrl: stack.queues.sms!.url, MessageBody: JSON.stringify(message) }));
    const before = peers.sqsCommands.length;
    const hop = await invoke(peers.sqs, stack.queues.sms!, stack.channelHandler("sms", { now: () => night + 15 * 60_000 }));
    expect(hop.event.Records).toHaveLength(1);
    expect(hop.response.batchItemFailures).toEqual([]);
    const resent = peers.sqsCommands.slice(before).find((c) => c.action === "SendMessageBatch")!;
    expect(resent.input.QueueUrl).toBe(stack.queues.sms!.url);
    expect(resent.input.Entries.map((entry: any) => [JSON.parse(entry.MessageBody), entry.DelaySeconds])).toEqual([[message, 900]]);
    expect(await queueCounts(peers.sqs, stack.queues.sms!)).toEqual({ visible: 0, inFlight: 0, delayed: 2 });
    expect(delivered("+14155550144")).toBe(0);

    // Morning: the same message is sent.
    await peers.sqs.send(new SendMessageCommand({ QueueUrl: stack.queues.sms!.url, MessageBody: JSON.stringify(message) }));
    const morning = await invoke(peers.sqs, stack.queues.sms!, stack.channelHandler("sms", { now: () => Date.parse("2026-11-21T07:00:01Z") }));
    expect(morning.response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550144")).toBe(1);
  });

  it("reads the channel secret once per container, and retries slowly with an alarm when it lacks a key", async () => {
    const good = await createStack(peers);
    await enqueue(good, [{ phone: "+14155550133" }, { phone: "+14155550134" }], "secret");
    const handler = good.channelHandler("sms");
    const reads = () => peers.secretsCommands.filter((c) => c.action === "GetSecretValue" && c.input.SecretId === good.secretArn).length;
    for (let i = 0; i < 2; i++) expect((await invoke(peers.sqs, good.queues.sms!, handler, { max: 1 })).response.batchItemFailures).toEqual([]);
    expect(delivered("+14155550133") + delivered("+14155550134")).toBe(2);
    expect(reads()).toBe(1);

    const { TWILIO_AUTH_TOKEN: _dropped, ...withoutToken } = sinkChannelEnv(peers.sinks, peers.vapid);
    const bad = await createStack(peers, { secret: withoutToken });
    await enqueue(bad, [{ phone: "+14155550122" }], "nosecret");
    const { event, response } = await invoke(peers.sqs, bad.queues.sms!, bad.channelHandler("sms", { retry: RETRY, random: () => 1 }), {
      visibilitySeconds: 0,
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
    // Config errors back off on their own, slower scale (600 s at attempt 1 here).
    expect(visibilityCalls(event.Records[0]!.receiptHandle)).toEqual([600]);
    expect(delivered("+14155550122")).toBe(0);
    expect(peers.logs.find((line) => line.msg === "channel not configured; its messages will retry slowly")).toMatchObject({
      alarm: true,
      code: "config-missing",
    });
    expect(peers.logs.find((line) => line.msg === "channel misconfigured; retrying slowly" && line.messageId === event.Records[0]!.messageId)).toMatchObject({
      alarm: true,
    });
    // The secret's values never reach a log line.
    const text = peers.logs.map((line) => JSON.stringify(line)).join("\n");
    expect(text).not.toContain(peers.sinks.twilio!.authToken);
    expect(text).not.toContain(peers.vapid.privateKey);
  });
});
