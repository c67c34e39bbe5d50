/**
 * What the console's own routes answer, shared by the server and the page. Plain data
 * types with no imports, so the page type-checks without the runtime's modules.
 */

export interface CatalogType {
  readonly type: string;
  readonly description?: string;
  readonly owner?: string;
  readonly compatibility: string;
  readonly versions: ReadonlyArray<{ readonly version: number; readonly schema: unknown }>;
  readonly examples: ReadonlyArray<{ readonly file: string; readonly event: unknown }>;
  readonly rules: ReadonlyArray<{
    readonly rule: string;
    readonly versions: readonly number[];
    readonly channels: readonly string[];
    readonly reads: ReadonlyArray<{ readonly field: string; readonly where: readonly string[]; readonly declaredIn: readonly number[] }>;
  }>;
}

export interface FollowedMessage {
  readonly idempotencyKey: string;
  readonly rule: string;
  readonly channel: string;
  readonly recipientId?: string;
  /** `queued`, `in flight`, `waiting to retry`, or the last outcome (`sent`, `failed`, `dead-lettered`, ...). */
  readonly state: string;
  readonly reason?: string;
  readonly detail?: string;
  /** Attempts so far: from the queue or DLQ while it is there, else from the attempt log. */
  readonly attempts: number;
  readonly lastError?: string;
  readonly deadLetterId?: number;
  readonly history: ReadonlyArray<{ attempt: number; result: string; error?: string; at: number }>;
}

export interface FollowedEvent {
  readonly source: string;
  readonly id: string;
  /** The id every log line about the event carries (`eventId`), plus its `traceparent` when it had one. */
  readonly correlationId: string;
  readonly traceparent?: string;
  /** `waiting for rules`, `evaluated`, `dead-lettered before rules`, or `unknown` (never accepted here). */
  readonly stage: string;
  readonly accepted: boolean;
  readonly matchedRules: readonly string[];
  /** Rule outcomes that made no message (filtered, suppressed, throttled, ...). */
  readonly decisions: ReadonlyArray<{ readonly rule: string; readonly status: string; readonly reason: string; readonly channel?: string; readonly recipientId?: string; readonly detail?: string }>;
  readonly messages: readonly FollowedMessage[];
}

