/**
 * The delivery stage's idempotency keys and the frequency-cap windows, in one DynamoDB
 * table (partition key `pk`, TTL attribute `ttl` in epoch seconds). Same semantics as
 * the SQLite stores: every write that decides something is a conditional write, so two
 * Lambda instances can never both win.
 */
import { randomUUID } from "node:crypto";
import type { ClaimResult, DeliveryRecord, IdempotencyStore } from "../../core/delivery";
import { TransientError } from "../../core/errors";
import type { FrequencyCap, FrequencyLimiter } from "../../core/policies";
import type { AwsApi } from "./aws-json-client";
import { isConditionFailure, type DynamoItem as Item } from "./dynamo-items";

const DAY_MS = 24 * 60 * 60 * 1000;

/** DynamoDB's TTL attribute: whole epoch seconds, rounded up so an item never expires early. */
export function ttlSeconds(atMs: number): string {
  return String(Math.ceil(atMs / 1000));
}

// `state`, `token`, `ttl` and `record` are (or may become) DynamoDB reserved words.
const NAMES = { "#state": "state", "#token": "token", "#expiresAt": "expiresAt", "#record": "record", "#ttl": "ttl" };

/**
 * `IdempotencyStore` with an item per key (`idempotency#<key>`). A claim is one PutItem
 * that succeeds only on a new key or a claim whose lease ran out; a completed item keeps
 * its record until DynamoDB's TTL removes it `ttlMs` (7 days) after completion. That TTL
 * must outlast every retry and redrive window: a key forgotten is a message sendable again.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly ttlMs: number;

  constructor(
    private readonly client: AwsApi,
    private readonly tableName: string,
    options: { ttlMs?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 7 * DAY_MS;
  }

  async claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult> {
    const pk = idempotencyPk(key);
    const expiresAtMs = nowMs + leaseMs;
    // Two rounds at most in practice: the item can vanish (released) between our failed
    // write and our read of it, and then the key is free again.
    for (let round = 0; round < 3; round++) {
      const token = randomUUID();
      try {
        await this.client.call("PutItem", {
            TableName: this.tableName,
            Item: {
              pk: { S: pk },
              state: { S: "claimed" },
              token: { S: token },
              expiresAt: { N: String(expiresAtMs) },
              // A lapsed claim is as good as no item, so DynamoDB may drop it an hour after it lapses.
              ttl: { N: ttlSeconds(expiresAtMs + 60 * 60 * 1000) },
            },
            ConditionExpression: "attribute_not_exists(pk) OR (#state = :claimed AND #expiresAt <= :now)",
            ExpressionAttributeNames: { "#state": NAMES["#state"], "#expiresAt": NAMES["#expiresAt"] },
            ExpressionAttributeValues: { ":claimed": { S: "claimed" }, ":now": { N: String(nowMs) } },
            // The item that made the condition fail comes back with the error: no second read.
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          });
        return { state: "claimed", token };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const item = (error.aws.body.Item as Item | undefined) ?? (await this.read(pk));
        const answer = item ? holderOf(item, nowMs) : undefined;
        if (answer) return answer;
      }
    }
    throw new TransientError("idempotency-contended", `could not claim idempotency key ${key}: it changed under every attempt`);
  }

  async complete(key: string, token: string, record: DeliveryRecord, nowMs: number): Promise<void> {
    try {
      await this.client.call("UpdateItem", {
          TableName: this.tableName,
          Key: { pk: { S: idempotencyPk(key) } },
          UpdateExpression: "SET #state = :completed, #record = :record, #ttl = :ttl REMOVE #token, #expiresAt",
          ConditionExpression: "#state = :claimed AND #token = :token",
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ":completed": { S: "completed" },
            ":claimed": { S: "claimed" },
            ":record": { S: JSON.stringify(record) },
            ":ttl": { N: ttlSeconds(nowMs + this.ttlMs) },
            ":token": { S: token },
          },
      });
    } catch (error) {
      // A token that no longer matches (the claim lapsed and was taken over) changes nothing.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async release(key: string, token: string): Promise<void> {
    try {
      await this.client.call("DeleteItem", {
          TableName: this.tableName,
          Key: { pk: { S: idempotencyPk(key) } },
          ConditionExpression: "#state = :claimed AND #token = :token",
          ExpressionAttributeNames: { "#state": NAMES["#state"], "#token": NAMES["#token"] },
          ExpressionAttributeValues: { ":claimed": { S: "claimed" }, ":token": { S: token } },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async read(pk: string): Promise<Item | undefined> {
    const result = await this.client.call<{ Item?: Item }>("GetItem", { TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true });
    return result.Item;
  }
}

/** The table's key for an idempotency key; the prefix keeps it apart from the frequency windows. */
export function idempotencyPk(key: string): string {
  return `idempotency#${key}`;
}

/** What a claim that lost answers, or undefined when the item no longer stands in the way. */
function holderOf(item: Item, nowMs: number): ClaimResult | undefined {
  if (item.state?.S === "completed") return { state: "completed", record: JSON.parse(item.record?.S ?? "{}") as DeliveryRecord };
  const expiresAtMs = Number(item.expiresAt?.N);
  return expiresAtMs > nowMs ? { state: "in-flight", expiresAtMs } : undefined;
}

/**
 * `FrequencyLimiter` with one item per scope (`frequency#<scope>`) holding that scope's
 * sliding window: the keys counted and when. An acquire reads the window, decides as the
 * in-memory limiter does, and writes it back on condition that its version is unchanged;
 * a concurrent writer makes it read again. Caps are small (a few messages a day), so the
 * window stays far below DynamoDB's 400 KB item limit. The TTL removes a scope's item
 * once its last entry left the window.
 */
export class DynamoFrequencyLimiter implements FrequencyLimiter {
  private readonly maxRounds: number;

  constructor(
    private readonly client: AwsApi,
    private readonly tableName: string,
    options: { maxRounds?: number } = {},
  ) {
    this.maxRounds = options.maxRounds ?? 25;
  }

  async acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean> {
    const pk = `frequency#${scope}`;
    const windowMs = cap.windowSeconds * 1000;
    for (let round = 0; round < this.maxRounds; round++) {
      const { Item: item } = await this.client.call<{ Item?: Item }>("GetItem", { TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true });
      const version = item?.version?.N !== undefined ? Number(item.version.N) : undefined;
      const horizon = nowMs - windowMs;
      const live = (JSON.parse(item?.entries?.S ?? "[]") as Array<[string, number]>).filter(([, at]) => at > horizon);
      // Counting the same message again (a redelivered event) is free, even at the cap.
      if (live.some(([counted]) => counted === key)) return true;
      if (live.length >= cap.limit) return false;
      live.push([key, nowMs]);
      const newest = Math.max(...live.map(([, at]) => at));
      try {
        await this.client.call("PutItem", {
            TableName: this.tableName,
            Item: {
              pk: { S: pk },
              entries: { S: JSON.stringify(live) },
              version: { N: String((version ?? 0) + 1) },
              ttl: { N: ttlSeconds(newest + windowMs) },
            },
            ConditionExpression: version === undefined ? "attribute_not_exists(pk)" : "#version = :version",
            ...(version === undefined
              ? {}
              : { ExpressionAttributeNames: { "#version": "version" }, ExpressionAttributeValues: { ":version": { N: String(version) } } }),
        });
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // Someone else counted in this scope meanwhile: spread the retries out a little.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * Math.min(16, 2 ** round)));
      }
    }
    throw new TransientError("frequency-contended", `frequency window ${scope} changed under ${this.maxRounds} attempts`);
  }
}
