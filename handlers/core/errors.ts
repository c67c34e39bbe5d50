/**
 * Error classes shared by every stage. Code branches on the class (and on `code`),
 * never on message text, so a provider's wording can change without changing what we do.
 */

/** One thing wrong with an input, located by a JSON pointer into that input. */
export interface Issue {
  /** JSON pointer into the offending document ("" is the whole document). */
  readonly pointer: string;
  /** The JSON Schema keyword or check that failed, e.g. `required`, `enum`, `size`. */
  readonly keyword: string;
  /** What is wrong, in words a user can act on. */
  readonly message: string;
}

/** Base class: every error herald raises on purpose carries a stable `code`. */
export abstract class HeraldError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Input that can never be accepted as it is (bad JSON, unknown type or version,
 * schema violations, over the size limit). Retrying does not help; nothing is lost
 * because the caller is told why and keeps the input.
 */
export class ValidationError extends HeraldError {
  readonly code: string;
  readonly issues: readonly Issue[];
  constructor(code: string, message: string, issues: readonly Issue[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.issues = issues;
  }
}

/** Delivery failed and will fail again: record it, do not retry. */
export class PermanentError extends HeraldError {
  readonly code: string;
  /** When set, the recipient's address on this channel should be suppressed (hard bounce, opt-out, gone subscription). */
  readonly suppress: SuppressionReason | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; suppress?: SuppressionReason }) {
    super(message, options);
    this.code = code;
    this.suppress = options?.suppress;
  }
}

/** Why an address is suppressed on a channel. */
export type SuppressionReason = "hard-bounce" | "opt-out" | "subscription-gone" | "invalid-address";

/**
 * Our configuration is wrong (bad credentials, missing sender): retry slowly and raise
 * an alarm, because an operator must act but messages should not be lost meanwhile.
 */
export class ConfigError extends HeraldError {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A passing failure (timeout, 4xx SMTP reply, 429, 5xx): retry with backoff. */
export class TransientError extends HeraldError {
  readonly code: string;
  /** The provider told us when to come back (Retry-After); the backoff honours it. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The classes a channel's error classification maps every failure into. */
export type DeliveryError = PermanentError | ConfigError | TransientError;

export function isDeliveryError(error: unknown): error is DeliveryError {
  return error instanceof PermanentError || error instanceof ConfigError || error instanceof TransientError;
}
