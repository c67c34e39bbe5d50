import { parseEvent } from "../../handlers/core/envelope";
import { ValidationError } from "../../handlers/core/errors";
import { checkCompatibility } from "../../handlers/core/schema-compatibility";
import { createAjv, SchemaRegistry, toIssues } from "../../handlers/core/schema-registry";
import {
  COMPATIBILITY_MODES,
  DEFAULT_COMPATIBILITY,
  eventSchemaId,
  messageSchemaId,
  parseEventSchemaId,
  SCHEMA_BASE_URI,
  type CompatibilityMode,
  type EventTypeMeta,
  type JsonSchema,
  type SchemaSet,
} from "../../handlers/core/schema-set";
import { schemaFingerprint } from "./fingerprint";
import { LOCK_FILE, type JsonFile, type SchemaTree } from "./schema-tree";

/** One thing `herald schemas check` found wrong: where, what, and what to do. */
export interface Problem {
  readonly file: string;
  /** JSON pointer into the file, when the problem sits at one place in it. */
  readonly pointer?: string;
  readonly message: string;
  readonly hint?: string;
  /** Set on problems that `herald schemas lock` itself resolves, so it can tell them apart. */
  readonly code?: "not-locked" | "lock-missing";
}

/** The lock file: a fingerprint per published schema, keyed by its path under `schemas/`. */
export interface LockFile {
  readonly lockfileVersion: 1;
  readonly schemas: Readonly<Record<string, string>>;
}

/** A schema that parsed, passed the meta-schema and compiled. */
interface ValidSchema {
  readonly file: JsonFile;
  readonly lockKey: string;
  readonly schema: JsonSchema;
}

export interface SchemaCheck {
  readonly problems: Problem[];
  /** Only the schemas that are valid; what the registry, the lock and the generator work from. */
  readonly schemaSet: SchemaSet;
  /** Path under `schemas/` to fingerprint, for every valid versioned schema. */
  readonly fingerprints: ReadonlyMap<string, { file: string; fingerprint: string }>;
  readonly counts: { eventTypes: number; versions: number; examples: number; messageSchemas: number };
}

/** Extra checks that need more than the schemas (templates and rules register one). */
export type ExtraCheck = (schemaSet: SchemaSet) => Problem[];

const JSON_SCHEMA_2020 = "https://json-schema.org/draft/2020-12/schema";
const TYPE_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const CHANNEL_NAME = /^[a-z][a-z0-9-]{0,30}$/;

const META_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["owner", "description"],
  properties: {
    owner: { type: "string", minLength: 1 },
    description: { type: "string", minLength: 1 },
    compatibility: { enum: [...COMPATIBILITY_MODES] },
  },
};

/**
 * Every check of `herald schemas check` except freshness of generated files, which
 * needs the (async) generator: validity, conventions, examples, compatibility and
 * immutability. Pure apart from what `tree` already read.
 */
export function checkSchemaTree(tree: SchemaTree, extraChecks: readonly ExtraCheck[] = []): SchemaCheck {
  const problems: Problem[] = [];
  const ajv = createAjv();
  const report = (file: string, message: string, hint?: string, pointer?: string) =>
    problems.push({ file, message, ...(hint ? { hint } : {}), ...(pointer !== undefined ? { pointer } : {}) });

  for (const path of tree.stray) {
    report(path, "does not follow the schema layout", "expected events/<type>/{meta.json,v<N>.schema.json,examples/*.json} or messages/<channel>/v<N>.schema.json");
  }

  // Parse errors first: a file that does not parse is reported once, then left out.
  const parsed = (file: JsonFile | undefined): file is JsonFile & { value: unknown } => {
    if (!file) return false;
    if (file.error !== undefined) {
      report(file.path, file.error, "fix the JSON syntax");
      return false;
    }
    return true;
  };

  const candidates: Array<{ file: JsonFile & { value: unknown }; id: string; lockKey: string; closed: boolean }> = [];
  if (!tree.envelope) report(`${tree.dir}/envelope.schema.json`, "the CloudEvents envelope schema is missing", "restore schemas/envelope.schema.json from herald");
  else if (parsed(tree.envelope)) candidates.push({ file: tree.envelope, id: `${SCHEMA_BASE_URI}envelope.schema.json`, lockKey: "", closed: false });

  for (const [channel, versions] of tree.messages) {
    if (!CHANNEL_NAME.test(channel)) report(`${tree.dir}/messages/${channel}`, `channel name "${channel}" is not lower-case letters, digits and dashes`);
    for (const [version, file] of versions) {
      if (parsed(file)) candidates.push({ file, id: messageSchemaId(channel, version), lockKey: `messages/${channel}/v${version}.schema.json`, closed: true });
    }
    checkContiguous(versions, `${tree.dir}/messages/${channel}`, report);
  }

  const metas = new Map<string, EventTypeMeta>();
  const metaValidator = ajv.compile(META_SCHEMA);
  for (const [type, files] of tree.events) {
    if (!TYPE_NAME.test(type)) {
      report(files.dir, `event type "${type}" is not dotted lower-case (e.g. order.shipped)`, "rename the directory");
    }
    if (!files.meta) report(`${files.dir}/meta.json`, "meta.json is missing", 'add {"owner": "...", "description": "...", "compatibility": "BACKWARD_TRANSITIVE"}');
    else if (parsed(files.meta)) {
      if (metaValidator(files.meta.value)) metas.set(type, files.meta.value as unknown as EventTypeMeta);
      else for (const issue of toIssues(metaValidator.errors ?? [])) report(files.meta.path, `${issue.message}`, undefined, issue.pointer);
    }
    if (files.versions.size === 0) report(files.dir, "has no versions", "add v1.schema.json");
    checkContiguous(files.versions, files.dir, report);
    for (const [version, file] of files.versions) {
      if (parsed(file)) candidates.push({ file, id: eventSchemaId(type, version), lockKey: `events/${type}/v${version}.schema.json`, closed: true });
    }
  }

  // Meta-schema validity and conventions; only schemas that pass are registered.
  const registered: Array<{ candidate: (typeof candidates)[number] }> = [];
  for (const candidate of candidates) {
    const { file, id } = candidate;
    const schema = file.value;
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      report(file.path, "a schema must be a JSON object");
      continue;
    }
    const record = schema as Record<string, unknown>;
    let ok = true;
    if (record.$schema !== JSON_SCHEMA_2020) {
      report(file.path, `$schema must be "${JSON_SCHEMA_2020}"`, "herald schemas are JSON Schema 2020-12", "/$schema");
      ok = false;
    }
    if (record.$id !== id) {
      report(file.path, `$id is ${JSON.stringify(record.$id)}, expected "${id}"`, "the $id names the type and version the file is stored as", "/$id");
      ok = false;
    }
    if (!ajv.validateSchema(record)) {
      for (const issue of toIssues(ajv.errors ?? [])) report(file.path, `not valid JSON Schema: ${issue.message}`, undefined, issue.pointer);
      ok = false;
    }
    if (candidate.closed) {
      for (const pointer of openObjects(record, "")) {
        report(file.path, "object schema is open: herald event and message schemas use a closed content model", 'add "additionalProperties": false', pointer);
        ok = false;
      }
    }
    if (!ok) continue;
    ajv.addSchema(record);
    registered.push({ candidate });
  }
  const valid = new Map<string, ValidSchema>();
  for (const { candidate } of registered) {
    try {
      ajv.getSchema(candidate.id);
      valid.set(candidate.id, { file: candidate.file, lockKey: candidate.lockKey, schema: candidate.file.value as JsonSchema });
    } catch (error) {
      report(candidate.file.path, `does not compile: ${(error as Error).message}`, "fix the schema (unknown keywords are errors in strict mode)");
    }
  }

  const schemaSet = buildSchemaSet(tree, valid, metas);
  const registry = new SchemaRegistry(schemaSet, { formats: "full" });

  // Examples: each a full envelope that validates, and at least one per version.
  let exampleCount = 0;
  for (const [type, files] of tree.events) {
    const covered = new Set<number>();
    for (const example of files.examples) {
      if (!parsed(example)) continue;
      exampleCount += 1;
      const named = typeof (example.value as { dataschema?: unknown })?.dataschema === "string"
        ? parseEventSchemaId((example.value as { dataschema: string }).dataschema)
        : undefined;
      if (named && named.type === type && files.versions.has(named.version) && !valid.has(eventSchemaId(type, named.version))) {
        continue; // its schema is invalid and already reported; validating against it would only add noise
      }
      try {
        const accepted = parseEvent(JSON.stringify(example.value), registry);
        if (accepted.event.type !== type) {
          report(example.path, `example is a "${accepted.event.type}" event but sits under ${files.dir}`, "move it to its type's examples/", "/type");
        } else covered.add(accepted.version);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        const issues = error.issues.length > 0 ? error.issues : [{ pointer: "", keyword: error.code, message: error.message }];
        for (const issue of issues) {
          report(example.path, `example does not validate (${error.code}): ${issue.message}`, "fix the example, or the schema if the example is right", issue.pointer);
        }
      }
    }
    for (const version of files.versions.keys()) {
      if (!covered.has(version) && valid.has(eventSchemaId(type, version))) {
        report(files.versions.get(version)!.path, `v${version} has no valid example`, `add ${files.dir}/examples/v${version}-<name>.json (a full CloudEvents envelope)`);
      }
    }
  }

  // Compatibility, per the type's declared mode, for every version against its predecessors.
  for (const [type, files] of tree.events) {
    const mode: CompatibilityMode = metas.get(type)?.compatibility ?? DEFAULT_COMPATIBILITY;
    const versions = [...files.versions.keys()].sort((a, b) => a - b);
    if (mode === "NONE" || versions.some((v) => !valid.has(eventSchemaId(type, v)))) continue;
    for (let k = 2; k <= versions.length; k += 1) {
      const upTo = versions.slice(0, k).map((version) => ({ version, schema: valid.get(eventSchemaId(type, version))!.schema }));
      const newest = versions[k - 1]!;
      for (const problem of checkCompatibility(mode, upTo)) {
        const direction =
          problem.direction === "backward"
            ? `consumers on v${newest} would reject events valid under v${problem.against}`
            : `consumers still on v${problem.against} would reject events valid under v${newest}`;
        report(
          files.versions.get(newest)!.path,
          `${mode} compatibility broken: ${problem.message} (${direction})`,
          "make the change compatible (add fields as optional, widen rather than narrow), or if the break is intended, introduce a new event type",
          problem.pointer,
        );
      }
    }
  }

  // Immutability: a published version's fingerprint never changes, and it is never deleted.
  const fingerprints = new Map<string, { file: string; fingerprint: string }>();
  for (const entry of valid.values()) {
    if (entry.lockKey) fingerprints.set(entry.lockKey, { file: entry.file.path, fingerprint: schemaFingerprint(entry.schema) });
  }
  const lockPath = `${tree.dir}/${LOCK_FILE}`;
  const lock = readLock(tree, report, (problem) => problems.push(problem));
  if (lock) {
    for (const [key, fingerprint] of Object.entries(lock.schemas)) {
      const current = fingerprints.get(key);
      const exists = fileExists(tree, key);
      if (!exists) {
        report(`${tree.dir}/${key}`, "a published version was deleted", "restore it: published versions are never removed (consumers and stored events still name it)");
      } else if (current && current.fingerprint !== fingerprint) {
        const nextVersion = nextVersionHint(tree, key);
        report(current.file, "a published version was edited so that what it accepts changed", `revert it and publish the change as ${nextVersion}`);
      }
    }
    for (const [key, { file }] of fingerprints) {
      if (!(key in lock.schemas)) {
        problems.push({ file, message: "not published yet: missing from the lock file", hint: `review it, then run \`herald schemas lock\` and commit ${lockPath}`, code: "not-locked" });
      }
    }
  }

  for (const check of extraChecks) problems.push(...check(schemaSet));

  const versionCount = [...tree.events.values()].reduce((sum, files) => sum + files.versions.size, 0);
  const messageCount = [...tree.messages.values()].reduce((sum, versions) => sum + versions.size, 0);
  return {
    problems,
    schemaSet,
    fingerprints,
    counts: { eventTypes: tree.events.size, versions: versionCount, examples: exampleCount, messageSchemas: messageCount },
  };
}

/** Pointers of object subschemas that leave additional properties open. */
function openObjects(schema: unknown, pointer: string): string[] {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return [];
  const record = schema as Record<string, unknown>;
  const found: string[] = [];
  const isObject = record.type === "object" || (Array.isArray(record.type) && record.type.includes("object")) || "properties" in record;
  if (isObject && record.additionalProperties === undefined && record.unevaluatedProperties !== false) found.push(pointer);
  if (isObject && record.additionalProperties === true) found.push(pointer);
  const visit = (value: unknown, at: string) => found.push(...openObjects(value, at));
  for (const keyword of ["properties", "$defs", "patternProperties"]) {
    const map = record[keyword];
    if (map && typeof map === "object") for (const [name, sub] of Object.entries(map)) visit(sub, `${pointer}/${keyword}/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`);
  }
  for (const keyword of ["items", "additionalProperties", "not", "if", "then", "else", "contains"]) {
    if (keyword in record) visit(record[keyword], `${pointer}/${keyword}`);
  }
  for (const keyword of ["allOf", "anyOf", "oneOf", "prefixItems"]) {
    const list = record[keyword];
    if (Array.isArray(list)) list.forEach((sub, index) => visit(sub, `${pointer}/${keyword}/${index}`));
  }
  return found;
}

function checkContiguous(versions: ReadonlyMap<number, unknown>, dir: string, report: (file: string, message: string, hint?: string) => void): void {
  const sorted = [...versions.keys()].sort((a, b) => a - b);
  sorted.forEach((version, index) => {
    if (version !== index + 1) report(`${dir}/v${version}.schema.json`, `versions must run v1, v2, ... without gaps; found v${version} where v${index + 1} was expected`, `rename it to v${index + 1}.schema.json`);
  });
}

function buildSchemaSet(tree: SchemaTree, valid: ReadonlyMap<string, ValidSchema>, metas: ReadonlyMap<string, EventTypeMeta>): SchemaSet {
  const envelope = valid.get(`${SCHEMA_BASE_URI}envelope.schema.json`)?.schema ?? { $id: `${SCHEMA_BASE_URI}envelope.schema.json`, not: {} };
  const events: Record<string, { meta: EventTypeMeta; versions: Record<number, JsonSchema> }> = {};
  for (const [type, files] of tree.events) {
    const versions: Record<number, JsonSchema> = {};
    for (const version of files.versions.keys()) {
      const entry = valid.get(eventSchemaId(type, version));
      if (entry) versions[version] = entry.schema;
    }
    if (Object.keys(versions).length > 0) {
      events[type] = { meta: metas.get(type) ?? { owner: "unknown", description: "" }, versions };
    }
  }
  const messages: Record<string, Record<number, JsonSchema>> = {};
  for (const [channel, files] of tree.messages) {
    for (const version of files.keys()) {
      const entry = valid.get(messageSchemaId(channel, version));
      if (entry) (messages[channel] ??= {})[version] = entry.schema;
    }
  }
  return { envelope, events, messages };
}

function readLock(
  tree: SchemaTree,
  report: (file: string, message: string, hint?: string) => void,
  push: (problem: Problem) => void,
): LockFile | undefined {
  const path = `${tree.dir}/${LOCK_FILE}`;
  if (!tree.lock) {
    push({ file: path, message: "the lock file is missing, so published versions are not protected", hint: "run `herald schemas lock` and commit it", code: "lock-missing" });
    return undefined;
  }
  if (tree.lock.error !== undefined) {
    report(tree.lock.path, tree.lock.error, "restore it from version control");
    return undefined;
  }
  const value = tree.lock.value as Partial<LockFile> | undefined;
  if (!value || value.lockfileVersion !== 1 || typeof value.schemas !== "object" || value.schemas === null) {
    report(tree.lock.path, "not a herald lock file (expected lockfileVersion 1 and a schemas map)", "restore it from version control");
    return undefined;
  }
  return value as LockFile;
}

function fileExists(tree: SchemaTree, lockKey: string): boolean {
  const [kind, name, file] = lockKey.split("/");
  const version = Number(/^v(\d+)\./.exec(file ?? "")?.[1]);
  if (kind === "events") return tree.events.get(name ?? "")?.versions.has(version) ?? false;
  return tree.messages.get(name ?? "")?.has(version) ?? false;
}

function nextVersionHint(tree: SchemaTree, lockKey: string): string {
  const [kind, name] = lockKey.split("/");
  const versions = kind === "events" ? tree.events.get(name ?? "")?.versions : tree.messages.get(name ?? "");
  const next = Math.max(0, ...(versions ? versions.keys() : [])) + 1;
  return kind === "events" ? `v${next} (\`herald schemas new-version ${name}\`)` : `v${next}`;
}

/** Adds every valid, not yet locked schema to the lock; never rewrites a locked fingerprint. */
export function extendLock(current: LockFile | undefined, fingerprints: SchemaCheck["fingerprints"]): { lock: LockFile; added: string[] } {
  const schemas: Record<string, string> = { ...(current?.schemas ?? {}) };
  const added: string[] = [];
  for (const [key, { fingerprint }] of [...fingerprints].sort(([a], [b]) => a.localeCompare(b))) {
    if (!(key in schemas)) {
      schemas[key] = fingerprint;
      added.push(key);
    }
  }
  const sorted = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
  return { lock: { lockfileVersion: 1, schemas: sorted }, added };
}
