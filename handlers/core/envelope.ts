import { ValidationError, type Issue } from "./errors";
import type { SchemaRegistry } from "./schema-registry";
import { parseEventSchemaId, SCHEMA_BASE_URI } from "./schema-set";

/** 256 KB: the smallest per-message limit of the clouds we deploy to (SNS, Pub/Sub, Service Bus Standard). */
export const MAX_EVENT_BYTES = 256 * 1024;

/** A CloudEvents 1.0 event in structured JSON mode, as herald accepts it. */
export interface CloudEvent<D = Record<string, unknown>> {
  readonly specversion: "1.0";
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time?: string;
  readonly subject?: string;
  /** `$id` of the exact data schema version. */
  readonly dataschema: string;
  readonly datacontenttype?: "application/json";
  readonly data: D;
  /** CloudEvents extension attributes (e.g. `traceparent`). */
  readonly [extension: string]: unknown;
}

/** An event that passed every check, with the version its data conforms to. */
export interface AcceptedEvent {
  readonly event: CloudEvent;
  readonly version: number;
  readonly sizeBytes: number;
}

/**
 * Parses and validates one serialized event. Throws `ValidationError` (never anything
 * else) with a code: `too-large`, `malformed-json`, `invalid-envelope`, `unknown-dataschema`,
 * `type-mismatch`, `unknown-type`, `unknown-version`, `invalid-data`.
 */
export function parseEvent(raw: string | Uint8Array, registry: SchemaRegistry): AcceptedEvent {
  const sizeBytes = typeof raw === "string" ? Buffer.byteLength(raw, "utf8") : raw.byteLength;
  // Checked before parsing so an oversized body never costs a full parse.
  assertSize(sizeBytes);
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === "string" ? raw : Buffer.from(raw).toString("utf8"));
  } catch (error) {
    throw new ValidationError("malformed-json", `event is not valid JSON: ${(error as Error).message}`, [
      { pointer: "", keyword: "json", message: (error as Error).message },
    ]);
  }
  return validateEvent(value, registry, sizeBytes);
}

/** Validates an already-parsed event; `sizeBytes` defaults to its JSON length. */
export function validateEvent(value: unknown, registry: SchemaRegistry, sizeBytes?: number): AcceptedEvent {
  const size = sizeBytes ?? Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
  assertSize(size);
  const envelopeIssues = registry.validateEnvelope(value);
  if (envelopeIssues.length > 0) {
    throw new ValidationError("invalid-envelope", `not a valid CloudEvents 1.0 envelope: ${summarize(envelopeIssues)}`, envelopeIssues);
  }
  const event = value as CloudEvent;
  const named = parseEventSchemaId(event.dataschema);
  if (!named) {
    throw new ValidationError(
      "unknown-dataschema",
      `dataschema "${event.dataschema}" is not a herald event schema id (expected ${SCHEMA_BASE_URI}events/<type>/v<N>.schema.json)`,
      [{ pointer: "/dataschema", keyword: "dataschema", message: "must name a herald event schema version" }],
    );
  }
  if (named.type !== event.type) {
    throw new ValidationError("type-mismatch", `dataschema names type "${named.type}" but the event's type is "${event.type}"`, [
      { pointer: "/dataschema", keyword: "type-mismatch", message: `names "${named.type}", event type is "${event.type}"` },
    ]);
  }
  const dataIssues = registry
    .validateEventData(event.type, named.version, event.data)
    .map((issue) => ({ ...issue, pointer: `/data${issue.pointer}` }));
  if (dataIssues.length > 0) {
    throw new ValidationError(
      "invalid-data",
      `data does not match ${event.type} v${named.version}: ${summarize(dataIssues)}`,
      dataIssues,
    );
  }
  return { event, version: named.version, sizeBytes: size };
}

function assertSize(sizeBytes: number): void {
  if (sizeBytes > MAX_EVENT_BYTES) {
    throw new ValidationError("too-large", `event is ${sizeBytes} bytes; the limit is ${MAX_EVENT_BYTES} bytes (256 KB)`, [
      { pointer: "", keyword: "size", message: `${sizeBytes} bytes exceeds ${MAX_EVENT_BYTES}` },
    ]);
  }
}

/** First few issues as one line, for error messages; the full list stays in `issues`. */
export function summarize(issues: readonly Issue[], max = 3): string {
  const shown = issues.slice(0, max).map((issue) => `${issue.pointer || "/"} ${issue.message}`);
  const more = issues.length > max ? ` (and ${issues.length - max} more)` : "";
  return shown.join("; ") + more;
}
