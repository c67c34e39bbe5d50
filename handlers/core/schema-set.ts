/**
 * The schemas as plain data. Functions get them compiled in (a generated module imports
 * every JSON file), the CLI reads them from disk; both hand a `SchemaSet` to the registry,
 * so nothing at run time in a cloud function reads the file system.
 */

/** A JSON Schema document (draft 2020-12). */
export type JsonSchema = { readonly [keyword: string]: unknown };

export const COMPATIBILITY_MODES = [
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE",
  "NONE",
] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];

/** `schemas/events/<type>/meta.json`. */
export interface EventTypeMeta {
  readonly owner: string;
  readonly description: string;
  /** Defaults to BACKWARD_TRANSITIVE when absent. */
  readonly compatibility?: CompatibilityMode;
}

export interface EventTypeSchemas {
  readonly meta: EventTypeMeta;
  /** Version number to data schema. */
  readonly versions: Readonly<Record<number, JsonSchema>>;
}

export interface SchemaSet {
  readonly envelope: JsonSchema;
  /** Event type (e.g. `order.shipped`) to its versions. */
  readonly events: Readonly<Record<string, EventTypeSchemas>>;
  /** Channel message schemas; `meta` is the shared metadata every message embeds. */
  readonly messages: Readonly<Record<string, Readonly<Record<number, JsonSchema>>>>;
}

/** Every schema's `$id` is this base plus its path under `schemas/`. */
export const SCHEMA_BASE_URI = "https://herald.dev/schemas/";

export const DEFAULT_COMPATIBILITY: CompatibilityMode = "BACKWARD_TRANSITIVE";

/** `$id` (and CloudEvents `dataschema`) of an event data schema version. */
export function eventSchemaId(type: string, version: number): string {
  return `${SCHEMA_BASE_URI}events/${type}/v${version}.schema.json`;
}

/** `$id` of a channel message schema version. */
export function messageSchemaId(channel: string, version: number): string {
  return `${SCHEMA_BASE_URI}messages/${channel}/v${version}.schema.json`;
}

const EVENT_SCHEMA_ID = /^events\/([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\/v([1-9][0-9]{0,5})\.schema\.json$/;

/** Reads `(type, version)` out of a `dataschema` URI; undefined when it is not one of ours. */
export function parseEventSchemaId(uri: string): { type: string; version: number } | undefined {
  if (!uri.startsWith(SCHEMA_BASE_URI)) return undefined;
  const match = EVENT_SCHEMA_ID.exec(uri.slice(SCHEMA_BASE_URI.length));
  if (!match) return undefined;
  return { type: match[1]!, version: Number(match[2]) };
}

/** Ascending version numbers of an event type. */
export function versionsOf(entry: EventTypeSchemas): number[] {
  return Object.keys(entry.versions)
    .map(Number)
    .sort((a, b) => a - b);
}
