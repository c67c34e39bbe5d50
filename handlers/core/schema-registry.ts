import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { ValidationError, type Issue } from "./errors";
import {
  eventSchemaId,
  messageSchemaId,
  versionsOf,
  type JsonSchema,
  type SchemaSet,
} from "./schema-set";

/**
 * Resolves `(type, version)` and `(channel, version)` to compiled validators.
 *
 * All schemas are registered up front (so `$ref`s between them resolve) but each is
 * compiled on first use and cached: a function that only handles one channel pays for
 * one compile at cold start, not for every schema in the product.
 */
export class SchemaRegistry {
  /** Absent when every validator was handed in precompiled (the console's page, where CSP forbids `eval`). */
  private readonly ajv: Ajv2020 | undefined;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Sorted once: version lookups sit on the hot path. */
  private readonly versionLists = new Map<string, number[]>();

  /**
   * `formats: "fast"` (the default, for the hot path) checks formats by shape; `"full"`
   * also checks calendar dates and full URI grammar, several times slower. Everything
   * valid in full mode is valid in fast mode, so CI checks examples in full mode.
   */
  constructor(
    readonly schemas: SchemaSet,
    options: { formats?: "fast" | "full"; precompiled?: Readonly<Record<string, ValidateFunction>> } = {},
  ) {
    for (const [type, entry] of Object.entries(schemas.events)) this.versionLists.set(type, versionsOf(entry));
    if (options.precompiled) {
      // Standalone validators keyed by schema id (see `schemaSources`): no compiler needed.
      for (const [id, validate] of Object.entries(options.precompiled)) this.compiled.set(id, validate);
      this.ajv = undefined;
      return;
    }
    // The schemas come from the generated schema set, which CI checks; the registry only compiles them.
    this.ajv = createAjv(options.formats ?? "fast", { checkSchemas: false });
    for (const [id, schema] of schemaSources(schemas)) this.ajv.addSchema(schema as object, id);
  }

  /** Event types, sorted. */
  eventTypes(): string[] {
    return Object.keys(this.schemas.events).sort();
  }

  /** Ascending versions of a type; throws `unknown-type`. */
  versions(type: string): readonly number[] {
    const entry = this.schemas.events[type];
    if (!entry) {
      throw new ValidationError("unknown-type", `unknown event type "${type}"; known types: ${this.eventTypes().join(", ")}`, [
        { pointer: "/type", keyword: "unknown-type", message: `no schema for event type "${type}"` },
      ]);
    }
    return this.versionLists.get(type)!;
  }

  latestVersion(type: string): number {
    const versions = this.versions(type);
    return versions[versions.length - 1]!;
  }

  eventSchema(type: string, version: number): JsonSchema {
    const versions = this.versions(type);
    const schema = this.schemas.events[type]!.versions[version];
    if (!schema) {
      throw new ValidationError(
        "unknown-version",
        `event type "${type}" has no version ${version}; known versions: ${versions.map((v) => `v${v}`).join(", ")}`,
        [{ pointer: "/dataschema", keyword: "unknown-version", message: `no v${version} for "${type}"` }],
      );
    }
    return schema;
  }

  /** Issues of `envelope` against the CloudEvents envelope schema (empty when valid). */
  validateEnvelope(envelope: unknown): Issue[] {
    return this.run(String(this.schemas.envelope.$id), envelope);
  }

  /** Issues of `data` against an event version (empty when valid); throws for unknown type or version. */
  validateEventData(type: string, version: number, data: unknown): Issue[] {
    this.eventSchema(type, version);
    return this.run(eventSchemaId(type, version), data);
  }

  /** Issues of a channel message against its schema; throws `unknown-message-schema`. */
  validateMessage(channel: string, version: number, message: unknown): Issue[] {
    if (!this.schemas.messages[channel]?.[version]) {
      throw new ValidationError("unknown-message-schema", `no message schema for channel "${channel}" v${version}`);
    }
    return this.run(messageSchemaId(channel, version), message);
  }

  private run(id: string, value: unknown): Issue[] {
    let validate = this.compiled.get(id);
    if (!validate) {
      validate = this.ajv?.getSchema(id);
      if (!validate) throw new ValidationError("unknown-schema", `schema ${id} is not registered`);
      this.compiled.set(id, validate);
    }
    return validate(value) ? [] : toIssues(validate.errors ?? []);
  }
}

/** Every schema of a set with the id it is registered under: the envelope, each event version, each message version. */
export function schemaSources(schemas: SchemaSet): Array<[string, JsonSchema]> {
  const sources: Array<[string, JsonSchema]> = [[String(schemas.envelope.$id), schemas.envelope]];
  for (const [type, entry] of Object.entries(schemas.events)) {
    for (const version of versionsOf(entry)) sources.push([eventSchemaId(type, version), entry.versions[version]!]);
  }
  for (const [channel, versions] of Object.entries(schemas.messages)) {
    for (const [version, schema] of Object.entries(versions)) sources.push([messageSchemaId(channel, Number(version)), schema]);
  }
  return sources;
}

/**
 * The Ajv configuration every part of herald (registry, CLI checks, tests) validates with.
 * `checkSchemas: false` skips checking each schema against the JSON Schema meta-schema
 * when it is added: for the runtime, whose schemas `herald schemas check` has already
 * checked in CI, because compiling the meta-schema is most of a function's cold start.
 */
export function createAjv(formats: "fast" | "full" = "full", options: { checkSchemas?: boolean; standaloneCode?: boolean } = {}): Ajv2020 {
  // strict: unknown keywords and ambiguous types are schema errors, which catches typos
  // like "requried" in CI instead of silently accepting everything.
  // allErrors: a producer fixing a payload wants every problem at once, not one per publish.
  const ajv = new Ajv2020({
    strict: true,
    allErrors: true,
    allowUnionTypes: true,
    validateSchema: options.checkSchemas ?? true,
    ...(options.standaloneCode ? { code: { source: true, esm: true } } : {}),
  });
  addFormats(ajv, { mode: formats });
  return ajv;
}

/** Ajv errors as issues whose pointer names the exact offending field. */
export function toIssues(errors: readonly ErrorObject[]): Issue[] {
  return errors.map((error) => {
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case "required":
        return {
          pointer: `${error.instancePath}/${escapePointer(String(params.missingProperty))}`,
          keyword: "required",
          message: "is required",
        };
      case "additionalProperties":
        return {
          pointer: `${error.instancePath}/${escapePointer(String(params.additionalProperty))}`,
          keyword: "additionalProperties",
          message: "is not allowed by the schema (closed content model)",
        };
      case "enum":
        return {
          pointer: error.instancePath,
          keyword: "enum",
          message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
        };
      case "const":
        return { pointer: error.instancePath, keyword: "const", message: `must be ${JSON.stringify(params.allowedValue)}` };
      default:
        return { pointer: error.instancePath, keyword: error.keyword, message: error.message ?? "is invalid" };
    }
  });
}

/** RFC 6901 escaping of one pointer segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}
