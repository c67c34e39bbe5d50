/**
 * What the cloud commands (`publish`, `dlq`) report, whichever the cloud: they print it
 * the same way for every `--target`.
 */
import type { AcceptedEvent } from "../handlers/core/envelope";
import { HeraldError } from "../handlers/core/errors";

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

/** The first line of a message body, shortened for a one-line listing. */
export function firstLine(body: string, max = 120): string {
  const line = body.split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A body as `dlq show` prints it: parsed when it is JSON, else the text. */
export function parseIfJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** `dlq show` found no message with that id; exit code 1. */
export class DeadLetterNotFound extends HeraldError {
  readonly code = "dead-letter-not-found";
}

/**
 * The attributes every target publishes an event with: `type` and `version` (SNS message
 * attributes, Pub/Sub attributes, Service Bus application properties), so a
 * subscription filter (`type = "order.shipped"`) works without decoding the data.
 */
export function eventAttributes(accepted: AcceptedEvent): Record<string, string> {
  return { type: accepted.event.type, version: String(accepted.version) };
}
