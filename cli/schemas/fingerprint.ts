import { createHash } from "node:crypto";

/**
 * Keywords that describe rather than constrain. Editing them does not change what a
 * published version accepts, so they are left out of its fingerprint: fixing a typo in a
 * description must not force a new version.
 */
const ANNOTATIONS = new Set(["title", "description", "examples", "$comment", "deprecated", "readOnly", "writeOnly", "default"]);

/** Keywords whose value is a map from names to subschemas (the names are data, not keywords). */
const SCHEMA_MAPS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]);
/** Keywords whose value is an array of subschemas. */
const SCHEMA_ARRAYS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
/** Keywords whose value is one subschema. */
const SCHEMA_VALUES = new Set([
  "items",
  "additionalProperties",
  "unevaluatedProperties",
  "unevaluatedItems",
  "not",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
]);

/** `sha256-<hex>` of the schema's constraints in canonical form (sorted keys, annotations removed). */
export function schemaFingerprint(schema: unknown): string {
  return `sha256-${createHash("sha256").update(canonicalJson(stripAnnotations(schema))).digest("hex")}`;
}

/** Removes annotation keywords wherever a subschema stands, and nowhere else. */
function stripAnnotations(schema: unknown): unknown {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    if (SCHEMA_MAPS.has(keyword) && isRecord(value)) {
      out[keyword] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, stripAnnotations(sub)]));
    } else if (SCHEMA_ARRAYS.has(keyword) && Array.isArray(value)) {
      out[keyword] = value.map(stripAnnotations);
    } else if (SCHEMA_VALUES.has(keyword)) {
      out[keyword] = stripAnnotations(value);
    } else {
      out[keyword] = value;
    }
  }
  return out;
}

/** JSON with object keys sorted at every depth, so key order and whitespace never matter. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
