/**
 * The delivery stage's idempotency keys and the frequency-cap windows, in one Table
 * Storage table. Same semantics as the SQLite, DynamoDB and Firestore stores: every write
 * that decides something is an insert (409 when the row is there) or an update
 * conditioned on the ETag read (412 when someone changed the row meanwhile), so two
 * function instances can never both win.
 *
 * Table Storage has no TTL: every row carries `expireAt` (epoch ms) so a sweeper (the
 * stack's concern) can delete what is no longer needed. The stores never rely on that:
 * a lapsed claim is judged by its own `expiresAtMs`, a window by its entries' times.
 */
import { randomUUID } from "node:crypto";
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import type { ClaimResult, DeliveryRecord, IdempotencyStore } from "../../core/delivery";
import type { FrequencyCap, FrequencyLimiter } from "../../core/policies";
import { hashedKey, msValue, statusOf } from "./table-keys";

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
/** Every row of these stores is alone in its partition; the RowKey is fixed. */
const ROW = "";
/** Rounds of read-then-conditional-write before giving up on a key that keeps changing. */
const MAX_ROUNDS = 25;

interface IdempotencyRow {
  readonly state: "claimed" | "completed";
  readonly key: string;
  /** Claims only: whose claim it is, and until when (epoch ms). */
  readonly token?: string;
  readonly expiresAtMs?: number;
  /** Completed only: the `DeliveryRecord` as JSON (optional fields stay exactly as they were). */
  readonly record?: string;
  readonly expireAt: number;
}

/**
 * `IdempotencyStore` with a row per key (partition `idempotency:<key>`). A new key is
 * claimed by `createEntity`; a key whose row exists is read and, when its claim lapsed,
 * taken over by an update conditioned on the ETag read, so of two takers only one wins.
 * `complete` and `release` likewise write only while the row read holds their token.
 * A completed row is kept `ttlMs` (7 days, longer than Service Bus keeps a message with
 * the default TTL) before a sweeper may remove it.
 */
export class TableIdempotencyStore implements IdempotencyStore {
  private readonly ttlMs: number;

  constructor(
    private readonly table: TableClient,
    options: { ttlMs?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 7 * DAY_MS;
  }

  async claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult> {
    const partitionKey = hashedKey("idempotency", key);
    const token = randomUUID();
    const expiresAtMs = nowMs + leaseMs;
    // A lapsed claim is as good as no row, so a sweeper may drop it an hour after it lapses.
    const claim = { partitionKey, rowKey: ROW, state: "claimed", key, token, expiresAtMs: msValue(expiresAtMs), expireAt: msValue(expiresAtMs + HOUR_MS) };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      try {
        // The common case, a key never seen: one write, no read.
        await this.table.createEntity(claim);
        return { state: "claimed", token };
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
      }
      const current = await this.read(partitionKey);
      // Released between our insert and our read: insert again.
      if (!current) continue;
      if (current.state === "completed") return { state: "completed", record: JSON.parse(current.record ?? "{}") as DeliveryRecord };
      if ((current.expiresAtMs ?? 0) > nowMs) return { state: "in-flight", expiresAtMs: current.expiresAtMs ?? 0 };
      try {
        await this.table.updateEntity(claim, "Replace", { etag: current.etag });
        return { state: "claimed", token };
      } catch (error) {
        // Someone else took it over, completed or released it first: look again.
        if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
      }
    }
    throw new Error(`idempotency key ${key} kept changing for ${MAX_ROUNDS} rounds`);
  }

  async complete(key: string, token: string, record: DeliveryRecord, nowMs: number): Promise<void> {
    const partitionKey = hashedKey("idempotency", key);
    const completed = { partitionKey, rowKey: ROW, state: "completed", key, record: JSON.stringify(record), expireAt: msValue(nowMs + this.ttlMs) };
    await this.ifHeld(partitionKey, token, (etag) => this.table.updateEntity(completed, "Replace", { etag }));
  }

  async release(key: string, token: string): Promise<void> {
    const partitionKey = hashedKey("idempotency", key);
    await this.ifHeld(partitionKey, token, (etag) => this.table.deleteEntity(partitionKey, ROW, { etag }));
  }

  /**
   * Runs `write` only while `token` still holds the key, conditioned on the ETag of the
   * row that showed it. A token that no longer matches (the claim lapsed and was taken
   * over, or the key completed) changes nothing; neither does losing the race to such a change.
   */
  private async ifHeld(partitionKey: string, token: string, write: (etag: string) => Promise<unknown>): Promise<void> {
    const current = await this.read(partitionKey);
    if (current?.state !== "claimed" || current.token !== token) return;
    try {
      await write(current.etag);
    } catch (error) {
      if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
    }
  }

  private async read(partitionKey: string): Promise<TableEntityResult<IdempotencyRow> | undefined> {
    try {
      return await this.table.getEntity<IdempotencyRow>(partitionKey, ROW);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

/**
 * `FrequencyLimiter` with one row per scope (partition `frequency:<scope>`) holding that
 * scope's sliding window: the keys counted and when. An acquire reads the window, decides
 * as the in-memory limiter does, and writes it back with an insert (no row yet) or an
 * update conditioned on the ETag read; losing either race means another acquire changed
 * the window, so it reads again. Caps are small (a few messages a day), so the window
 * stays far below a string property's 64 KiB.
 */
export class TableFrequencyLimiter implements FrequencyLimiter {
  constructor(private readonly table: TableClient) {}

  async acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean> {
    const partitionKey = hashedKey("frequency", scope);
    const windowMs = cap.windowSeconds * 1000;
    // Simultaneous acquires on one scope (one recipient's burst) each lose a round to one another.
    for (let round = 0; round < MAX_ROUNDS * 2; round++) {
      let current: TableEntityResult<{ entries?: string }> | undefined;
      try {
        current = await this.table.getEntity<{ entries?: string }>(partitionKey, ROW);
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      const horizon = nowMs - windowMs;
      const live = (JSON.parse(current?.entries ?? "[]") as Array<[string, number]>).filter(([, at]) => at > horizon);
      // Counting the same message again (a redelivered event) is free, even at the cap.
      if (live.some(([counted]) => counted === key)) return true;
      if (live.length >= cap.limit) return false;
      live.push([key, nowMs]);
      const newest = Math.max(...live.map(([, at]) => at));
      const row = { partitionKey, rowKey: ROW, scope, entries: JSON.stringify(live), expireAt: msValue(newest + windowMs) };
      try {
        if (current) await this.table.updateEntity(row, "Replace", { etag: current.etag });
        else await this.table.createEntity(row);
        return true;
      } catch (error) {
        const status = statusOf(error);
        if (status !== 412 && status !== 409 && status !== 404) throw error;
        // Back off a little and at random, so a burst does not retry in lockstep.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 5 * (round + 1))));
      }
    }
    throw new Error(`frequency window of ${scope} kept changing for ${MAX_ROUNDS * 2} rounds`);
  }
}
