/**
 * The local runtime's implementations of core's store ports, plus the ingest log and the
 * outcome journal, all in the one database file. Each write that reads first runs as one
 * immediate transaction, so a second process on the same file (the CLI) cannot interleave.
 */
import { randomUUID } from "node:crypto";
import type { ClaimResult, DeliveryRecord, IdempotencyStore } from "../../core/delivery";
import type { Outcome, OutcomeStatus } from "../../core/evaluate";
import { suppressionKey } from "../../core/in-memory-directory";
import type { FrequencyCap, FrequencyLimiter } from "../../core/policies";
import type { Recipient, RecipientDirectory, Suppression } from "../../core/recipients";
import { guard, type Database } from "./database";
import { groupCommitFor, type GroupCommit } from "./group-commit";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * `IdempotencyStore` on a row per key. A claim inserts the row, or takes over a claim
 * whose lease has run out, in one upsert; a completed row keeps its record until `prune`
 * removes it `ttlMs` after completion.
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly ttlMs: number;
  private readonly claimTx: (key: string, leaseMs: number, nowMs: number) => ClaimResult;
  private readonly completeStatement;
  private readonly releaseStatement;
  private readonly pruneStatement;
  private readonly releaseAllStatement;
  private readonly commits: GroupCommit;

  constructor(db: Database, options: { ttlMs?: number } = {}) {
    this.ttlMs = options.ttlMs ?? 7 * DAY_MS;
    // Claims and completions ride the shared commit: several per delivery otherwise.
    this.commits = groupCommitFor(db);
    const take = db.prepare<[string, string, number, number]>(
      `INSERT INTO idempotency_keys (key, state, token, expires_at) VALUES (?, 'claimed', ?, ?)
       ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
       WHERE idempotency_keys.state = 'claimed' AND idempotency_keys.expires_at <= ?`,
    );
    const read = db.prepare<[string], { state: "claimed" | "completed"; expires_at: number; record: string | null }>(
      "SELECT state, expires_at, record FROM idempotency_keys WHERE key = ?",
    );
    this.claimTx = db.transaction((key: string, leaseMs: number, nowMs: number): ClaimResult => {
      const token = randomUUID();
      if (take.run(key, token, nowMs + leaseMs, nowMs).changes === 1) return { state: "claimed", token };
      const row = read.get(key)!;
      return row.state === "completed"
        ? { state: "completed", record: JSON.parse(row.record!) as DeliveryRecord }
        : { state: "in-flight", expiresAtMs: row.expires_at };
    });
    this.completeStatement = db.prepare<[string, number, string, string]>(
      `UPDATE idempotency_keys SET state = 'completed', token = NULL, record = ?, expires_at = ?
        WHERE key = ? AND state = 'claimed' AND token = ?`,
    );
    this.releaseStatement = db.prepare<[string, string]>("DELETE FROM idempotency_keys WHERE key = ? AND state = 'claimed' AND token = ?");
    this.pruneStatement = db.prepare<[number]>("DELETE FROM idempotency_keys WHERE expires_at <= ?");
    this.releaseAllStatement = db.prepare<[]>("DELETE FROM idempotency_keys WHERE state = 'claimed'");
  }

  claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult> {
    return this.commits.run(() => this.claimTx(key, leaseMs, nowMs));
  }

  async complete(key: string, token: string, record: DeliveryRecord, nowMs: number): Promise<void> {
    const body = JSON.stringify(record);
    // A token that no longer matches (the claim lapsed and was taken over) changes nothing.
    await this.commits.run(() => this.completeStatement.run(body, nowMs + this.ttlMs, key, token));
  }

  async release(key: string, token: string): Promise<void> {
    await this.commits.run(() => this.releaseStatement.run(key, token));
  }

  /**
   * Gives back every claim (not completed keys). Only for a runtime that owns the store
   * alone and has just started: a claim it finds belonged to a process that died, and
   * waiting out its lease (2 x the channel's timeout, a minute for e-mail) only stalled
   * those messages after every crash (found by test/chaos/sigkill.test.ts). A message
   * whose send the crash caught is sent again, as it would be once the claim lapsed.
   */
  releaseAllClaims(): number {
    return guard(() => this.releaseAllStatement.run().changes);
  }

  /**
   * Deletes completed keys past their TTL and claims long lapsed; returns how many. A key
   * pruned is forgotten: a message redelivered after that would be sent again, so the
   * TTL must outlast every retry and redrive window.
   */
  prune(nowMs: number): number {
    return guard(() => this.pruneStatement.run(nowMs).changes);
  }
}

/**
 * `RecipientDirectory` with recipients as JSON rows. A side table indexes who holds which
 * Web Push endpoint, so a gone subscription is removed without scanning every recipient.
 */
export class SqliteDirectory implements RecipientDirectory {
  private readonly getStatement;
  private readonly deleteStatement;
  private readonly listStatement;
  private readonly listAfterStatement;
  private readonly suppressStatement;
  private readonly suppressionStatement;
  private readonly putTx: (recipient: Recipient) => void;
  private readonly removePushTx: (endpoint: string) => void;

  constructor(db: Database) {
    this.getStatement = db.prepare<[string], { body: string }>("SELECT body FROM recipients WHERE id = ?");
    this.deleteStatement = db.prepare<[string]>("DELETE FROM recipients WHERE id = ?");
    // LIMIT -1 is "no limit". ids compare as UTF-8 bytes here and as UTF-16 units in
    // memory: the same order for every id without characters above U+FFFF mixed with U+E000–U+FFFF.
    this.listStatement = db.prepare<[number], { body: string }>("SELECT body FROM recipients ORDER BY id LIMIT ?");
    this.listAfterStatement = db.prepare<[string, number], { body: string }>("SELECT body FROM recipients WHERE id > ? ORDER BY id LIMIT ?");
    this.suppressStatement = db.prepare<[string, string, string, string, string]>(
      `INSERT INTO suppressions (channel, address_key, address, reason, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (channel, address_key) DO UPDATE SET address = excluded.address, reason = excluded.reason, at = excluded.at`,
    );
    this.suppressionStatement = db.prepare<[string, string], Suppression>(
      "SELECT channel, address, reason, at FROM suppressions WHERE channel = ? AND address_key = ?",
    );

    const upsert = db.prepare<[string, string]>("INSERT INTO recipients (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body");
    const clearEndpoints = db.prepare<[string]>("DELETE FROM recipient_push_endpoints WHERE recipient_id = ?");
    const addEndpoint = db.prepare<[string, string]>("INSERT OR IGNORE INTO recipient_push_endpoints (endpoint, recipient_id) VALUES (?, ?)");
    this.putTx = db.transaction((recipient: Recipient) => {
      upsert.run(recipient.id, JSON.stringify(recipient));
      clearEndpoints.run(recipient.id);
      for (const subscription of recipient.contacts.push ?? []) addEndpoint.run(subscription.endpoint, recipient.id);
    });

    const holders = db.prepare<[string], { id: string; body: string }>(
      "SELECT r.id, r.body FROM recipient_push_endpoints e JOIN recipients r ON r.id = e.recipient_id WHERE e.endpoint = ?",
    );
    const setBody = db.prepare<[string, string]>("UPDATE recipients SET body = ? WHERE id = ?");
    const dropEndpoint = db.prepare<[string]>("DELETE FROM recipient_push_endpoints WHERE endpoint = ?");
    this.removePushTx = db.transaction((endpoint: string) => {
      for (const row of holders.all(endpoint)) {
        const recipient = JSON.parse(row.body) as Recipient;
        const push = (recipient.contacts.push ?? []).filter((subscription) => subscription.endpoint !== endpoint);
        setBody.run(JSON.stringify({ ...recipient, contacts: { ...recipient.contacts, push } }), row.id);
      }
      dropEndpoint.run(endpoint);
    });
  }

  async get(id: string): Promise<Recipient | undefined> {
    const row = guard(() => this.getStatement.get(id));
    return row ? (JSON.parse(row.body) as Recipient) : undefined;
  }

  async put(recipient: Recipient): Promise<void> {
    this.putTx(recipient);
  }

  async delete(id: string): Promise<boolean> {
    // The endpoint index rows go with it (ON DELETE CASCADE).
    return guard(() => this.deleteStatement.run(id).changes === 1);
  }

  async list(options: { limit?: number; after?: string } = {}): Promise<Recipient[]> {
    const limit = options.limit ?? -1;
    const after = options.after;
    const rows = guard(() => (after === undefined ? this.listStatement.all(limit) : this.listAfterStatement.all(after, limit)));
    return rows.map((row) => JSON.parse(row.body) as Recipient);
  }

  async suppress(suppression: Suppression): Promise<void> {
    const { channel, address, reason, at } = suppression;
    guard(() => this.suppressStatement.run(channel, addressKey(channel, address), address, reason, at));
  }

  async suppression(channel: string, address: string): Promise<Suppression | undefined> {
    const row = guard(() => this.suppressionStatement.get(channel, addressKey(channel, address)));
    return row ? { channel: row.channel, address: row.address, reason: row.reason, at: row.at } : undefined;
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    this.removePushTx(endpoint);
  }
}

/** The address part of core's `suppressionKey`, so both stores normalise identically. */
function addressKey(channel: string, address: string): string {
  return suppressionKey(channel, address).slice(channel.length + 1);
}

/**
 * `FrequencyLimiter` with a row per counted message: the sliding window of the in-memory
 * limiter, kept across restarts. Counting the same key again is free.
 */
export class SqliteFrequencyLimiter implements FrequencyLimiter {
  private readonly acquireTx: (scope: string, key: string, cap: FrequencyCap, nowMs: number) => boolean;
  private readonly pruneStatement;

  constructor(db: Database) {
    const expire = db.prepare<[string, number]>("DELETE FROM frequency_window WHERE scope = ? AND at <= ?");
    const counted = db.prepare<[string, string], { n: number }>("SELECT 1 AS n FROM frequency_window WHERE scope = ? AND key = ?");
    const size = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM frequency_window WHERE scope = ?");
    const count = db.prepare<[string, string, number]>("INSERT INTO frequency_window (scope, key, at) VALUES (?, ?, ?)");
    this.acquireTx = db.transaction((scope: string, key: string, cap: FrequencyCap, nowMs: number) => {
      expire.run(scope, nowMs - cap.windowSeconds * 1000);
      if (counted.get(scope, key)) return true;
      if (size.get(scope)!.n >= cap.limit) return false;
      count.run(scope, key, nowMs);
      return true;
    });
    this.pruneStatement = db.prepare<[number]>("DELETE FROM frequency_window WHERE at <= ?");
  }

  async acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean> {
    return this.acquireTx(scope, key, cap, nowMs);
  }

  /**
   * Drops entries counted at or before `beforeMs` in every scope (pass now minus the
   * longest cap window); scopes never asked again would otherwise keep theirs forever.
   */
  prune(beforeMs: number): number {
    return guard(() => this.pruneStatement.run(beforeMs).changes);
  }
}

export const INGEST_COUNTERS = ["accepted", "rejected", "duplicate"] as const;
export type IngestCounter = (typeof INGEST_COUNTERS)[number];

/** Ingest's memory of (source, id) pairs, for dropping repeats, and its counters. */
export class SqliteEventLog {
  private readonly recordStatement;
  private readonly bumpStatement;
  private readonly countersStatement;
  private readonly pruneStatement;

  constructor(db: Database) {
    this.recordStatement = db.prepare<[string, string, number]>("INSERT OR IGNORE INTO ingested_events (source, id, received_at) VALUES (?, ?, ?)");
    this.bumpStatement = db.prepare<[string, number]>(
      "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
    );
    this.countersStatement = db.prepare<[], { name: string; value: number }>("SELECT name, value FROM counters");
    this.pruneStatement = db.prepare<[number]>("DELETE FROM ingested_events WHERE received_at < ?");
  }

  /** Remembers the event; true when it is new, false for a repeat. */
  record(source: string, id: string, receivedAtMs: number): boolean {
    return guard(() => this.recordStatement.run(source, id, receivedAtMs).changes === 1);
  }

  bump(counter: IngestCounter, by = 1): void {
    guard(() => this.bumpStatement.run(counter, by));
  }

  counters(): Record<IngestCounter, number> {
    const result: Record<IngestCounter, number> = { accepted: 0, rejected: 0, duplicate: 0 };
    for (const row of guard(() => this.countersStatement.all())) {
      if ((INGEST_COUNTERS as readonly string[]).includes(row.name)) result[row.name as IngestCounter] = row.value;
    }
    return result;
  }

  /** Forgets events received before `beforeMs`: a repeat older than that is accepted again. */
  prune(beforeMs: number): number {
    return guard(() => this.pruneStatement.run(beforeMs).changes);
  }
}

/** One journal row: an outcome of one event. */
export interface OutcomeRecord extends Outcome {
  readonly eventSource: string;
  readonly eventId: string;
  /** Epoch ms. */
  readonly at: number;
}

type OutcomeRow = {
  event_source: string;
  event_id: string;
  rule: string;
  recipient_id: string | null;
  channel: string | null;
  idempotency_key: string | null;
  status: OutcomeStatus;
  reason: string;
  detail: string | null;
  at: number;
};

/** The outcome journal behind `herald status` and following one event through. */
export class SqliteOutcomes {
  private readonly appendTx: (records: readonly OutcomeRecord[]) => void;
  private readonly countsStatement;
  private readonly forEventStatement;

  constructor(db: Database) {
    const insert = db.prepare<[string, string, string, string | null, string | null, string | null, string, string, string | null, number]>(
      `INSERT OR IGNORE INTO outcomes (event_source, event_id, rule, recipient_id, channel, idempotency_key, status, reason, detail, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.appendTx = db.transaction((records: readonly OutcomeRecord[]) => {
      for (const r of records) {
        insert.run(r.eventSource, r.eventId, r.rule, r.recipientId ?? null, r.channel ?? null, r.idempotencyKey ?? null, r.status, r.reason, r.detail ?? null, r.at);
      }
    });
    this.countsStatement = db.prepare<[{ channel: string | null }], { status: OutcomeStatus; n: number }>(
      "SELECT status, count(*) AS n FROM outcomes WHERE @channel IS NULL OR channel = @channel GROUP BY status",
    );
    this.forEventStatement = db.prepare<[string, string], OutcomeRow>(
      `SELECT event_source, event_id, rule, recipient_id, channel, idempotency_key, status, reason, detail, at
         FROM outcomes WHERE event_source = ? AND event_id = ? ORDER BY id`,
    );
  }

  /** Appends outcomes in one transaction. */
  append(records: readonly OutcomeRecord[]): void {
    if (records.length > 0) this.appendTx(records);
  }

  /** How many outcomes of each status (on `channel`, when given); statuses never seen are absent. */
  countsByStatus(channel?: string): Partial<Record<OutcomeStatus, number>> {
    const counts: Partial<Record<OutcomeStatus, number>> = {};
    for (const row of guard(() => this.countsStatement.all({ channel: channel ?? null }))) counts[row.status] = row.n;
    return counts;
  }

  /** Everything that happened to one event, in the order it happened. */
  forEvent(source: string, id: string): OutcomeRecord[] {
    return guard(() => this.forEventStatement.all(source, id)).map((row) => ({
      eventSource: row.event_source,
      eventId: row.event_id,
      rule: row.rule,
      status: row.status,
      reason: row.reason,
      at: row.at,
      ...(row.recipient_id !== null ? { recipientId: row.recipient_id } : {}),
      ...(row.channel !== null ? { channel: row.channel } : {}),
      ...(row.idempotency_key !== null ? { idempotencyKey: row.idempotency_key } : {}),
      ...(row.detail !== null ? { detail: row.detail } : {}),
    }));
  }
}
