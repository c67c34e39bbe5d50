/**
 * Sending channel messages to their SQS queues: as few SendMessageBatch calls as SQS
 * allows (10 entries and 256 KB a call), entries SQS reports as failed sent again a
 * bounded number of times, and a message for later (quiet hours) delayed by SQS itself.
 */
import { TransientError } from "../../core/errors";
import type { ChannelMessage } from "../../core/ports";
import type { AwsApi } from "./aws-json-client";

/** SendMessageBatch takes at most 10 entries... */
export const SQS_MAX_BATCH_ENTRIES = 10;
/** ...whose bodies (and attributes; ours carry none) total at most 256 KB. */
export const SQS_MAX_BATCH_BYTES = 256 * 1024;
/** The longest DelaySeconds SQS takes; a message due later comes back and is delayed again. */
export const SQS_MAX_DELAY_SECONDS = 900;

/**
 * Some messages did not reach their queue. `unsent` are the very objects passed in, so
 * the caller can tell which inputs (SQS records) to retry.
 */
export class QueueSendError extends TransientError {
  readonly unsent: readonly ChannelMessage[];
  constructor(unsent: readonly ChannelMessage[], reasons: readonly string[], options?: { cause?: unknown }) {
    super("sqs-send-failed", `${unsent.length} message(s) not sent: ${[...new Set(reasons)].join("; ")}`, options);
    this.unsent = unsent;
  }
}

/** DelaySeconds for a message not to be delivered before `notBefore`: 0 when due, at most 900. */
export function delaySecondsFor(message: ChannelMessage, nowMs: number): number {
  const notBefore = message.meta.notBefore ? Date.parse(message.meta.notBefore) : Number.NaN;
  if (!(notBefore > nowMs)) return 0;
  return Math.min(SQS_MAX_DELAY_SECONDS, Math.ceil((notBefore - nowMs) / 1000));
}

export interface ChannelQueueOptions {
  /** The queue URL of a channel; may throw (an unknown channel), which fails that channel's messages. */
  readonly queueUrlOf: (channel: string) => string;
  readonly now?: () => number;
  /** Rounds for entries SQS reports in `Failed` (throttled, internal error); default 3. */
  readonly maxAttempts?: number;
  /** Pause before the second round, doubling after; default 100 ms. */
  readonly pauseMs?: number;
}

/** SendMessageBatch's request entry and answer, as the SQS JSON protocol has them. */
interface SendMessageBatchEntry {
  readonly Id: string;
  readonly MessageBody: string;
  readonly DelaySeconds?: number;
}
interface SendMessageBatchResult {
  readonly Successful?: ReadonlyArray<{ readonly Id?: string; readonly MessageId?: string }>;
  readonly Failed?: ReadonlyArray<{ readonly Id?: string; readonly Code?: string; readonly SenderFault?: boolean; readonly Message?: string }>;
}

interface Entry {
  readonly message: ChannelMessage;
  readonly body: string;
  readonly bytes: number;
  readonly delaySeconds: number;
}

/**
 * Sends every message to its channel's queue. Resolves when all were accepted; otherwise
 * throws a {@link QueueSendError} naming the ones that were not (after the others went).
 */
export async function sendChannelMessages(sqs: AwsApi, messages: readonly ChannelMessage[], options: ChannelQueueOptions): Promise<void> {
  const now = (options.now ?? Date.now)();
  const byQueue = new Map<string, Entry[]>();
  const unsent: ChannelMessage[] = [];
  const reasons: string[] = [];
  for (const message of messages) {
    let queueUrl: string;
    try {
      queueUrl = options.queueUrlOf(message.meta.channel);
    } catch (error) {
      unsent.push(message);
      reasons.push((error as Error).message);
      continue;
    }
    const body = JSON.stringify(message);
    const entry = { message, body, bytes: Buffer.byteLength(body, "utf8"), delaySeconds: delaySecondsFor(message, now) };
    if (entry.bytes > SQS_MAX_BATCH_BYTES) {
      unsent.push(message);
      reasons.push(`a ${message.meta.channel} message of ${entry.bytes} bytes is over the SQS limit`);
      continue;
    }
    const list = byQueue.get(queueUrl) ?? [];
    list.push(entry);
    byQueue.set(queueUrl, list);
  }
  // Queues in parallel (a slow one does not hold up the others); a queue's batches in order.
  await Promise.all(
    [...byQueue].map(async ([queueUrl, entries]) => {
      for (const batch of packBatches(entries)) {
        const failed = await sendBatch(sqs, queueUrl, batch, options);
        for (const { entry, reason } of failed) {
          unsent.push(entry.message);
          reasons.push(reason);
        }
      }
    }),
  );
  if (unsent.length > 0) throw new QueueSendError(unsent, reasons);
}

/** Greedy packing in order: a batch closes at 10 entries or when the next would pass 256 KB. */
export function packBatches<E extends { readonly bytes: number }>(entries: readonly E[]): E[][] {
  const batches: E[][] = [];
  let current: E[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length === SQS_MAX_BATCH_ENTRIES || (current.length > 0 && bytes + entry.bytes > SQS_MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** One batch, with rounds for the entries SQS failed; returns what never got through. */
async function sendBatch(
  sqs: AwsApi,
  queueUrl: string,
  batch: readonly Entry[],
  options: ChannelQueueOptions,
): Promise<Array<{ entry: Entry; reason: string }>> {
  const maxAttempts = options.maxAttempts ?? 3;
  const pauseMs = options.pauseMs ?? 100;
  // Entry ids only need to be unique within one call.
  let pending = new Map(batch.map((entry, index) => [`m${index}`, entry]));
  const given: Array<{ entry: Entry; reason: string }> = [];
  let lastReasons = new Map<string, string>();
  for (let attempt = 1; attempt <= maxAttempts && pending.size > 0; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, pauseMs * 2 ** (attempt - 2)));
    const request: SendMessageBatchEntry[] = [...pending].map(([id, entry]) => ({
      Id: id,
      MessageBody: entry.body,
      ...(entry.delaySeconds > 0 ? { DelaySeconds: entry.delaySeconds } : {}),
    }));
    let failed: NonNullable<SendMessageBatchResult["Failed"]>;
    try {
      // The client already retried throttling and 5xx answers of the call as a whole.
      failed = (await sqs.call<SendMessageBatchResult>("SendMessageBatch", { QueueUrl: queueUrl, Entries: request })).Failed ?? [];
    } catch (error) {
      const reason = `SendMessageBatch failed: ${(error as Error).name}: ${(error as Error).message}`;
      return [...given, ...[...pending.values()].map((entry) => ({ entry, reason }))];
    }
    const next = new Map<string, Entry>();
    lastReasons = new Map();
    for (const failure of failed) {
      const entry = failure.Id !== undefined ? pending.get(failure.Id) : undefined;
      if (!entry) continue;
      const reason = `entry failed with ${failure.Code ?? "an unknown code"}${failure.SenderFault ? " (sender fault)" : ""}`;
      // A sender fault (a malformed entry) fails the same way every time: no second round.
      if (failure.SenderFault) given.push({ entry, reason });
      else {
        next.set(failure.Id!, entry);
        lastReasons.set(failure.Id!, reason);
      }
    }
    pending = next;
  }
  return [...given, ...[...pending].map(([id, entry]) => ({ entry, reason: lastReasons.get(id) ?? "not sent" }))];
}
