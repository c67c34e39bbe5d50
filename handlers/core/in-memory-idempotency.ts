import { randomUUID } from "node:crypto";
import type { ClaimResult, DeliveryRecord, IdempotencyStore } from "./delivery";

type Entry = { state: "claimed"; token: string; expiresAtMs: number } | { state: "completed"; record: DeliveryRecord };

/** `IdempotencyStore` in memory: tests and benchmarks, and the behaviour every store must match. */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  async claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult> {
    const entry = this.entries.get(key);
    if (entry?.state === "completed") return { state: "completed", record: entry.record };
    if (entry?.state === "claimed" && entry.expiresAtMs > nowMs) return { state: "in-flight", expiresAtMs: entry.expiresAtMs };
    const token = randomUUID();
    this.entries.set(key, { state: "claimed", token, expiresAtMs: nowMs + leaseMs });
    return { state: "claimed", token };
  }

  async complete(key: string, token: string, record: DeliveryRecord): Promise<void> {
    const entry = this.entries.get(key);
    // A claim that expired and was taken over belongs to someone else now.
    if (entry?.state === "claimed" && entry.token === token) this.entries.set(key, { state: "completed", record });
  }

  async release(key: string, token: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.state === "claimed" && entry.token === token) this.entries.delete(key);
  }
}
