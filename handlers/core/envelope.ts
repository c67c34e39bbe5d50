import { ValidationError, type Issue } from "./errors";
import type { SchemaRegistry } from "./schema-registry";
import { parseEventSchemaId, SCHEMA_BASE_URI } from "./schema-set";

/** 256 KB: the smallest per-message limit of the clouds we deploy to (SNS, Pub/Sub, Service Bus Standard). */
export const MAX_EVENT_BYTES = 256 * 1024;

/**
 * Deepest nesting of objects and arrays an event may have (the envelope counts as 1).
 * No shipped schema comes near it; the limit exists because a 100,000-deep array fits
 * in 256 KB and the recursive steps after parsing (JSON.stringify, schema validation,
 * logging) overflow the stack on it, which surfaced as a 500 instead of a typed 400
 * (test/security/ingest-limits.test.ts).
 */
export const MAX_EVENT_DEPTH = 64;

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
 * else) with a code: `too-large`, `too-deep`, `malformed-json`, `invalid-envelope`, `unknown-dataschema`,
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
  // Before anything recursive touches the value (JSON.stringify below, the validators).
  assertDepth(value);
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

/** Iterative (a recursive walk would overflow on exactly the input it exists to refuse). */
function assertDepth(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  const stack: Array<[object, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_EVENT_DEPTH) {
      throw new ValidationError("too-deep", `event nests objects and arrays more than ${MAX_EVENT_DEPTH} levels deep`, [
        { pointer: "", keyword: "depth", message: `nesting exceeds ${MAX_EVENT_DEPTH} levels` },
      ]);
    }
    for (const child of Object.values(node)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
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
