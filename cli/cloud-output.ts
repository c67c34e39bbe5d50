/**
 * What the cloud commands (`publish`, `dlq`) report, whichever the cloud: they print it
 * the same way for every `--target`.
 */

/** One event the topic stored. */
export interface PublishedEvent {
  readonly id: string;
  readonly source: string;
  readonly messageId: string;
}

/** One event the topic never stored, after the retries. */
export interface UnpublishedEvent {
  /** Position in the input file. */
  readonly index: number;
  readonly id: string;
  readonly source: string;
  /** The cloud's error code for it (SNS's entry code, a gRPC status name). */
  readonly code: string;
  readonly message: string;
}

export interface PublishOutcome {
  /** In input order. */
  readonly published: PublishedEvent[];
  /** In input order. */
  readonly failed: UnpublishedEvent[];
  /** Events never sent (or not known to be sent) because `stoppedBy` ended the run, in input order. */
  readonly notSent: ReadonlyArray<{ readonly index: number; readonly id: string; readonly source: string }>;
  /** The failure that ended the run early. */
  readonly stoppedBy?: Error;
}

/** As many dead letters as `dlq list` shows, on every target. */
export const DLQ_LIST_LIMIT = 1000;
/** How many messages `dlq show` looks through for one id. */
export const DLQ_SHOW_SEARCH_LIMIT = 1000;
/** Failed events printed one per line; the rest are counted. */
export const MAX_FAILURE_LINES = 20;
