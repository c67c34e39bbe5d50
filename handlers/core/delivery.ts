/**
 * The delivery stage, shared by every target: claim the message's idempotency key, send,
 * record. A completed key is never sent again; a claim whose holder died expires and is
 * taken over, which is the one window in which a message can go out twice (the process
 * died after the provider accepted it and before the key was completed).
 */
import { ConfigError, isDeliveryError, PermanentError, TransientError, type DeliveryError } from "./errors";
import type { ChannelAdapter, ChannelMessage, ChannelSender, Logger } from "./ports";
import type { RecipientDirectory } from "./recipients";

/** What the idempotency store remembers about a finished message. */
export interface DeliveryRecord {
  readonly status: "sent" | "failed";
  readonly at: string;
  readonly providerMessageId?: string;
  /** Error code, for failed messages. */
  readonly reason?: string;
}

export type ClaimResult =
  | { readonly state: "claimed"; readonly token: string }
  | { readonly state: "completed"; readonly record: DeliveryRecord }
  | { readonly state: "in-flight"; readonly expiresAtMs: number };

/**
 * Guards side effects: `claim` before sending, `complete` after. Implemented per target
 * with a conditional write (SQLite unique row, DynamoDB condition, Firestore create
 * precondition, Table Storage insert).
 */
export interface IdempotencyStore {
  /** Takes the key for `leaseMs`, unless it is completed or someone else's live claim. */
  claim(key: string, leaseMs: number, nowMs: number): Promise<ClaimResult>;
  /** Marks the key done for good; only the current claim's token may do so. */
  complete(key: string, token: string, record: DeliveryRecord, nowMs: number): Promise<void>;
  /** Gives the claim back after a failure that will be retried. */
  release(key: string, token: string): Promise<void>;
}

/** Exponential backoff with full jitter, per kind of failure. */
export interface RetryPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  /** Config errors (bad credentials) retry slowly: an operator must act, and hammering the provider helps nobody. */
  readonly configBaseMs: number;
  readonly configCapMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 1_000, capMs: 5 * 60_000, configBaseMs: 60_000, configCapMs: 15 * 60_000 };

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1): a uniform draw in
 * [0, min(cap, base * 2^(attempt-1))] ("full jitter", so retries of many messages spread
 * out instead of arriving together), never less than what the provider asked for.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}

export type DeliveryOutcome =
  /** The provider accepted it. */
  | { readonly status: "sent"; readonly providerMessageId?: string }
  /** It was already delivered (or already failed for good): acknowledge, send nothing. */
  | { readonly status: "duplicate"; readonly record: DeliveryRecord }
  /** Quiet hours: come back at `untilMs`; this is not a failed attempt. */
  | { readonly status: "deferred"; readonly untilMs: number }
  /** Another worker holds a live claim: come back after it expires; not a failed attempt. */
  | { readonly status: "busy"; readonly retryInMs: number }
  /** Will never succeed: recorded, address suppressed when the provider said so. */
  | { readonly status: "failed"; readonly error: PermanentError }
  /** Try again after `delayMs` (the queue dead-letters after maxAttempts). */
  | { readonly status: "retry"; readonly error: TransientError | ConfigError; readonly delayMs: number };

export interface DeliveryContext {
  readonly adapter: ChannelAdapter;
  readonly sender: ChannelSender;
  readonly idempotency: IdempotencyStore;
  readonly directory: RecipientDirectory;
  readonly logger?: Logger;
  readonly retry?: RetryPolicy;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * Delivers one message, attempt number `attempt` (from 1). Never throws for a provider
 * failure: the outcome says what the queue should do. Throws only when the idempotency
 * store itself fails, so the queue retries without a send having happened.
 */
export async function deliver(message: ChannelMessage, attempt: number, context: DeliveryContext): Promise<DeliveryOutcome> {
  const now = context.now ?? Date.now;
  const { adapter } = context;
  const notBefore = message.meta.notBefore ? Date.parse(message.meta.notBefore) : undefined;
  if (notBefore !== undefined && notBefore > now()) return { status: "deferred", untilMs: notBefore };

  const key = message.meta.idempotencyKey;
  // The lease outlives the send's own timeout, so a slow but live send is never taken over.
  const leaseMs = adapter.defaults.timeoutMs * 2;
  const claim = await context.idempotency.claim(key, leaseMs, now());
  if (claim.state === "completed") return { status: "duplicate", record: claim.record };
  if (claim.state === "in-flight") return { status: "busy", retryInMs: Math.max(1, claim.expiresAtMs - now()) };

  let error: DeliveryError;
  try {
    const result = await withTimeout(adapter.defaults.timeoutMs, (signal) => context.sender.send(message, signal));
    await context.idempotency.complete(
      key,
      claim.token,
      { status: "sent", at: new Date(now()).toISOString(), ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}) },
      now(),
    );
    return { status: "sent", ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}) };
  } catch (caught) {
    error = isDeliveryError(caught) ? caught : adapter.classify(caught);
  }

  if (error instanceof PermanentError) {
    await context.idempotency.complete(key, claim.token, { status: "failed", at: new Date(now()).toISOString(), reason: error.code }, now());
    if (error.suppress) {
      const address = adapter.addressOf(message);
      if (error.suppress === "subscription-gone") await context.directory.removePushSubscription(address);
      await context.directory.suppress({ channel: adapter.name, address, reason: error.suppress, at: new Date(now()).toISOString() });
    }
    return { status: "failed", error };
  }
  await context.idempotency.release(key, claim.token);
  const policy = context.retry ?? DEFAULT_RETRY_POLICY;
  const delayMs =
    error instanceof ConfigError
      ? backoffDelay(attempt, policy.configBaseMs, policy.configCapMs, undefined, context.random)
      : backoffDelay(attempt, policy.baseMs, policy.capMs, error.retryAfterMs, context.random);
  return { status: "retry", error, delayMs };
}

/**
 * Runs `send` with an abort signal that fires after `ms`. Senders turn the abort into a
 * TransientError; one that ignores its signal is cut off a second later all the same, so
 * a hung provider can never hold a concurrency slot forever.
 */
async function withTimeout<T>(ms: number, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let backstop: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => controller.abort(new TransientError("timeout", `send took longer than ${ms} ms`)), ms);
  try {
    return await Promise.race([
      send(controller.signal),
      new Promise<never>((_, reject) => {
        backstop = setTimeout(() => reject(new TransientError("timeout", `send ignored its ${ms} ms timeout`)), ms + 1_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    clearTimeout(backstop);
  }
}
