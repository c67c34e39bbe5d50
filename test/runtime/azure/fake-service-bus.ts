/**
 * An in-process stand-in for Service Bus queues, behind the same `ServiceBusPort` the
 * shims use (there is no Service Bus emulator without Docker). It models what the shims
 * rely on: batches with a size limit (`tryAddMessage` refuses past it), duplicate
 * detection by `messageId`, `scheduledEnqueueTimeUtc` (invisible until then, by the
 * fake's own clock), `deliveryCount`, and the three settlements, with dead-lettering
 * after `maxDeliveryCount`. The tests play the Functions host: they hand each visible
 * message to a handler and apply the settlement it returns.
 */
import type { InboundMessage, MessageHandler, Settlement } from "../../../handlers/runtime/azure/message";
import type { MessageBatchPort, OutgoingMessage, QueueSenderPort, ServiceBusPort } from "../../../handlers/runtime/azure/sender";

export interface StoredMessage {
  readonly message: OutgoingMessage;
  deliveryCount: number;
  /** Assigned on arrival, as Service Bus does; the CLI's redrive names copies by it. */
  readonly sequenceNumber: number;
}

export interface Handled {
  readonly messageId: string;
  readonly body: string;
  readonly deliveryCount: number;
  readonly settlement: Settlement;
}

export class FakeQueue {
  readonly messages: StoredMessage[] = [];
  readonly deadLettered: Array<{ message: OutgoingMessage; reason: string; description: string; deliveryCount: number; sequenceNumber: number }> = [];
  /** How many sends duplicate detection dropped. */
  droppedDuplicates = 0;
  private readonly seen = new Set<string>();
  constructor(
    readonly name: string,
    private readonly clock: () => number,
    readonly maxDeliveryCount = 10,
  ) {}

  accept(message: OutgoingMessage): void {
    if (this.seen.has(message.messageId)) {
      this.droppedDuplicates += 1;
      return;
    }
    this.seen.add(message.messageId);
    this.messages.push({ message, deliveryCount: 0, sequenceNumber: nextSequenceNumber++ });
  }

  /** Messages whose scheduled time has come. */
  visible(): StoredMessage[] {
    const now = this.clock();
    return this.messages.filter((stored) => (stored.message.scheduledEnqueueTimeUtc?.getTime() ?? 0) <= now);
  }

  /**
   * Hands each visible message to `handler` once and applies the settlement.
   * `loseSettlement`: the completion never reaches Service Bus (the instance died), so
   * the message stays to be delivered again.
   */
  async deliver(handler: MessageHandler, options: { loseSettlement?: boolean } = {}): Promise<Handled[]> {
    const handled: Handled[] = [];
    for (const stored of this.visible()) {
      stored.deliveryCount += 1;
      const body = stored.message.body.toString("utf8");
      const inbound: InboundMessage = {
        body,
        messageId: stored.message.messageId,
        deliveryCount: stored.deliveryCount,
        ...(stored.message.applicationProperties ? { applicationProperties: stored.message.applicationProperties } : {}),
      };
      const settlement = await handler(inbound);
      handled.push({ messageId: stored.message.messageId, body, deliveryCount: stored.deliveryCount, settlement });
      if (options.loseSettlement) continue;
      if (settlement.kind === "complete") this.remove(stored);
      else if (settlement.kind === "deadLetter") this.deadLetter(stored, settlement.reason, settlement.description);
      // Abandon: redelivered at once (Service Bus has no delayed abandon), until maxDeliveryCount.
      else if (stored.deliveryCount >= this.maxDeliveryCount) this.deadLetter(stored, "MaxDeliveryCountExceeded", "");
    }
    return handled;
  }

  /** `deliver` until nothing is visible or `maxRounds` passed. */
  async deliverUntilEmpty(handler: MessageHandler, maxRounds = 20): Promise<Handled[]> {
    const all: Handled[] = [];
    for (let round = 0; round < maxRounds && this.visible().length > 0; round++) all.push(...(await this.deliver(handler)));
    return all;
  }

  /** Removes and returns every message (visible or not). */
  drain(): OutgoingMessage[] {
    return this.messages.splice(0).map((stored) => stored.message);
  }

  /** Dead-letters a stored message as Service Bus would after `maxDeliveryCount` (a test's shortcut). */
  deadLetterAll(reason: string, description: string): void {
    for (const stored of [...this.messages]) this.deadLetter(stored, reason, description);
  }

  private remove(stored: StoredMessage): void {
    this.messages.splice(this.messages.indexOf(stored), 1);
  }

  private deadLetter(stored: StoredMessage, reason: string, description: string): void {
    this.remove(stored);
    this.deadLettered.push({ message: stored.message, reason, description, deliveryCount: stored.deliveryCount, sequenceNumber: nextSequenceNumber++ });
  }
}

let nextSequenceNumber = 1;

/** Size accounting as Service Bus does it, roughly: the body plus a fixed overhead per message. */
const PER_MESSAGE_OVERHEAD = 100;

class FakeBatch implements MessageBatchPort {
  readonly messages: OutgoingMessage[] = [];
  sizeInBytes = 0;
  constructor(readonly maxSizeInBytes: number) {}
  get count(): number {
    return this.messages.length;
  }
  tryAddMessage(message: OutgoingMessage): boolean {
    const size = message.body.length + PER_MESSAGE_OVERHEAD;
    if (this.sizeInBytes + size > this.maxSizeInBytes) return false;
    this.sizeInBytes += size;
    this.messages.push(message);
    return true;
  }
}

/**
 * A peek-lock receiver on a queue or its dead-letter subqueue, for the CLI's `dlq`
 * commands: peek (with a cursor, as the SDK's receiver keeps), receive (locks),
 * complete (removes), abandon (unlocks). Shaped as `CliReceiver` in cli/azure.
 */
class FakeReceiver {
  private cursor = 0;
  private readonly locked = new Set<number>();
  constructor(
    private readonly queue: FakeQueue,
    private readonly deadLetter: boolean,
  ) {}

  private entries(): Array<{ sequenceNumber: number; message: OutgoingMessage; deliveryCount: number; reason?: string; description?: string }> {
    return this.deadLetter ? this.queue.deadLettered : this.queue.messages;
  }

  private received(entry: ReturnType<FakeReceiver["entries"]>[number]) {
    return {
      body: entry.message.body,
      messageId: entry.message.messageId,
      sequenceNumber: entry.sequenceNumber,
      deliveryCount: entry.deliveryCount,
      enqueuedTimeUtc: new Date(0),
      contentType: entry.message.contentType,
      ...(entry.message.subject ? { subject: entry.message.subject } : {}),
      applicationProperties: { ...(entry.message.applicationProperties ?? {}) },
      ...(entry.reason !== undefined ? { deadLetterReason: entry.reason, deadLetterErrorDescription: entry.description } : {}),
    };
  }

  async peekMessages(max: number) {
    const entries = this.entries().filter((e) => e.sequenceNumber > this.cursor).slice(0, max);
    if (entries.length > 0) this.cursor = entries[entries.length - 1]!.sequenceNumber;
    return entries.map((e) => this.received(e));
  }

  async receiveMessages(max: number, _options: { maxWaitTimeInMs: number }) {
    const entries = this.entries().filter((e) => !this.locked.has(e.sequenceNumber)).slice(0, max);
    for (const entry of entries) {
      this.locked.add(entry.sequenceNumber);
      entry.deliveryCount += 1;
    }
    return entries.map((e) => this.received(e));
  }

  async completeMessage(message: { sequenceNumber?: { toString(): string } }) {
    const list = this.entries();
    const index = list.findIndex((e) => String(e.sequenceNumber) === String(message.sequenceNumber));
    if (index < 0 || !this.locked.has(list[index]!.sequenceNumber)) throw new Error("MessageLockLost: the message is not locked by this receiver");
    this.locked.delete(list[index]!.sequenceNumber);
    list.splice(index, 1);
  }

  async abandonMessage(message: { sequenceNumber?: { toString(): string } }) {
    this.locked.delete(Number(String(message.sequenceNumber)));
  }

  async close() {
    // Locks end with the link: what was received and not settled is deliverable again.
    this.locked.clear();
  }
}

export class FakeServiceBus implements ServiceBusPort {
  private readonly queues = new Map<string, FakeQueue>();
  /** Every `sendMessages` call: queue and message count (to see the batching). */
  readonly sendCalls: Array<{ queue: string; count: number }> = [];
  /** The next `sendMessages` calls fail with this error (a broken link). */
  failSends = 0;
  /** The fake's clock, for scheduled messages; tests move it. */
  nowMs = Date.now();

  constructor(private readonly options: { maxBatchBytes?: number } = {}) {}

  queue(name: string): FakeQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new FakeQueue(name, () => this.nowMs);
      this.queues.set(name, queue);
    }
    return queue;
  }

  createReceiver(queueName: string, options: { subQueueType?: "deadLetter" } = {}): FakeReceiver {
    return new FakeReceiver(this.queue(queueName), options.subQueueType === "deadLetter");
  }

  async close(): Promise<void> {}

  createSender(queueName: string): QueueSenderPort {
    const queue = this.queue(queueName);
    return {
      createMessageBatch: async () => new FakeBatch(this.options.maxBatchBytes ?? 256 * 1024),
      sendMessages: async (batch) => {
        if (this.failSends > 0) {
          this.failSends -= 1;
          throw new Error("ServiceCommunicationError: link detached");
        }
        this.sendCalls.push({ queue: queueName, count: batch.count });
        for (const message of (batch as FakeBatch).messages) queue.accept(message);
      },
      close: async () => {},
    };
  }
}
