/**
 * Sending channel messages with SendMessageBatch on moto_server, which enforces SQS's
 * limits (10 entries, 256 KB a call) as SQS does. moto never reports an entry in
 * `Failed`, so for those cases a wrapper around the real client plays SQS answering a
 * partial failure; everything else is moto's real answer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { ChannelMessage } from "../../../handlers/core/ports";
import type { AwsApi } from "../../../handlers/runtime/aws/aws-json-client";
import { delaySecondsFor, packBatches, QueueSendError, sendChannelMessages, SQS_MAX_BATCH_BYTES } from "../../../handlers/runtime/aws/channel-queues";
import { startMoto, type MotoServer } from "../../support/moto";
import { uniqueKey } from "../conformance/fixture";
import { createQueue, drain, motoAwsClient, queueCounts, recordCalls, type TestQueue } from "./aws-fixture";

let moto: MotoServer;
/** The tests' own SDK client, for setup and checks. */
let sqs: SQSClient;
/** The shims' client, recorded. */
let api: AwsApi;
let queue: TestQueue;
const commands: Array<{ action: string; input: any }> = [];

beforeAll(async () => {
  moto = await startMoto();
  sqs = new SQSClient(moto.clientConfig);
  api = recordCalls(motoAwsClient(moto, "sqs"), commands);
});
afterAll(async () => {
  sqs?.destroy();
  await moto?.stop();
});
beforeEach(async () => {
  queue = await createQueue(sqs, uniqueKey("email"));
  commands.length = 0;
});

const NOW = Date.parse("2026-11-20T12:00:00Z");

function message(n: number, options: { padding?: number; notBefore?: string; channel?: string } = {}): ChannelMessage & { n: number; padding: string } {
  return {
    meta: {
      idempotencyKey: `key-${n}`,
      channel: options.channel ?? "email",
      eventId: `evt-${n}`,
      eventSource: "/test",
      eventType: "herald.test_notification",
      eventVersion: 1,
      rule: "test-notification",
      recipientId: `r-${n}`,
      category: "test",
      critical: true,
      locale: "en",
      createdAt: new Date(NOW).toISOString(),
      ...(options.notBefore ? { notBefore: options.notBefore } : {}),
    },
    n,
    padding: "x".repeat(options.padding ?? 0),
  };
}

const batchCalls = () => commands.filter((c) => c.action === "SendMessageBatch");
const received = async () => (await drain(sqs, queue, 1000)).map((m) => (JSON.parse(m.Body!) as { n: number }).n).sort((a, b) => a - b);

/** The shims' client, answering like SQS failing the given entry ids on the first `times` calls (the entries are not sent). */
function failEntries(ids: readonly string[], times: number): AwsApi {
  const real = motoAwsClient(moto, "sqs");
  let calls = 0;
  return recordCalls(
    {
      call: async (action, input: any) => {
        if (action !== "SendMessageBatch" || calls >= times) return real.call(action, input);
        calls++;
        const dropped = input.Entries.filter((entry: any) => ids.includes(entry.Id));
        const kept = input.Entries.filter((entry: any) => !ids.includes(entry.Id));
        // SQS refuses an empty batch; with nothing left to send, answer as SQS would have.
        const result: any = kept.length > 0 ? await real.call(action, { ...input, Entries: kept }) : { Successful: [] };
        result.Failed = [...(result.Failed ?? []), ...dropped.map((entry: any) => ({ Id: entry.Id, Code: "InternalError", SenderFault: false }))];
        return result;
      },
    },
    commands,
  );
}

describe("sendChannelMessages on moto", () => {
  it("packs 25 messages of 60 KB into calls of at most 10 entries and 256 KB, and every one arrives once", async () => {
    const messages = Array.from({ length: 25 }, (_, n) => message(n, { padding: 60_000 }));
    await sendChannelMessages(api, messages, { queueUrlOf: () => queue.url, now: () => NOW });
    const calls = batchCalls();
    // 4 × ~60 KB fit under 256 KB, a fifth does not: 7 calls.
    expect(calls.map((c) => c.input.Entries.length)).toEqual([4, 4, 4, 4, 4, 4, 1]);
    for (const call of calls) {
      const bytes = call.input.Entries.reduce((sum: number, entry: any) => sum + Buffer.byteLength(entry.MessageBody), 0);
      expect(bytes).toBeLessThanOrEqual(SQS_MAX_BATCH_BYTES);
    }
    expect(await received()).toEqual(messages.map((m) => m.n));
  });

  it("sends small messages ten to a call", async () => {
    await sendChannelMessages(
      api,
      Array.from({ length: 23 }, (_, n) => message(n)),
      { queueUrlOf: () => queue.url },
    );
    expect(batchCalls().map((c) => c.input.Entries.length)).toEqual([10, 10, 3]);
    expect(await received()).toHaveLength(23);
  });

  it("sends entries SQS reported in Failed again, and only those", async () => {
    const client = failEntries(["m1", "m3"], 1);
    await sendChannelMessages(
      client,
      Array.from({ length: 5 }, (_, n) => message(n)),
      { queueUrlOf: () => queue.url, pauseMs: 1 },
    );
    expect(batchCalls().map((c) => c.input.Entries.map((entry: any) => entry.Id))).toEqual([
      ["m0", "m1", "m2", "m3", "m4"],
      ["m1", "m3"],
    ]);
    expect(await received()).toEqual([0, 1, 2, 3, 4]);
  });

  it("gives up after the bounded attempts with a TransientError naming the unsent messages; the rest arrive", async () => {
    const client = failEntries(["m2"], 100);
    const messages = Array.from({ length: 4 }, (_, n) => message(n));
    const error = await sendChannelMessages(client, messages, { queueUrlOf: () => queue.url, pauseMs: 1, maxAttempts: 3 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QueueSendError);
    expect((error as QueueSendError).code).toBe("sqs-send-failed");
    expect((error as QueueSendError).unsent).toEqual([messages[2]]);
    expect(batchCalls()).toHaveLength(3);
    expect(await received()).toEqual([0, 1, 3]);
  });

  it("reports a message over 256 KB, a channel without a queue, and a missing queue as unsent, and sends the others", async () => {
    const other = await createQueue(sqs, uniqueKey("sms"));
    const huge = message(1, { padding: SQS_MAX_BATCH_BYTES });
    const stray = message(2, { channel: "pigeon" });
    const lost = message(3, { channel: "sms" });
    const fine = message(4);
    const error = (await sendChannelMessages(api, [huge, stray, lost, fine], {
      queueUrlOf: (channel) => {
        if (channel === "pigeon") throw new Error("no queue for channel pigeon");
        return channel === "sms" ? `${other.url}-gone` : queue.url;
      },
    }).catch((caught: unknown) => caught)) as QueueSendError;
    expect(error).toBeInstanceOf(QueueSendError);
    expect(new Set(error.unsent)).toEqual(new Set([huge, stray, lost]));
    expect(error.message).toMatch(/over the SQS limit/);
    expect(error.message).toMatch(/pigeon/);
    expect(await received()).toEqual([4]);
  });

  it("delays a message due later by the time left, at most 900 s, and one due now not at all", async () => {
    const soon = message(1, { notBefore: new Date(NOW + 10 * 60_000 + 1).toISOString() });
    const late = message(2, { notBefore: new Date(NOW + 8 * 3_600_000).toISOString() });
    const past = message(3, { notBefore: new Date(NOW - 1_000).toISOString() });
    expect([soon, late, past, message(4)].map((m) => delaySecondsFor(m, NOW))).toEqual([601, 900, 0, 0]);
    await sendChannelMessages(api, [soon, late, past], { queueUrlOf: () => queue.url, now: () => NOW });
    expect(batchCalls()[0]!.input.Entries.map((entry: any) => entry.DelaySeconds)).toEqual([601, 900, undefined]);
    expect(await queueCounts(sqs, queue)).toEqual({ visible: 1, inFlight: 0, delayed: 2 });
  });
});

describe("packBatches", () => {
  it("closes a batch at 10 entries or before 256 KB would be passed, keeping order", () => {
    const sizes = [100_000, 100_000, 60_000, 1, 200_000, ...Array<number>(12).fill(1)];
    const batches = packBatches(sizes.map((bytes, index) => ({ bytes, index })));
    expect(batches.map((batch) => batch.map((entry) => entry.index))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
      [14, 15, 16],
    ]);
  });
});
