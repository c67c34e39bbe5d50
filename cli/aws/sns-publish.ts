/**
 * Publishing validated events to the herald SNS topic: one `Publish` for a single event,
 * `PublishBatch` (10 entries per call) otherwise, retrying entries SNS reports as failed.
 */
import {
  PublishBatchCommand,
  PublishCommand,
  type MessageAttributeValue,
  type PublishBatchRequestEntry,
  type SNSClient,
} from "@aws-sdk/client-sns";
import type { AcceptedEvent } from "../../handlers/core/envelope";
import type { PublishedEvent, PublishOutcome, UnpublishedEvent } from "../cloud-output";

/** SNS's limits for one PublishBatch call: 10 entries and 256 KiB of messages plus attributes. */
export const SNS_BATCH_ENTRIES = 10;
export const SNS_BATCH_BYTES = 256 * 1024;

export type { PublishedEvent, PublishOutcome, UnpublishedEvent } from "../cloud-output";

export interface PublishOptions {
  /** Called after every call that published something, with the running total. */
  readonly onProgress?: (published: number) => void;
  /** Calls per batch, the first included, before its remaining failed entries are given up (default 4). */
  readonly maxAttempts?: number;
  /** Backoff before retry n is `retryDelayMs * 2^(n-1)` (default 200 ms). */
  readonly retryDelayMs?: number;
  /** Batches in flight at once (default 4): a 10,000-event file is 1,000 calls. */
  readonly concurrency?: number;
}

/**
 * The SNS message attributes of an event. Subscriptions can filter on them (a filter
 * policy on `type`, or a numeric range on `version`) without parsing the body.
 */
export function messageAttributes(accepted: AcceptedEvent): Record<string, MessageAttributeValue> {
  return {
    type: { DataType: "String", StringValue: accepted.event.type },
    version: { DataType: "Number", StringValue: String(accepted.version) },
  };
}

/**
 * Publishes every event (the body is the CloudEvent JSON). Entries SNS refuses come back
 * in `failed` and a call refused as a whole ends the run (`stoppedBy`), so the caller can
 * say exactly which events went. A single event uses `Publish` and throws if refused.
 */
export async function publishEvents(sns: SNSClient, topicArn: string, events: readonly AcceptedEvent[], options: PublishOptions = {}): Promise<PublishOutcome> {
  if (events.length === 1) {
    // One event needs no batch bookkeeping; if SNS refuses it, the error itself is the answer.
    const only = events[0]!;
    const { MessageId } = await sns.send(new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify(only.event), MessageAttributes: messageAttributes(only) }));
    options.onProgress?.(1);
    return { published: [{ id: only.event.id, source: only.event.source, messageId: MessageId ?? "" }], failed: [], notSent: [] };
  }

  const published = new Array<PublishedEvent | undefined>(events.length);
  const failed: UnpublishedEvent[] = [];
  const batches = batchesOf(events);
  let done = 0;
  let next = 0;
  let stoppedBy: Error | undefined;
  const worker = async () => {
    while (next < batches.length && !stoppedBy) {
      const batch = batches[next++]!;
      try {
        // Recorded call by call, so what a batch published before a later call of it
        // threw is still reported as published (and not sent again by the user).
        await publishBatch(sns, topicArn, events, batch, options, {
          published(index, messageId) {
            const { event } = events[index]!;
            published[index] = { id: event.id, source: event.source, messageId };
            done++;
          },
          failed: (failure) => failed.push(failure),
        });
      } catch (error) {
        // A call refused as a whole (no such topic, no permission, SNS down past the
        // retries) would be refused for every other batch too: stop, and say how far it got.
        stoppedBy ??= error as Error;
        return;
      }
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, batches.length) }, worker));
  const failedAt = new Set(failed.map((failure) => failure.index));
  const notSent = events.flatMap(({ event }, index) => (published[index] || failedAt.has(index) ? [] : [{ index, id: event.id, source: event.source }]));
  return {
    published: published.filter((p): p is PublishedEvent => p !== undefined),
    failed: failed.sort((a, b) => a.index - b.index),
    notSent,
    ...(stoppedBy ? { stoppedBy } : {}),
  };
}

/** Input positions grouped into PublishBatch calls, within both SNS limits. */
function batchesOf(events: readonly AcceptedEvent[]): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  events.forEach((accepted, index) => {
    const size = entryBytes(accepted);
    if (current.length === SNS_BATCH_ENTRIES || (current.length > 0 && bytes + size > SNS_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** What an entry counts against the batch limit: the body plus attribute names, types and values. */
function entryBytes(accepted: AcceptedEvent): number {
  const attributes = Object.entries(messageAttributes(accepted)).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? "") + Buffer.byteLength(value.StringValue ?? ""),
    0,
  );
  return accepted.sizeBytes + attributes;
}

/**
 * One batch, retrying the entries SNS reports as failed through no fault of ours; each
 * entry's outcome goes to `record` as soon as it is known. Throws when a call fails as
 * a whole after the SDK's own retries.
 */
async function publishBatch(
  sns: SNSClient,
  topicArn: string,
  events: readonly AcceptedEvent[],
  batch: readonly number[],
  options: PublishOptions,
  record: { published(index: number, messageId: string): void; failed(failure: UnpublishedEvent): void },
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? 4;
  let pending = [...batch];
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > 1) await sleep((options.retryDelayMs ?? 200) * 2 ** (attempt - 2));
    // Entry ids are positions in the input file: unique within the call, and they map
    // SNS's answer straight back to the event.
    const entries: PublishBatchRequestEntry[] = pending.map((index) => ({
      Id: String(index),
      Message: JSON.stringify(events[index]!.event),
      MessageAttributes: messageAttributes(events[index]!),
    }));
    const result = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }));
    for (const entry of result.Successful ?? []) record.published(Number(entry.Id), entry.MessageId ?? "");
    const retry: number[] = [];
    for (const entry of result.Failed ?? []) {
      const index = Number(entry.Id);
      // SenderFault means the entry itself is wrong (too big, bad attribute): sending it
      // again gives the same answer, so only SNS-side failures are retried.
      if (entry.SenderFault || attempt >= maxAttempts) record.failed(describe(events, index, entry.Code ?? "unknown", entry.Message ?? ""));
      else retry.push(index);
    }
    pending = retry;
  }
}

function describe(events: readonly AcceptedEvent[], index: number, code: string, message: string): UnpublishedEvent {
  const { event } = events[index]!;
  return { index, id: event.id, source: event.source, code, message };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
