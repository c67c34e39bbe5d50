/**
 * The AWS shims end to end on moto_server: events published to SNS reach the rules queue
 * by raw delivery, the rules handler runs on the batches received from it and puts
 * channel messages on the channel queues, and the channel handlers run on those and
 * deliver through the real channel modules to the local sinks (SMTP, Web Push, Twilio
 * API), configured from a secret in Secrets Manager. The tests play Lambda's event
 * source mapping: receive, invoke, delete what the handler did not report as failed.
 */
import { expectExampleDeliveries, seedExampleRecipients } from "../conformance/shipped-examples";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDirectory } from "../../../handlers/runtime/aws/dynamo-directory";
import { channelQueueUrlVariable } from "../../../handlers/runtime/aws/env";
import { REJECTION_ATTRIBUTES } from "../../../handlers/runtime/aws/rules-handler";
import type { SQSBatchResponse, SQSEvent, SQSHandler } from "../../../handlers/runtime/aws/sqs-event";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import { startMoto, type MotoServer } from "../../support/moto";
import { drain, invoke, queueCounts, type TestQueue } from "./aws-fixture";
import { createStack, shippedExamples, startPeers, UNSUBSCRIBE_BASE_URL, type AwsPeers, type TestStack } from "./aws-stack";

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

/** Polls the queue like the event source mapping until nothing is visible; every invocation's event and answer. */
async function runUntilEmpty(sqs: SQSClient, queue: TestQueue, handler: SQSHandler): Promise<Array<{ event: SQSEvent; response: SQSBatchResponse }>> {
  const runs: Array<{ event: SQSEvent; response: SQSBatchResponse }> = [];
  for (;;) {
    const run = await invoke(sqs, queue, handler);
    if (run.event.Records.length === 0) return runs;
    runs.push(run);
  }
}

/** Deliveries the sinks accepted since `from` (an index into peers.deliveries). */
function deliveredSince(from: number): SinkDelivery[] {
  return peers.deliveries.slice(from);
}

function testNotification(id: string, contacts: Record<string, unknown>): Record<string, any> {
  const event = shippedExamples().find((example) => example.type === "herald.test_notification")!.event;
  return { ...event, id, data: { ...event.data, contacts } };
}

async function expectDlqsEmpty(stack: TestStack): Promise<void> {
  for (const queue of [stack.rules.dlq, ...Object.values(stack.queues).map((q) => q.dlq)]) {
    expect((await queueCounts(peers.sqs, queue)).visible).toBe(0);
  }
}

describe("AWS shims on moto, end to end", () => {
  it("delivers every shipped example from SNS over SMTP, Web Push and the Twilio API", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    await seedExampleRecipients(new DynamoDirectory(peers.aws.dynamodb, stack.recipientsTable), await peers.sinks.push.createSubscription());

    const examples = shippedExamples();
    for (const { event } of examples) await stack.publish(event);

    const commandsBefore = peers.sqsCommands.length;
    const rulesRuns = await runUntilEmpty(peers.sqs, stack.rules, stack.rulesHandler());
    expect(rulesRuns.flatMap((run) => run.event.Records)).toHaveLength(examples.length);
    expect(rulesRuns.flatMap((run) => run.response.batchItemFailures)).toEqual([]);
    // Raw delivery: each record body is the CloudEvent itself, not an SNS envelope.
    expect(JSON.parse(rulesRuns[0]!.event.Records[0]!.body).specversion).toBe("1.0");

    // order v1 (ada: 3), order v2 (grace: email), payment (ada: email+sms), welcome (email),
    // login alert (ada: 3), test notification (email+sms) = 6 email, 2 push, 4 sms.
    const queued = Object.fromEntries(
      await Promise.all(Object.entries(stack.queues).map(async ([channel, queue]) => [channel, (await queueCounts(peers.sqs, queue)).visible])),
    );
    expect(queued).toEqual({ email: 6, push: 2, sms: 4 });
    // The whole batch's messages went out in batched calls, at most 10 entries each.
    const batches = peers.sqsCommands.slice(commandsBefore).filter((c) => c.action === "SendMessageBatch");
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.length).toBeLessThan(12);
    for (const batch of batches) expect(batch.input.Entries.length).toBeLessThanOrEqual(10);
    expect(batches.reduce((n, batch) => n + batch.input.Entries.length, 0)).toBe(12);

    for (const channel of Object.keys(stack.queues)) {
      const runs = await runUntilEmpty(peers.sqs, stack.queues[channel]!, stack.channelHandler(channel));
      expect(
        runs.flatMap((run) => run.response.batchItemFailures),
        channel,
      ).toEqual([]);
    }

    expectExampleDeliveries(deliveredSince(from), UNSUBSCRIBE_BASE_URL);
    await expectDlqsEmpty(stack);

    // Logs: JSON lines with the event id as correlation id, addresses masked.
    const orderLines = peers.logs.filter((line) => line.eventId === "2f6c1a8e-7d4b-4c1e-9a53-0c1f2d3e4a01");
    expect(orderLines.map((line) => line.msg)).toEqual(expect.arrayContaining(["event evaluated", "outcome", "sent"]));
    expect(
      orderLines
        .filter((line) => line.msg === "sent")
        .map((line) => line.channel)
        .sort(),
    ).toEqual(["email", "push", "sms"]);
    const text = peers.logs.map((line) => JSON.stringify(line)).join("\n");
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("+14155550123");
    expect(text).toContain("a***@example.com");
  });

  it("keeps an invalid event in the rules DLQ with the reason, acknowledges it, and carries on with the batch", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    const good = testNotification("dlq-good", { email: "dlq-good@example.com" });
    const invalid = { ...testNotification("dlq-bad", { email: "dlq-bad@example.com" }), data: { contacts: { email: "dlq-bad@example.com" }, message: "" } };
    await stack.publish(invalid);
    await stack.publish("{not json");
    await stack.publish(good);

    const { event, response } = await invoke(peers.sqs, stack.rules, stack.rulesHandler());
    expect(event.Records).toHaveLength(3);
    expect(response.batchItemFailures).toEqual([]);
    expect(await queueCounts(peers.sqs, stack.rules)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });

    const kept = await drain(peers.sqs, stack.rules.dlq);
    expect(kept).toHaveLength(2);
    const byReason = Object.fromEntries(kept.map((m) => [m.MessageAttributes?.[REJECTION_ATTRIBUTES.reason]?.StringValue, m]));
    expect(Object.keys(byReason).sort()).toEqual(["invalid-data", "malformed-json"]);
    expect(JSON.parse(byReason["invalid-data"]!.Body!)).toEqual(invalid);
    expect(byReason["invalid-data"]!.MessageAttributes?.[REJECTION_ATTRIBUTES.detail]?.StringValue).toContain("/data/message");
    expect(byReason["malformed-json"]!.Body).toBe("{not json");
    expect(
      peers.logs.some((line) => line.msg === "event rejected; kept in the rules DLQ" && line.eventId === "dlq-bad" && line.reason === "invalid-data"),
    ).toBe(true);

    // The good event of the same batch went on as usual.
    await runUntilEmpty(peers.sqs, stack.queues.email!, stack.channelHandler("email"));
    expect(deliveredSince(from).map((d) => d.address)).toEqual(["dlq-good@example.com"]);
  });

  it("reports only the record whose DynamoDB read failed; an invalid one in the same batch is still acknowledged", async () => {
    const stack = await createStack(peers);
    const order = shippedExamples().find((example) => example.file === "v1-standard.json")!.event;
    await stack.publish(order);
    await stack.publish({ ...order, id: "no-such-version", dataschema: order.dataschema.replace("v1", "v9") });

    const broken = stack.rulesHandler({ env: { ...stack.env, HERALD_RECIPIENTS_TABLE: "no-such-table" } });
    const { event, response } = await invoke(peers.sqs, stack.rules, broken, { visibilitySeconds: 0 });
    const orderRecord = event.Records.find((record) => JSON.parse(record.body).id === order.id)!;
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: orderRecord.messageId }]);
    expect((await drain(peers.sqs, stack.rules.dlq)).map((m) => m.MessageAttributes?.[REJECTION_ATTRIBUTES.reason]?.StringValue)).toEqual(["unknown-version"]);
    expect(
      peers.logs.some(
        (line) => line.msg === "evaluation failed; the event will be retried" && line.eventId === order.id && /ResourceNotFound/.test(line.error),
      ),
    ).toBe(true);
    // Nothing was queued for it, and it is still on the rules queue for the next poll.
    for (const queue of Object.values(stack.queues)) expect((await queueCounts(peers.sqs, queue)).visible).toBe(0);
    const again = await invoke(peers.sqs, stack.rules, stack.rulesHandler());
    expect(again.event.Records.map((record) => record.messageId)).toEqual([orderRecord.messageId]);
    expect(again.event.Records[0]!.attributes.ApproximateReceiveCount).toBe("2");
    expect(again.response.batchItemFailures).toEqual([]);
  });

  it("fails only the records whose messages SQS refused; the retry's repeat is dropped at delivery", async () => {
    const stack = await createStack(peers);
    const from = peers.deliveries.length;
    const both = testNotification("partial-both", { email: "both@example.com", phone: "+14155550188" });
    const welcome = shippedExamples().find((example) => example.type === "user.signed_up")!.event;
    await stack.publish(both);
    await stack.publish(welcome);

    // The SMS queue is gone (deleted, wrong URL): only the event with an SMS fails.
    const noSms = stack.rulesHandler({ env: { ...stack.env, [channelQueueUrlVariable("sms")]: `${moto.endpoint}/123456789012/no-such-queue` } });
    const first = await invoke(peers.sqs, stack.rules, noSms, { visibilitySeconds: 0 });
    const bothRecord = first.event.Records.find((record) => JSON.parse(record.body).id === both.id)!;
    expect(first.event.Records).toHaveLength(2);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: bothRecord.messageId }]);
    expect(peers.logs.some((line) => line.msg === "channel messages not queued; the event will be retried" && line.eventId === both.id)).toBe(true);

    // Redelivered and evaluated again: its e-mail is now queued twice.
    const second = await invoke(peers.sqs, stack.rules, stack.rulesHandler());
    expect(second.event.Records.map((record) => record.messageId)).toEqual([bothRecord.messageId]);
    expect(second.response.batchItemFailures).toEqual([]);
    expect((await queueCounts(peers.sqs, stack.queues.email!)).visible).toBe(3);
    expect((await queueCounts(peers.sqs, stack.queues.sms!)).visible).toBe(1);

    for (const channel of ["email", "sms"]) {
      const runs = await runUntilEmpty(peers.sqs, stack.queues[channel]!, stack.channelHandler(channel));
      expect(runs.flatMap((run) => run.response.batchItemFailures)).toEqual([]);
    }
    // The DynamoDB claim on the message key let one copy through.
    expect(
      deliveredSince(from)
        .map((d) => d.address)
        .sort(),
    ).toEqual(["+14155550188", "both@example.com", "linus@example.com"]);
    expect(peers.logs.filter((line) => line.msg === "already handled; not sent again" && line.eventId === both.id)).toHaveLength(1);
    await expectDlqsEmpty(stack);
  });
});
