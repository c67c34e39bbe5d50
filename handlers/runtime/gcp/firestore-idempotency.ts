/**
 * The delivery stage's idempotency keys and the frequency-cap windows, in one Firestore
 * collection. Same semantics as the SQLite and DynamoDB stores: every write that decides
 * something is a `create()` (which fails with ALREADY_EXISTS when the document is there)
 * or a transaction, so two function instances can never both win.
 *
 * Every document carries `expireAt`, a Timestamp: the stack puts a Firestore TTL policy
 * on that field, which deletes a document some time (up to a day or so) after it passes.
 * The stores never rely on that deletion happening: a lapsed claim is judged by its own
 * `expiresAtMs`, a window by its entries' times.
 */
import { randomUUID } from "node:crypto";
import { Timestamp, type CollectionReference, type DocumentReference, type Firestore, type Transaction } from "@google-cloud/firestore";
import type { ClaimResult, DeliveryRecord, IdempotencyStore } from "../../core/delivery";
import type { FrequencyCap, FrequencyLimiter } from "../../core/policies";
import { documentId, GRPC, grpcCode } from "./firestore-ids";

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

/** The fields of an idempotency document. */
interface IdempotencyDoc {
  readonly state: "claimed" | "completed";
  /** Claims only: whose claim it is, and until when (epoch ms). */
  readonly token?: string;
  readonly expiresAtMs?: number;
  /** Completed only: the `DeliveryRecord` as JSON (optional fields stay exactly as they were). */
  readonly record?: string;
  /** For the TTL policy. */
  readonly expireAt: Timestamp;
}

/**
 * `IdempotencyStore` with a document per key (`idempotency#<key>`). A new key is claimed
 * by `create()`; a key whose document exists is looked at in a transaction, which takes
 * over a claim whose lease ran out. A completed document keeps its record until the TTL
 * policy removes it `ttlMs` (7 days) after completion. That TTL must outlast every
 * retry and redelivery window (Pub/Sub keeps a message at most 7 days, and a dead-letter
 * replay comes later still, so an operator replaying old messages may get repeats).
 */
export class FirestoreIdempotencyStore implements IdempotencyStore {
  private readonly ttlMs: number;
  private readonly collection: CollectionReference;

  constructor(firestore: Firestore, collectionName: string, options: { ttlMs?: number } = {}) {
    this.collection = firestore.collection(collectionName);
    this.ttlMs = options.ttlMs ?? 7 * DAY_MS;
  }

  async claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult> {
    const ref = this.ref(key);
    const token = randomUUID();
    const expiresAtMs = nowMs + leaseMs;
    // A lapsed claim is as good as no document, so the TTL may drop it an hour after it lapses.
    const claim: IdempotencyDoc = { state: "claimed", token, expiresAtMs, expireAt: Timestamp.fromMillis(expiresAtMs + HOUR_MS) };
    try {
      // The common case, a key never seen: one write, no read, no transaction.
      await ref.create(claim);
      return { state: "claimed", token };
    } catch (error) {
      if (grpcCode(error) !== GRPC.alreadyExists) throw error;
    }
    // The key exists: completed, held, or a lapsed claim to take over. The transaction
    // makes the read and the takeover one step, so of two takers only one commits.
    return ref.firestore.runTransaction(async (transaction) => {
      const snapshot = await transaction.get(ref);
      const current = snapshot.data() as IdempotencyDoc | undefined;
      if (current?.state === "completed") return { state: "completed", record: JSON.parse(current.record ?? "{}") as DeliveryRecord };
      if (current && (current.expiresAtMs ?? 0) > nowMs) return { state: "in-flight", expiresAtMs: current.expiresAtMs ?? 0 };
      // Released meanwhile (no document) or lapsed: ours now.
      transaction.set(ref, claim);
      return { state: "claimed", token };
    });
  }

  async complete(key: string, token: string, record: DeliveryRecord, nowMs: number): Promise<void> {
    const ref = this.ref(key);
    const completed: IdempotencyDoc = { state: "completed", record: JSON.stringify(record), expireAt: Timestamp.fromMillis(nowMs + this.ttlMs) };
    await this.ifHeld(ref, token, (transaction) => void transaction.set(ref, completed));
  }

  async release(key: string, token: string): Promise<void> {
    const ref = this.ref(key);
    await this.ifHeld(ref, token, (transaction) => void transaction.delete(ref));
  }

  /**
   * Runs `write` only while `token` still holds the key. A token that no longer matches
   * (the claim lapsed and was taken over, or the key completed) changes nothing.
   */
  private async ifHeld(ref: DocumentReference, token: string, write: (transaction: Transaction) => void): Promise<void> {
    await ref.firestore.runTransaction(async (transaction) => {
      const current = (await transaction.get(ref)).data() as IdempotencyDoc | undefined;
      if (current?.state === "claimed" && current.token === token) write(transaction);
    });
  }

  private ref(key: string): DocumentReference {
    return this.collection.doc(documentId("idempotency#", key));
  }
}


/**
 * `FrequencyLimiter` with one document per scope (`frequency#<scope>`) holding that
 * scope's sliding window: the keys counted and when. An acquire reads the window in a
 * transaction, decides as the in-memory limiter does, and writes it back; a concurrent
 * acquire on the same scope makes Firestore retry the transaction. Caps are small (a few
 * messages a day), so the window stays far below Firestore's 1 MiB document limit. The
 * TTL policy removes a scope's document once its last entry left the window.
 */
export class FirestoreFrequencyLimiter implements FrequencyLimiter {
  private readonly collection: CollectionReference;
  private readonly maxAttempts: number;

  constructor(firestore: Firestore, collectionName: string, options: { maxAttempts?: number } = {}) {
    this.collection = firestore.collection(collectionName);
    // Simultaneous acquires on one scope (one recipient's burst) abort each other's
    // transactions; the client's default of 5 attempts is too few for a burst of 10.
    this.maxAttempts = options.maxAttempts ?? 25;
  }

  async acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean> {
    const ref = this.collection.doc(documentId("frequency#", scope));
    const windowMs = cap.windowSeconds * 1000;
    return ref.firestore.runTransaction(
      async (transaction) => {
        const stored = (await transaction.get(ref)).get("entries") as string | undefined;
        const horizon = nowMs - windowMs;
        const live = (JSON.parse(stored ?? "[]") as Array<[string, number]>).filter(([, at]) => at > horizon);
        // Counting the same message again (a redelivered event) is free, even at the cap.
        if (live.some(([counted]) => counted === key)) return true;
        if (live.length >= cap.limit) return false;
        live.push([key, nowMs]);
        const newest = Math.max(...live.map(([, at]) => at));
        transaction.set(ref, { entries: JSON.stringify(live), expireAt: Timestamp.fromMillis(newest + windowMs) });
        return true;
      },
      { maxAttempts: this.maxAttempts },
    );
  }
}
