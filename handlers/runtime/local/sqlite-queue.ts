/**
 * Durable queues in the local database, with the semantics of SQS: a consumer leases
 * messages for a while (the visibility timeout), then acknowledges, retries, defers or
 * dead-letters each one with the lease's token. A lease that runs out means its holder
 * died or hung: the message becomes available again and the next lease counts another
 * attempt. A token that no longer matches (the lease ran out and someone else took the
 * message) changes nothing, so a slow worker can never delete a message it lost.
 */
import { guard, type Database, type Statement } from "./database";

/** A message handed to a consumer. */
export interface LeasedMessage<T = unknown> {
  readonly id: number;
  readonly queue: string;
  readonly body: T;
  /** Proves the lease: pass it to `ack`, `retry`, `defer`, `deadLetter`, `extendLease`. */
  readonly token: string;
  /** 1 on the first delivery; a `defer` does not count. */
  readonly attempt: number;
  readonly enqueuedAtMs: number;
  readonly leaseExpiresAtMs: number;
  /** The error the previous attempt recorded, if any. */
  readonly lastError?: string;
}

export interface QueueStats {
  /** Available now (including messages whose lease ran out). */
  readonly pending: number;
  /** Waiting for their backoff delay or deferral to pass. */
  readonly delayed: number;
  /** Leased, lease not yet expired. */
  readonly inFlight: number;
  readonly deadLettered: number;
  /** How long the longest-waiting available message has been available; 0 when none. */
  readonly oldestPendingAgeMs: number;
}

export interface DeadLetter<T = unknown> {
  readonly id: number;
  readonly queue: string;
  readonly body: T;
  readonly attempts: number;
  readonly lastError?: string;
  readonly firstEnqueuedAtMs: number;
  readonly deadLetteredAtMs: number;
  /** The message's id while it was on its queue. */
  readonly originalId: number;
}

export type RetryResult =
  | "retrying"
  | "dead-lettered"
  /** The token no longer matches: the lease ran out and another consumer has the message. */
  | "lost";

export interface SqliteQueuesOptions {
  readonly now?: () => number;
}

type MessageRow = {
  id: number;
  queue: string;
  body: string;
  attempts: number;
  enqueued_at: number;
  lease_token: string;
  lease_expires_at: number;
  last_error: string | null;
};

type DeadLetterRow = {
  id: number;
  queue: string;
  body: string;
  attempts: number;
  last_error: string | null;
  first_enqueued_at: number;
  dead_lettered_at: number;
  original_id: number;
};

type Selection = { queue: string | null; ids: string | null };

const DEAD_LETTER_COLUMNS = "id, queue, body, attempts, last_error, first_enqueued_at, dead_lettered_at, original_id";
const SELECTION = "(@queue IS NULL OR queue = @queue) AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))";

/** Every queue of the local runtime, in one table of the database. */
export class SqliteQueues {
  private readonly now: () => number;
  private readonly statements: {
    enqueue: Statement<[string, string, number, number]>;
    lease: Statement<[number, number, string, number, number], MessageRow>;
    ack: Statement<[number, string]>;
    releaseAll: Statement<[number]>;
    reschedule: Statement<[number, string, number, string, number]>;
    toDeadLetters: Statement<[string, number, number, string]>;
    remove: Statement<[number]>;
    defer: Statement<[number, number, string]>;
    extend: Statement<[number, number, number, string]>;
    stats: Statement<[{ now: number; queue: string | null }], { queue: string; pending: number; delayed: number; in_flight: number; oldest: number | null }>;
    deadLetterCounts: Statement<[{ queue: string | null }], { queue: string; n: number }>;
    listDeadLetters: Statement<[{ queue: string | null; after: number; limit: number }], DeadLetterRow>;
    getDeadLetter: Statement<[number], DeadLetterRow>;
    redriveInsert: Statement<[Selection & { now: number }]>;
    deleteDeadLetters: Statement<[Selection]>;
  };
  private readonly enqueueAll: (rows: ReadonlyArray<readonly [string, string, number]>) => number[];
  private readonly ackAll: (items: ReadonlyArray<{ readonly id: number; readonly token: string }>) => number;
  private readonly retryTx: (id: number, token: string, delayMs: number, error: string, maxAttempts: number) => RetryResult;
  private readonly deadLetterTx: (id: number, token: string, error: string) => boolean;
  private readonly redriveTx: (selection: Selection) => number;

  constructor(db: Database, options: SqliteQueuesOptions = {}) {
    this.now = options.now ?? Date.now;
    this.statements = {
      enqueue: db.prepare("INSERT INTO queue_messages (queue, body, attempts, available_at, enqueued_at) VALUES (?, ?, 0, ?, ?)"),
      // One statement, so atomic on its own: pick the oldest available, stamp each with
      // its own random token. available_at moves to the lease's expiry, which is what
      // makes the message invisible while leased and visible again if the holder dies.
      lease: db.prepare(
        `UPDATE queue_messages
            SET attempts = attempts + 1, lease_token = lower(hex(randomblob(16))), lease_expires_at = ?, available_at = ?
          WHERE id IN (SELECT id FROM queue_messages WHERE queue = ? AND available_at <= ? ORDER BY available_at, id LIMIT ?)
          RETURNING id, queue, body, attempts, enqueued_at, lease_token, lease_expires_at, last_error`,
      ),
      ack: db.prepare("DELETE FROM queue_messages WHERE id = ? AND lease_token = ?"),
      releaseAll: db.prepare("UPDATE queue_messages SET lease_token = NULL, lease_expires_at = NULL, available_at = ? WHERE lease_token IS NOT NULL"),
      reschedule: db.prepare(
        `UPDATE queue_messages SET lease_token = NULL, lease_expires_at = NULL, available_at = ?, last_error = ?
          WHERE id = ? AND lease_token = ? AND attempts < ?`,
      ),
      toDeadLetters: db.prepare(
        `INSERT INTO dead_letters (queue, body, attempts, last_error, first_enqueued_at, dead_lettered_at, original_id)
         SELECT queue, body, attempts, ?, enqueued_at, ?, id FROM queue_messages WHERE id = ? AND lease_token = ?`,
      ),
      remove: db.prepare("DELETE FROM queue_messages WHERE id = ?"),
      defer: db.prepare(
        `UPDATE queue_messages SET attempts = max(attempts - 1, 0), lease_token = NULL, lease_expires_at = NULL, available_at = ?
          WHERE id = ? AND lease_token = ?`,
      ),
      extend: db.prepare("UPDATE queue_messages SET lease_expires_at = ?, available_at = ? WHERE id = ? AND lease_token = ?"),
      stats: db.prepare(
        `SELECT queue,
                coalesce(sum(available_at <= @now), 0) AS pending,
                coalesce(sum(available_at > @now AND (lease_expires_at IS NULL OR lease_expires_at <= @now)), 0) AS delayed,
                coalesce(sum(lease_token IS NOT NULL AND lease_expires_at > @now), 0) AS in_flight,
                min(CASE WHEN available_at <= @now THEN available_at END) AS oldest
           FROM queue_messages WHERE @queue IS NULL OR queue = @queue GROUP BY queue`,
      ),
      deadLetterCounts: db.prepare("SELECT queue, count(*) AS n FROM dead_letters WHERE @queue IS NULL OR queue = @queue GROUP BY queue"),
      listDeadLetters: db.prepare(
        `SELECT ${DEAD_LETTER_COLUMNS} FROM dead_letters
          WHERE (@queue IS NULL OR queue = @queue) AND id > @after ORDER BY id LIMIT @limit`,
      ),
      getDeadLetter: db.prepare(`SELECT ${DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?`),
      redriveInsert: db.prepare(
        `INSERT INTO queue_messages (queue, body, attempts, available_at, enqueued_at, last_error)
         SELECT queue, body, 0, @now, first_enqueued_at, last_error FROM dead_letters WHERE ${SELECTION} ORDER BY id`,
      ),
      deleteDeadLetters: db.prepare(`DELETE FROM dead_letters WHERE ${SELECTION}`),
    };
    const s = this.statements;

    this.enqueueAll = db.transaction((rows: ReadonlyArray<readonly [string, string, number]>) => {
      const now = this.now();
      return rows.map(([queue, body, delayMs]) => Number(s.enqueue.run(queue, body, now + delayMs, now).lastInsertRowid));
    });
    this.ackAll = db.transaction((items: ReadonlyArray<{ readonly id: number; readonly token: string }>) => {
      let acked = 0;
      for (const { id, token } of items) acked += s.ack.run(id, token).changes;
      return acked;
    });
    this.retryTx = db.transaction((id: number, token: string, delayMs: number, error: string, maxAttempts: number): RetryResult => {
      const now = this.now();
      if (s.reschedule.run(now + Math.max(0, delayMs), error, id, token, maxAttempts).changes === 1) return "retrying";
      return this.moveToDeadLetters(id, token, error, now) ? "dead-lettered" : "lost";
    });
    this.deadLetterTx = db.transaction((id: number, token: string, error: string) => this.moveToDeadLetters(id, token, error, this.now()));
    this.redriveTx = db.transaction((selection: Selection) => {
      const moved = s.redriveInsert.run({ ...selection, now: this.now() }).changes;
      s.deleteDeadLetters.run(selection);
      return moved;
    });
  }

  /** Adds one message, available after `delayMs`; returns its id. */
  enqueue(queue: string, body: unknown, options: { delayMs?: number } = {}): number {
    const json = serialize(body);
    const now = this.now();
    return guard(() => Number(this.statements.enqueue.run(queue, json, now + Math.max(0, options.delayMs ?? 0), now).lastInsertRowid));
  }

  /**
   * Adds every message or none (one transaction): rules output for one event lands whole.
   * Bodies are serialised before anything is written, so an unserialisable one throws
   * with nothing enqueued.
   */
  enqueueMany(items: ReadonlyArray<{ readonly queue: string; readonly body: unknown; readonly delayMs?: number }>): number[] {
    const rows = items.map((item) => [item.queue, serialize(item.body), Math.max(0, item.delayMs ?? 0)] as const);
    return rows.length === 0 ? [] : this.enqueueAll(rows);
  }

  /**
   * Makes every leased message available now. Only for a process that owns the store
   * alone and has just started: any lease it finds belonged to a process that died, and
   * waiting out a lease sized for a slow provider would only delay recovery.
   */
  releaseAllLeases(): number {
    return this.statements.releaseAll.run(this.now()).changes;
  }

  /**
   * Takes up to `max` available messages of `queue`, oldest available first, each for
   * `leaseMs`, counting an attempt on each. Returned in id order.
   */
  lease<T = unknown>(queue: string, max: number, leaseMs: number): LeasedMessage<T>[] {
    if (max <= 0) return [];
    const now = this.now();
    const rows = guard(() => this.statements.lease.all(now + leaseMs, now + leaseMs, queue, now, Math.floor(max)));
    // RETURNING order is unspecified; give callers a stable one.
    rows.sort((a, b) => a.id - b.id);
    return rows.map((row) => ({
      id: row.id,
      queue: row.queue,
      body: JSON.parse(row.body) as T,
      token: row.lease_token,
      attempt: row.attempts,
      enqueuedAtMs: row.enqueued_at,
      leaseExpiresAtMs: row.lease_expires_at,
      ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    }));
  }

  /** Deletes a delivered message; false when the lease was lost (someone else has it). */
  ack(id: number, token: string): boolean {
    return guard(() => this.statements.ack.run(id, token).changes === 1);
  }

  /** Acknowledges a batch in one transaction; returns how many were still ours. */
  ackMany(items: ReadonlyArray<{ readonly id: number; readonly token: string }>): number {
    return items.length === 0 ? 0 : this.ackAll(items);
  }

  /**
   * A failed attempt: the message comes back after `delayMs` with `error` recorded, or,
   * when it has had `maxAttempts` attempts, goes to the dead letters with that error.
   */
  retry(id: number, token: string, delayMs: number, error: string, maxAttempts: number): RetryResult {
    return this.retryTx(id, token, delayMs, error, maxAttempts);
  }

  /**
   * Postpones a message to `untilMs` without counting the attempt: quiet hours, or the
   * idempotency key busy with another worker. Returns false when the lease was lost.
   */
  defer(id: number, token: string, untilMs: number): boolean {
    return guard(() => this.statements.defer.run(untilMs, id, token).changes === 1);
  }

  /** Dead-letters at once (a permanent failure of the message itself). */
  deadLetter(id: number, token: string, error: string): boolean {
    return this.deadLetterTx(id, token, error);
  }

  /** Keeps the message for another `leaseMs` from now (a long send); false when lost. */
  extendLease(id: number, token: string, leaseMs: number): boolean {
    const until = this.now() + leaseMs;
    return guard(() => this.statements.extend.run(until, until, id, token).changes === 1);
  }

  /** Depth of each queue (every queue with messages or dead letters, plus `queue` if given). */
  stats(queue?: string): Record<string, QueueStats> {
    const now = this.now();
    return guard(() => {
      const result: Record<string, { pending: number; delayed: number; inFlight: number; deadLettered: number; oldestPendingAgeMs: number }> = {};
      const entry = (name: string) => (result[name] ??= { pending: 0, delayed: 0, inFlight: 0, deadLettered: 0, oldestPendingAgeMs: 0 });
      if (queue !== undefined) entry(queue);
      for (const row of this.statements.stats.all({ now, queue: queue ?? null })) {
        Object.assign(entry(row.queue), {
          pending: row.pending,
          delayed: row.delayed,
          inFlight: row.in_flight,
          oldestPendingAgeMs: row.oldest === null ? 0 : Math.max(0, now - row.oldest),
        });
      }
      for (const row of this.statements.deadLetterCounts.all({ queue: queue ?? null })) entry(row.queue).deadLettered = row.n;
      return result;
    });
  }

  /** Dead letters in id order, `limit` (default 100) after id `after`. */
  listDeadLetters<T = unknown>(queue?: string, options: { limit?: number; after?: number } = {}): DeadLetter<T>[] {
    return guard(() =>
      this.statements.listDeadLetters.all({ queue: queue ?? null, after: options.after ?? 0, limit: options.limit ?? 100 }).map((row) => deadLetter<T>(row)),
    );
  }

  getDeadLetter<T = unknown>(id: number): DeadLetter<T> | undefined {
    const row = guard(() => this.statements.getDeadLetter.get(id));
    return row ? deadLetter<T>(row) : undefined;
  }

  /**
   * Puts dead letters (of `queue`, or only `ids`) back on their queue, available now, with
   * attempts reset to 0; in one transaction. Returns how many moved.
   */
  redrive(queue?: string, ids?: readonly number[]): number {
    return this.redriveTx(selection(queue, ids));
  }

  /** Deletes dead letters (of `queue`, or only `ids`) for good. */
  purgeDeadLetters(queue?: string, ids?: readonly number[]): number {
    return guard(() => this.statements.deleteDeadLetters.run(selection(queue, ids)).changes);
  }

  private moveToDeadLetters(id: number, token: string, error: string, now: number): boolean {
    if (this.statements.toDeadLetters.run(error, now, id, token).changes === 0) return false;
    this.statements.remove.run(id);
    return true;
  }
}

function selection(queue: string | undefined, ids: readonly number[] | undefined): Selection {
  return { queue: queue ?? null, ids: ids === undefined ? null : JSON.stringify(ids) };
}

function serialize(body: unknown): string {
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError("a queue message body must be JSON-serialisable (got undefined)");
  return json;
}

function deadLetter<T>(row: DeadLetterRow): DeadLetter<T> {
  return {
    id: row.id,
    queue: row.queue,
    body: JSON.parse(row.body) as T,
    attempts: row.attempts,
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    firstEnqueuedAtMs: row.first_enqueued_at,
    deadLetteredAtMs: row.dead_lettered_at,
    originalId: row.original_id,
  };
}
