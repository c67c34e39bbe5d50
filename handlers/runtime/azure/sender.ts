/**
 * Sending channel messages to their per-channel Service Bus queues, in batches: a rules
 * invocation's messages for one queue go out in as few `sendMessages` calls as the
 * batch size limit allows (`createMessageBatch` / `tryAddMessage`), and the queues are
 * sent to in parallel. The promise resolves once Service Bus stored every message; the
 * caller completes the event only after that.
 *
 * - Quiet hours: a message due later carries `scheduledEnqueueTimeUtc`, which Service Bus
 *   honours natively (it stays invisible until then), unlike Pub/Sub's nack loop.
 * - Repeats: `messageId` is the idempotency key, so a queue with duplicate detection drops
 *   the copies a retried rules invocation sends again; the delivery stage's claim stops
 *   any that get through all the same.
 *
 * The few Service Bus calls used are behind {@link ServiceBusPort}, which
 * `ServiceBusClient` from @azure/service-bus satisfies as it is, so tests can drive an
 * in-process fake (there is no Service Bus emulator without Docker).
 */
import { TransientError } from "../../core/errors";
import type { ChannelMessage } from "../../core/ports";

/** The Service Bus Standard tier's limit on one message (256 KB); rules messages are a few KB. */
export const SERVICE_BUS_MAX_MESSAGE_BYTES = 256 * 1024;

/** Application properties every channel message carries: for filters, dead-letter triage and logs, never for delivery. */
export const MESSAGE_PROPERTIES = {
  channel: "channel",
  eventId: "eventId",
  idempotencyKey: "idempotencyKey",
  notBefore: "notBefore",
} as const;

/** A message as it is handed to Service Bus: the subset of `ServiceBusMessage` herald sets. */
export interface OutgoingMessage {
  /** UTF-8 JSON as bytes: an AMQP data section, which every Service Bus client and the Functions host read as is. */
  readonly body: Buffer;
  readonly contentType: string;
  readonly messageId: string;
  readonly subject?: string;
  readonly applicationProperties?: Record<string, string | number | boolean>;
  readonly scheduledEnqueueTimeUtc?: Date;
}

/** The part of `ServiceBusMessageBatch` used here. */
export interface MessageBatchPort {
  readonly count: number;
  readonly sizeInBytes: number;
  readonly maxSizeInBytes: number;
  tryAddMessage(message: OutgoingMessage): boolean;
}

/** The part of `ServiceBusSender` used here. */
export interface QueueSenderPort {
  createMessageBatch(): Promise<MessageBatchPort>;
  sendMessages(batch: MessageBatchPort): Promise<void>;
  close(): Promise<void>;
}

/** The part of `ServiceBusClient` used here. */
export interface ServiceBusPort {
  createSender(queueName: string): QueueSenderPort;
}

/** Some messages did not reach their queue; `unsent` are the very objects passed in. */
export class QueueSendError extends TransientError {
  readonly unsent: readonly ChannelMessage[];
  constructor(unsent: readonly ChannelMessage[], reasons: readonly string[], options?: { cause?: unknown }) {
    super("servicebus-send-failed", `${unsent.length} message(s) not sent: ${[...new Set(reasons)].join("; ")}`, options);
    this.unsent = unsent;
  }
}

export interface ChannelQueueSenderOptions {
  /** The queue of a channel; may throw (an unknown channel), which fails that channel's messages. */
  readonly queueOf: (channel: string) => string;
  readonly now?: () => number;
}

/**
 * Sends channel messages to their channel's queue. One per function instance: the
 * senders (each an AMQP link) are kept and reused by every invocation.
 */
export class ChannelQueueSender {
  private readonly senders = new Map<string, QueueSenderPort>();
  private readonly now: () => number;

  constructor(
    private readonly bus: ServiceBusPort,
    private readonly options: ChannelQueueSenderOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends every message. Resolves when Service Bus stored all of them; otherwise throws a
   * {@link QueueSendError} naming the ones that were not (after the others went). The
   * client library already retried what it deems retryable.
   */
  async send(messages: readonly ChannelMessage[], messageIdOf: (message: ChannelMessage) => string = (message) => message.meta.idempotencyKey): Promise<void> {
    const now = this.now();
    const unsent: ChannelMessage[] = [];
    const reasons: string[] = [];
    const byQueue = new Map<string, ChannelMessage[]>();
    for (const message of messages) {
      try {
        const queue = this.options.queueOf(message.meta.channel);
        byQueue.set(queue, [...(byQueue.get(queue) ?? []), message]);
      } catch (error) {
        unsent.push(message);
        reasons.push((error as Error).message);
      }
    }
    await Promise.all(
      [...byQueue].map(async ([queue, list]) => {
        const failed = await this.sendToQueue(queue, list, now, messageIdOf);
        for (const { message, reason } of failed) {
          unsent.push(message);
          reasons.push(reason);
        }
      }),
    );
    if (unsent.length > 0) throw new QueueSendError(unsent, reasons);
  }

  /** Closes every sender link (on instance shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.senders.values()].map((sender) => sender.close()));
    this.senders.clear();
  }

  /** Fills batches in order and sends each as it fills; returns the messages that did not go. */
  private async sendToQueue(
    queue: string,
    messages: readonly ChannelMessage[],
    now: number,
    messageIdOf: (message: ChannelMessage) => string,
  ): Promise<Array<{ message: ChannelMessage; reason: string }>> {
    const failed: Array<{ message: ChannelMessage; reason: string }> = [];
    const sender = this.sender(queue);
    let batch: MessageBatchPort | undefined;
    let inBatch: ChannelMessage[] = [];
    const flush = async () => {
      if (!batch || batch.count === 0) return;
      const sending = inBatch;
      try {
        await sender.sendMessages(batch);
      } catch (error) {
        for (const message of sending) failed.push({ message, reason: (error as Error).message });
      }
      batch = undefined;
      inBatch = [];
    };
    for (const message of messages) {
      const outgoing = toOutgoingMessage(message, now, messageIdOf(message));
      if (outgoing.body.length > SERVICE_BUS_MAX_MESSAGE_BYTES) {
        failed.push({ message, reason: `a ${message.meta.channel} message of ${outgoing.body.length} bytes is over the Service Bus limit` });
        continue;
      }
      try {
        batch ??= await sender.createMessageBatch();
        if (batch.tryAddMessage(outgoing)) {
          inBatch.push(message);
          continue;
        }
        // Full: send it and start the next one with this message.
        await flush();
        batch = await sender.createMessageBatch();
        if (batch.tryAddMessage(outgoing)) inBatch.push(message);
        else failed.push({ message, reason: `a ${message.meta.channel} message does not fit an empty batch` });
      } catch (error) {
        failed.push({ message, reason: (error as Error).message });
      }
    }
    await flush();
    return failed;
  }

  private sender(queue: string): QueueSenderPort {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.bus.createSender(queue);
      this.senders.set(queue, sender);
    }
    return sender;
  }
}

/** A channel message as a Service Bus message; scheduled when its `notBefore` is still ahead. */
export function toOutgoingMessage(message: ChannelMessage, nowMs: number, messageId = message.meta.idempotencyKey): OutgoingMessage {
  const { meta } = message;
  const properties: Record<string, string> = {
    [MESSAGE_PROPERTIES.channel]: meta.channel,
    [MESSAGE_PROPERTIES.eventId]: meta.eventId,
    [MESSAGE_PROPERTIES.idempotencyKey]: meta.idempotencyKey,
  };
  const notBefore = meta.notBefore ? Date.parse(meta.notBefore) : Number.NaN;
  const later = notBefore > nowMs;
  if (later) properties[MESSAGE_PROPERTIES.notBefore] = meta.notBefore!;
  return {
    body: Buffer.from(JSON.stringify(message), "utf8"),
    contentType: "application/json",
    messageId,
    subject: meta.channel,
    applicationProperties: properties,
    ...(later ? { scheduledEnqueueTimeUtc: new Date(notBefore) } : {}),
  };
}

/**
 * The message id of a deferred message sent again to wait longer. Not the idempotency
 * key: duplicate detection would drop it as a repeat of the original. Deterministic per
 * wait, so a re-send that is itself retried is still dropped as a duplicate.
 */
export function deferredMessageId(message: ChannelMessage): string {
  return `${message.meta.idempotencyKey}@${message.meta.notBefore ?? ""}`;
}
