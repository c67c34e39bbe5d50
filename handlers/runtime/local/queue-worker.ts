/**
 * A consumer of one durable queue with a concurrency cap: leases up to the free slots,
 * handles each message, and settles the results in batched transactions (a commit costs
 * ~150 µs here; settling one by one would spend the CPU on commit bookkeeping). Settling
 * shares the database's group commit with the stores' writes of the same turn.
 */
import type { Logger } from "../../core/ports";
import type { Database } from "./database";
import { groupCommitFor } from "./group-commit";
import type { LeasedMessage, SqliteQueues } from "./sqlite-queue";

/** What to do with a handled message. `apply` runs inside the settle transaction. */
export type Settlement =
  | { readonly kind: "ack"; readonly apply?: () => void }
  | { readonly kind: "retry"; readonly delayMs: number; readonly error: string; readonly onDeadLetter?: () => void; readonly apply?: () => void }
  | { readonly kind: "defer"; readonly untilMs: number }
  | { readonly kind: "dead-letter"; readonly error: string; readonly apply?: () => void };

export interface QueueWorkerOptions<T> {
  readonly queue: string;
  readonly queues: SqliteQueues;
  readonly db: Database;
  /** Most messages in flight at once. */
  readonly concurrency: number;
  /** Most messages leased per lease call. */
  readonly batchSize: number;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly pollMs: number;
  readonly handle: (message: LeasedMessage<T>) => Promise<Settlement>;
  /** After a settle transaction committed (e.g. to wake the workers it enqueued for). */
  readonly onSettled?: () => void;
  readonly logger: Logger;
}

export class QueueWorker<T = unknown> {
  private inFlight = 0;
  /** Highest in-flight count seen: the cap test and `herald status` read it. */
  peakInFlight = 0;
  private running = false;
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending: Array<{ message: LeasedMessage<T>; settlement: Settlement }> = [];
  private flushScheduled = false;
  private readonly idle = new Set<() => void>();

  /** Free slots that make a lease worth its write. */
  private readonly refillAt: number;

  constructor(private readonly options: QueueWorkerOptions<T>) {
    this.refillAt = Math.max(1, Math.floor(Math.min(options.batchSize, options.concurrency) / 2));
  }

  get active(): number {
    return this.inFlight;
  }

  start(): void {
    this.running = true;
    this.notify();
  }

  /** New work may be there (an enqueue in this process): lease now instead of at the next poll. */
  notify(): void {
    if (!this.running || this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.pump();
    });
  }

  /** Stops leasing, waits for in-flight messages, settles them. Unsettled leases expire and come back. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
    const settled = this.flush();
    groupCommitFor(this.options.db).flush();
    await settled;
  }

  private pump(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    const free = this.options.concurrency - this.inFlight;
    let leased: LeasedMessage<T>[] = [];
    if (free > 0) {
      try {
        leased = this.options.queues.lease<T>(this.options.queue, Math.min(free, this.options.batchSize), this.options.leaseMs);
      } catch (error) {
        this.options.logger.error({ queue: this.options.queue, error: (error as Error).message }, "lease failed; retrying after the poll interval");
      }
    }
    for (const message of leased) this.run(message);
    // A full batch suggests more is waiting; otherwise poll for delayed and expired ones.
    if (leased.length > 0 && this.inFlight < this.options.concurrency) this.notify();
    else this.timer = setTimeout(() => this.pump(), this.options.pollMs);
  }

  private run(message: LeasedMessage<T>): void {
    this.inFlight += 1;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    this.options
      .handle(message)
      .catch((error: unknown): Settlement => {
        // A handler only throws when a port failed before any side effect: retry it.
        this.options.logger.error({ queue: this.options.queue, messageId: message.id, error: (error as Error).message }, "handler failed");
        return { kind: "retry", delayMs: Math.min(60_000, 1_000 * 2 ** (message.attempt - 1)), error: `handler: ${(error as Error).message}` };
      })
      .then((settlement) => {
        this.pending.push({ message, settlement });
        this.scheduleFlush();
      })
      .finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) {
          for (const resolve of this.idle) resolve();
          this.idle.clear();
        }
        // Refill in batches: a lease is a write, and one per finished message would cost
        // more than the messages themselves on a busy queue.
        if (this.inFlight === 0 || this.options.concurrency - this.inFlight >= this.refillAt) this.notify();
      });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Applies every pending settlement in the next shared commit; resolves once it committed (or failed). */
  private flush(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    const batch = this.pending.splice(0, this.pending.length);
    const { queues, maxAttempts } = this.options;
    return groupCommitFor(this.options.db)
      .run(() => {
        for (const { message, settlement } of batch) {
          switch (settlement.kind) {
            case "ack":
              settlement.apply?.();
              queues.ack(message.id, message.token);
              break;
            case "retry": {
              settlement.apply?.();
              const result = queues.retry(message.id, message.token, settlement.delayMs, settlement.error, maxAttempts);
              if (result === "dead-lettered") settlement.onDeadLetter?.();
              break;
            }
            case "defer":
              queues.defer(message.id, message.token, settlement.untilMs);
              break;
            case "dead-letter":
              settlement.apply?.();
              queues.deadLetter(message.id, message.token, settlement.error);
              break;
          }
        }
      })
      .then(
        () => this.options.onSettled?.(),
        (error: unknown) => {
          // Nothing was settled: the leases expire and the messages come back, at worst
          // as a duplicate that the idempotency store stops.
          this.options.logger.error({ queue: this.options.queue, count: batch.length, error: (error as Error).message }, "settling failed; messages will be redelivered");
        },
      );
  }
}
