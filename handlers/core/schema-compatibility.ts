/**
 * Schema compatibility: decides, conservatively, whether every instance valid under one
 * JSON Schema (draft 2020-12, as Ajv 2020 + ajv-formats validates it) is valid under another.
 *
 * The checker is built to be SOUND rather than complete: an empty list of problems is a proof
 * of `sub ⊆ sup`, while a non-empty list only means "not proven". Two rules keep it that way:
 *
 * - a constraint in `sub` that the checker does not understand may be ignored, because dropping
 *   a constraint only makes `sub` larger (proving a larger set is contained proves the original);
 * - a constraint in `sup` must be shown to follow from `sub`, or it becomes a problem. The one
 *   general shortcut is identity: a keyword (or interdependent keyword group) that is equal in
 *   `sub` and `sup` at the same place is implied.
 *
 * Where both sides are finite (enum/const in `sub`, or a `sub` that can only be null/boolean) the
 * listed values are validated against `sup` with Ajv, which is exact.
 *
 * Semantics assumed: plain validation with Ajv2020 + ajv-formats (full formats). Ajv options that
 * rewrite data (coerceTypes, useDefaults, removeAdditional) are outside this model.
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { ErrorObject } from "ajv";

/** A JSON Schema document or subschema: boolean, or an object of keywords. */
export type JsonSchema = boolean | { [k: string]: unknown };

// The modes are declared once, with the rest of the schema metadata.
import { COMPATIBILITY_MODES, type CompatibilityMode } from "./schema-set";
export { COMPATIBILITY_MODES, type CompatibilityMode };

/** One reason the checker could not prove containment. */
export interface CompatibilityProblem {
  /**
   * JSON pointer into the schema that would reject the instance (the `sup` side), at the keyword
   * that is violated, e.g. `/properties/carrier/enum`. When the violation is that a keyword or
   * property is missing on that side (a removed field), the pointer names the place it would be.
   */
  pointer: string;
  /** Plain English, naming both version labels. */
  message: string;
}

type SchemaObject = { [k: string]: unknown };

// ---------------------------------------------------------------------------------------------
// Keyword tables
// ---------------------------------------------------------------------------------------------

/** Keywords that never reject an instance (or only steer `$ref` resolution, which we do ourselves). */
const ANNOTATION_KEYWORDS = new Set([
  "title",
  "description",
  "examples",
  "default",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$comment",
  "$schema",
  "$id",
  "$anchor",
  "$dynamicAnchor",
  "$recursiveAnchor",
  "$vocabulary",
  "$defs",
  "definitions",
  "contentMediaType",
  "contentEncoding",
  "contentSchema",
]);

// Where subschemas live; used to walk a schema without mistaking data (enum/const values) for schemas.
const SINGLE_SCHEMA_KEYWORDS = new Set([
  "additionalProperties",
  "propertyNames",
  "items",
  "additionalItems",
  "contains",
  "not",
  "if",
  "then",
  "else",
  "unevaluatedProperties",
  "unevaluatedItems",
  "contentSchema",
]);
const SCHEMA_MAP_KEYWORDS = new Set(["properties", "patternProperties", "dependentSchemas", "$defs", "definitions", "dependencies"]);
const SCHEMA_ARRAY_KEYWORDS = new Set(["allOf", "anyOf", "oneOf", "prefixItems", "items"]);

/**
 * Keywords whose meaning depends on siblings. They are compared, dropped and merged only as a
 * whole group: e.g. `additionalProperties` means something different next to other `properties`.
 */
const KEYWORD_GROUPS: ReadonlyArray<readonly string[]> = [
  ["properties", "patternProperties", "additionalProperties"],
  ["prefixItems", "items"],
  ["contains", "minContains", "maxContains"],
  ["if", "then", "else"],
];
const GROUP_OF = new Map<string, readonly string[]>();
for (const group of KEYWORD_GROUPS) for (const k of group) GROUP_OF.set(k, group);

const UNEVALUATED = ["unevaluatedProperties", "unevaluatedItems"];
const IN_PLACE = ["$ref", "allOf", "anyOf", "oneOf"];

// ajv-formats applies these to numbers; every other known format applies to strings only.
const NUMBER_FORMATS = new Set(["int32", "int64", "float", "double"]);
const STRING_FORMATS = new Set([
  "date", "time", "date-time", "iso-time", "iso-date-time", "duration", "uri", "uri-reference", "uri-template",
  "url", "email", "hostname", "ipv4", "ipv6", "regex", "uuid", "json-pointer", "json-pointer-uri-fragment",
  "relative-json-pointer", "byte", "password", "binary",
]);

// Bound keywords whose conjunction is simply the tighter bound.
const TAKE_MAX = new Set(["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"]);
const TAKE_MIN = new Set(["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"]);

// Bounds on the work done, so a pathological schema yields "cannot prove" instead of a hang.
const MAX_STEPS = 20_000;
const MAX_NESTING = 200;
const MAX_TRIMMED_COMPILES = 100;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function isObject(v: unknown): v is SchemaObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function isSchema(v: unknown): v is JsonSchema {
  return typeof v === "boolean" || isObject(v);
}
function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}
function has(o: SchemaObject, k: string): boolean {
  return hasOwn(o, k) && o[k] !== undefined;
}
function nonAnnotationKeys(o: SchemaObject): string[] {
  return Object.keys(o).filter((k) => !ANNOTATION_KEYWORDS.has(k) && o[k] !== undefined);
}
/** True for schemas that accept everything (`true`, `{}`, annotation-only objects). */
function isTrivial(s: JsonSchema): boolean {
  return s === true || (isObject(s) && nonAnnotationKeys(s).length === 0);
}
function omit(o: SchemaObject, keys: readonly string[]): SchemaObject {
  const out: SchemaObject = {};
  for (const k of Object.keys(o)) if (!keys.includes(k)) out[k] = o[k];
  return out;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
function escapePointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}
function schemaArray(v: unknown): JsonSchema[] | undefined {
  return Array.isArray(v) && v.every(isSchema) ? (v as JsonSchema[]) : undefined;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as SchemaObject;
  const bo = b as SchemaObject;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => hasOwn(bo, k) && deepEqual(ao[k], bo[k]));
}
/** Order-insensitive equality, for keywords whose arrays are sets (`enum`, `required`, `type`). */
function sameSet(a: unknown, b: unknown): boolean {
  const aa = Array.isArray(a) ? a : [a];
  const bb = Array.isArray(b) ? b : [b];
  return aa.every((x) => bb.some((y) => deepEqual(x, y))) && bb.every((y) => aa.some((x) => deepEqual(x, y)));
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function idOf(s: JsonSchema): string {
  if (typeof s === "boolean") return String(s);
  let id = objectIds.get(s);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(s, id);
  }
  return `#${id}`;
}

/** Calls `fn` on every subschema reachable through schema keywords (not through data such as enum values). */
function forEachSubschema(schema: JsonSchema, fn: (s: SchemaObject, isRoot: boolean) => void, isRoot = true): void {
  if (!isObject(schema)) return;
  fn(schema, isRoot);
  for (const [k, v] of Object.entries(schema)) {
    if (SINGLE_SCHEMA_KEYWORDS.has(k) && isSchema(v)) forEachSubschema(v, fn, false);
    if (SCHEMA_MAP_KEYWORDS.has(k) && isObject(v)) for (const x of Object.values(v)) if (isSchema(x)) forEachSubschema(x, fn, false);
    if (SCHEMA_ARRAY_KEYWORDS.has(k) && Array.isArray(v)) for (const x of v) if (isSchema(x)) forEachSubschema(x, fn, false);
  }
}

/** Copy of a schema with every `$ref` passed through `fn`. */
function mapRefs(schema: JsonSchema, fn: (ref: string) => string): JsonSchema {
  if (!isObject(schema)) return schema;
  const out: SchemaObject = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref" && typeof v === "string") out[k] = fn(v);
    else if (SINGLE_SCHEMA_KEYWORDS.has(k) && isSchema(v)) out[k] = mapRefs(v, fn);
    else if (SCHEMA_MAP_KEYWORDS.has(k) && isObject(v)) {
      const m: SchemaObject = {};
      for (const [name, x] of Object.entries(v)) m[name] = isSchema(x) ? mapRefs(x, fn) : x;
      out[k] = m;
    } else if (SCHEMA_ARRAY_KEYWORDS.has(k) && Array.isArray(v)) out[k] = v.map((x) => (isSchema(x) ? mapRefs(x, fn) : x));
    else out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-root facts, $ref resolution and cached Ajv validators
// ---------------------------------------------------------------------------------------------

/** `threw` marks a validator that crashed (e.g. a $ref loop): neither accepted nor rejected. */
type ValueCheck = (value: unknown) => { ok: true } | { ok: false; error: ErrorObject | undefined; threw?: true };

interface RootInfo {
  /**
   * False when a nested `$id` (which re-bases `#/...` references below it) or a dynamic reference
   * makes our plain JSON-pointer resolution unreliable; such refs are then ignored in `sub`
   * (enlarging it) and unprovable in `sup`.
   */
  readonly refsResolvable: boolean;
  readonly baseId: string;
  ajv: Ajv2020 | undefined;
  addError: Error | undefined;
  readonly validators: WeakMap<object, ValueCheck | Error>;
}

const rootInfos = new WeakMap<object, RootInfo>();
const DEFAULT_BASE_ID = "urn:herald:schema-compatibility:root";

function rootInfo(root: SchemaObject): RootInfo {
  let info = rootInfos.get(root);
  if (info) return info;
  let nestedId = false;
  let dynamic = false;
  forEachSubschema(root, (s, isRoot) => {
    if (!isRoot && typeof s.$id === "string") nestedId = true;
    if (has(s, "$dynamicRef") || has(s, "$recursiveRef")) dynamic = true;
  });
  const id = typeof root.$id === "string" ? root.$id.replace(/#$/, "") : "";
  info = {
    refsResolvable: !nestedId && !dynamic,
    baseId: /^[a-z][a-z0-9+.-]*:/i.test(id) ? id : DEFAULT_BASE_ID,
    ajv: undefined,
    addError: undefined,
    validators: new WeakMap(),
  };
  rootInfos.set(root, info);
  return info;
}

function refsResolvable(root: JsonSchema): boolean {
  return isObject(root) ? rootInfo(root).refsResolvable : true;
}

/** Resolves a same-document JSON-pointer `$ref` ("#", "#/$defs/x"); anything else is `undefined`. */
function resolveRef(root: JsonSchema, ref: unknown): { schema: JsonSchema; ptr: string } | undefined {
  if (typeof ref !== "string" || !ref.startsWith("#") || !refsResolvable(root)) return undefined;
  let fragment: string;
  try {
    fragment = decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
  if (fragment === "") return { schema: root, ptr: "" };
  if (!fragment.startsWith("/")) return undefined; // plain-name anchors are not resolved
  let cur: unknown = root;
  for (const raw of fragment.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (isObject(cur) && hasOwn(cur, seg)) cur = cur[seg];
    else return undefined;
  }
  return isSchema(cur) ? { schema: cur, ptr: fragment } : undefined;
}

function ajvFor(root: SchemaObject, info: RootInfo): Ajv2020 | Error {
  if (info.addError) return info.addError;
  if (info.ajv) return info.ajv;
  // One Ajv per root: versions of one schema usually share an $id, which one instance would reject.
  // Validators here run a handful of times each, so compile speed beats optimised code.
  const ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: false, logger: false, code: { optimize: false } });
  addFormats(ajv);
  try {
    // All documents are treated as 2020-12, whatever $schema says.
    ajv.addSchema({ ...omit(root, ["$schema"]), $id: info.baseId });
    info.ajv = ajv;
    return ajv;
  } catch (e) {
    info.addError = e instanceof Error ? e : new Error(String(e));
    return info.addError;
  }
}

/**
 * A validator for `schema`, a subschema of `root` (references resolve against `root`). Compiled
 * once per (root, subschema object) pair, because the same subschema object may be shared by two
 * roots whose `$defs` differ.
 */
function validatorFor(root: JsonSchema, schema: JsonSchema): ValueCheck | Error {
  if (typeof schema === "boolean") {
    return schema ? () => ({ ok: true }) : () => ({ ok: false, error: undefined });
  }
  if (typeof root === "boolean") return new Error("subschema of a boolean root");
  const info = rootInfo(root);
  const cached = info.validators.get(schema);
  if (cached) return cached;
  let result: ValueCheck | Error;
  try {
    const ajv = ajvFor(root, info);
    if (ajv instanceof Error) throw ajv;
    let validate;
    if (schema === root) {
      validate = ajv.getSchema(info.baseId);
      if (!validate) throw new Error("root schema did not compile");
    } else {
      // A subschema compiled on its own must still find the root's $defs, so local references
      // are made absolute against the root's id; nested $id would make that rewrite wrong.
      if (!info.refsResolvable) throw new Error("subschema uses nested $id or dynamic references");
      const rewritten = mapRefs(omit(schema, ["$id", "$schema"]), (ref) => {
        if (ref.startsWith("#")) return info.baseId + ref;
        try {
          return new URL(ref, info.baseId).href;
        } catch {
          return ref;
        }
      });
      validate = ajv.compile(rewritten as SchemaObject);
    }
    const fn = validate;
    result = (value: unknown) => {
      try {
        return fn(value) ? { ok: true } : { ok: false, error: fn.errors?.[0] ?? undefined };
      } catch {
        return { ok: false, error: undefined, threw: true };
      }
    };
  } catch (e) {
    result = e instanceof Error ? e : new Error(String(e));
  }
  info.validators.set(schema, result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Schema identity (semantic enough to see through $ref, blind to annotations)
// ---------------------------------------------------------------------------------------------

interface SameCtx {
  readonly aRoot: JsonSchema;
  readonly bRoot: JsonSchema;
  readonly visited: Set<string>;
}

function sameSchema(a: JsonSchema, b: JsonSchema, ctx: SameCtx): boolean {
  if (a === b && ctx.aRoot === ctx.bRoot) return true;
  if (isTrivial(a) && isTrivial(b)) return true;
  if (typeof a === "boolean" || typeof b === "boolean") return a === b;
  const ak = nonAnnotationKeys(a);
  const bk = nonAnnotationKeys(b);
  if (ak.length !== bk.length || !ak.every((k) => has(b, k))) return false;
  return ak.every((k) => sameKeyword(k, a[k], b[k], ctx));
}

function sameKeyword(k: string, av: unknown, bv: unknown, ctx: SameCtx): boolean {
  if (k === "$ref") return sameRef(av, bv, ctx);
  // Dynamic scope can differ between documents even when the text is equal.
  if (k === "$dynamicRef" || k === "$recursiveRef") return false;
  if (k === "type" || k === "enum" || k === "required") return sameSet(av, bv);
  if (k === "dependentRequired") {
    if (!isObject(av) || !isObject(bv)) return deepEqual(av, bv);
    const keys = Object.keys(av);
    return keys.length === Object.keys(bv).length && keys.every((x) => hasOwn(bv, x) && sameSet(av[x], bv[x]));
  }
  if (SINGLE_SCHEMA_KEYWORDS.has(k) && isSchema(av) && isSchema(bv)) return sameSchema(av, bv, ctx);
  if (SCHEMA_MAP_KEYWORDS.has(k) && isObject(av) && isObject(bv)) {
    const keys = Object.keys(av);
    if (keys.length !== Object.keys(bv).length) return false;
    return keys.every((x) => {
      const ax = av[x];
      const bx = bv[x];
      return hasOwn(bv, x) && (isSchema(ax) && isSchema(bx) ? sameSchema(ax, bx, ctx) : deepEqual(ax, bx));
    });
  }
  if (SCHEMA_ARRAY_KEYWORDS.has(k) && Array.isArray(av) && Array.isArray(bv)) {
    return (
      av.length === bv.length &&
      av.every((ax: unknown, i) => {
        const bx: unknown = bv[i];
        return isSchema(ax) && isSchema(bx) ? sameSchema(ax, bx, ctx) : deepEqual(ax, bx);
      })
    );
  }
  return deepEqual(av, bv);
}

function sameRef(a: unknown, b: unknown, ctx: SameCtx): boolean {
  const ta = resolveRef(ctx.aRoot, a);
  const tb = resolveRef(ctx.bRoot, b);
  if (ta && tb) {
    // Equal unfoldings are equal schemas, so a pair that is still being compared further up may
    // be assumed equal. Only while it is on that stack: a finished pair may have compared unequal.
    const key = `${ta.ptr}\u0000${tb.ptr}`;
    if (ctx.visited.has(key)) return true;
    ctx.visited.add(key);
    try {
      return sameSchema(ta.schema, tb.schema, ctx);
    } finally {
      ctx.visited.delete(key);
    }
  }
  if (ta || tb) return false;
  // Unresolvable on both sides: equal only if it is the same absolute URI, which both
  // documents' validators resolve to the same registered schema.
  return typeof a === "string" && a === b && /^[a-z][a-z0-9+.-]*:/i.test(a);
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

type JsonType = "null" | "boolean" | "object" | "array" | "string" | "number" | "integer";
const ALL_TYPES: readonly JsonType[] = ["null", "boolean", "object", "array", "string", "number"];
const TYPE_NAMES = new Set<string>([...ALL_TYPES, "integer"]);

/** Types a schema object's `type` (plus Ajv's `nullable`) lets through; `number` subsumes `integer`. */
function typeSet(s: SchemaObject): Set<JsonType> | undefined {
  const t = s.type;
  if (t === undefined) return undefined;
  const list = Array.isArray(t) ? t : [t];
  if (!list.every((x) => typeof x === "string" && TYPE_NAMES.has(x))) return undefined;
  const set = new Set(list as JsonType[]);
  if (s.nullable === true) set.add("null");
  if (set.has("number")) set.delete("integer");
  return set;
}
/** Over-approximation of the types `sub` admits: unknown or invalid `type` means any type. */
function subTypes(s: SchemaObject): Set<JsonType> {
  return typeSet(s) ?? new Set(ALL_TYPES);
}
function typeAccepted(t: JsonType, sup: Set<JsonType>): boolean {
  return t === "integer" ? sup.has("integer") || sup.has("number") : sup.has(t);
}
function intersectTypes(a: unknown, b: unknown): JsonType[] | undefined {
  const ta = typeSet({ type: a });
  const tb = typeSet({ type: b });
  if (!ta || !tb) return undefined;
  const out = new Set<JsonType>();
  for (const t of ta) {
    if (tb.has(t)) out.add(t);
    else if ((t === "number" && tb.has("integer")) || (t === "integer" && tb.has("number"))) out.add("integer");
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// The containment check
// ---------------------------------------------------------------------------------------------

/**
 * The `sub` side at one position. `schema` over-approximates the instances being considered (it
 * may be a synthetic merge or a conjunct); `real` is a genuine subschema of the sub root that also
 * contains them, used for exact Ajv filtering of enumerated values.
 */
interface SubSide {
  readonly schema: JsonSchema;
  readonly real: JsonSchema;
}
/**
 * The `sup` side at one position. `schema` may be a synthetic copy with implied keywords removed;
 * `real` is the genuine subschema of the sup root it came from (never looser than `schema`), which
 * is what Ajv validates against; `ptr` locates it in the sup document.
 */
interface SupSide {
  readonly schema: JsonSchema;
  readonly real: JsonSchema;
  readonly ptr: string;
}
/** Where we are in the instance: `depth` counts structural descents (what makes recursion sound). */
interface Pos {
  readonly depth: number;
  readonly path: readonly string[];
}
interface Ctx {
  readonly subRoot: JsonSchema;
  readonly supRoot: JsonSchema;
  readonly labels: { readonly sub: string; readonly sup: string };
  /** Statements currently being proven, with the structural depth at which each was entered. */
  readonly active: Map<string, number>;
  steps: number;
  nesting: number;
  /** Validators compiled for trimmed (synthetic) sup schemas; these cannot be cached, so they are rationed. */
  trimmedCompiles: number;
}

function child(pos: Pos, segment: string): Pos {
  return { depth: pos.depth + 1, path: [...pos.path, segment] };
}
function formatPath(path: readonly string[]): string {
  return path.reduce((acc, seg) => (seg.startsWith("[") ? acc + seg : acc ? `${acc}.${seg}` : seg), "");
}
function where(pos: Pos): string {
  if (pos.path.length === 0) return "";
  const p = formatPath(pos.path);
  return p.startsWith("[") ? `element "${p}": ` : `property "${p}": `;
}
function propertyLabel(pos: Pos, name: string): string {
  return formatPath([...pos.path, name]);
}
function cannotProve(ctx: Ctx, ptr: string, pos: Pos, keyword: string): CompatibilityProblem {
  return {
    pointer: `${ptr}/${escapePointer(keyword)}`,
    message:
      `${where(pos)}keyword "${keyword}" changed between ${ctx.labels.sub} and ${ctx.labels.sup}; ` +
      "the checker cannot prove compatibility — publish as a new version with mode NONE or keep it identical",
  };
}

/** Entry point of the recursion: proves `s ⊆ p` or explains why it could not. */
function checkSub(ctx: Ctx, s: SubSide, p: SupSide, pos: Pos): CompatibilityProblem[] {
  if (p.schema === true || s.schema === false) return [];
  if (isObject(p.schema) && nonAnnotationKeys(p.schema).length === 0) return [];
  if (++ctx.steps > MAX_STEPS || ctx.nesting >= MAX_NESTING) {
    return [
      {
        pointer: p.ptr,
        message: `${where(pos)}the schemas are too complex for the checker to prove that ${ctx.labels.sub} is compatible with ${ctx.labels.sup}`,
      },
    ];
  }
  // Recursive schemas: meeting the same statement again after descending into a child value is
  // an inductive hypothesis (instances are finite, children are strictly smaller), so it may be
  // assumed. Meeting it again without descending would be circular, so that is not proven.
  const key = `${idOf(s.schema)}|${idOf(s.real)}|${idOf(p.schema)}|${idOf(p.real)}`;
  const enteredAt = ctx.active.get(key);
  if (enteredAt !== undefined) {
    if (pos.depth > enteredAt) return [];
    return [
      {
        pointer: p.ptr,
        message: `${where(pos)}a $ref cycle without nesting stops the checker from proving that ${ctx.labels.sub} is compatible with ${ctx.labels.sup}`,
      },
    ];
  }
  ctx.active.set(key, pos.depth);
  ctx.nesting++;
  try {
    return checkSubInner(ctx, s, p, pos);
  } finally {
    ctx.active.delete(key);
    ctx.nesting--;
  }
}

function checkSubInner(ctx: Ctx, s: SubSide, p: SupSide, pos: Pos): CompatibilityProblem[] {
  const sub: SchemaObject = s.schema === true ? {} : normalizeNullable(s.schema as SchemaObject);
  if (p.schema === false) {
    return [{ pointer: p.ptr, message: `${where(pos)}${ctx.labels.sup} rejects every value here (schema false) but ${ctx.labels.sub} accepts some` }];
  }
  const supObj = dropImplied(ctx, sub, normalizeNullable(p.schema as SchemaObject));
  if (nonAnnotationKeys(supObj).length === 0) return [];
  const sup: SupSide = { schema: supObj, real: p.real, ptr: p.ptr };

  const expanded = expandSub(ctx, sub, s.real, sup, pos);
  if (expanded) return expanded;

  const values = finiteValues(sub);
  if (values) return checkValues(ctx, values, s.real, sup, pos);
  return checkSup(ctx, sub, s.real, sup, pos);
}

/**
 * Folds Ajv's OpenAPI-style `nullable: true` into `type`, because `type` alone would otherwise
 * look identical on both sides while `nullable` silently widens one of them.
 */
function normalizeNullable(o: SchemaObject): SchemaObject {
  if (!has(o, "nullable")) return o;
  const out = omit(o, ["nullable"]);
  if (o.nullable === true && has(o, "type")) {
    const types: unknown[] = Array.isArray(o.type) ? o.type : [o.type];
    out.type = types.includes("null") ? types : [...types, "null"];
  }
  return out;
}

/**
 * Removes from `sup` every keyword (group) that `sub` has identically: `sub ⊆ {k: v}` whenever
 * `sub` itself asserts `k: v`. Not done next to `unevaluated*`, whose meaning depends on every
 * other applicator in the object.
 */
function dropImplied(ctx: Ctx, sub: SchemaObject, sup: SchemaObject): SchemaObject {
  const same: SameCtx = { aRoot: ctx.subRoot, bRoot: ctx.supRoot, visited: new Set() };
  const keys = nonAnnotationKeys(sup);
  if (keys.some((k) => UNEVALUATED.includes(k))) return sameSchema(sub, sup, same) ? {} : sup;
  const drop: string[] = [];
  for (const k of keys) {
    if (drop.includes(k)) continue;
    const group = GROUP_OF.get(k);
    if (group) {
      const identical = group.every((g) =>
        has(sup, g) ? has(sub, g) && sameKeyword(g, sub[g], sup[g], same) : !has(sub, g),
      );
      if (identical) drop.push(...group.filter((g) => has(sup, g)));
    } else if (has(sub, k) && sameKeyword(k, sub[k], sup[k], same)) {
      drop.push(k);
    }
  }
  return drop.length === 0 ? sup : omit(sup, drop);
}

/**
 * Splits a `sub` that uses in-place applicators into plain pieces: `$ref`/`allOf` are
 * conjunctions, `anyOf`/`oneOf` disjunctions (treating `oneOf` as `anyOf` only enlarges `sub`).
 * Returns `undefined` when `sub` is already plain.
 */
function expandSub(ctx: Ctx, sub: SchemaObject, real: JsonSchema, p: SupSide, pos: Pos): CompatibilityProblem[] | undefined {
  const applicator = IN_PLACE.find((k) => has(sub, k));
  if (!applicator) return undefined;
  // unevaluated* would change meaning once applicators are split off; dropping it only enlarges sub.
  const rest = omit(sub, [applicator, ...UNEVALUATED]);
  if (applicator === "$ref") {
    const target = resolveRef(ctx.subRoot, sub.$ref);
    // An unresolvable reference is ignored: that only enlarges sub.
    if (!target) return checkConjunction(ctx, [rest], real, p, pos);
    if (isTrivial(rest)) return checkSub(ctx, { schema: target.schema, real: target.schema }, p, pos);
    return checkConjunction(ctx, [target.schema, rest], real, p, pos);
  }
  const branches = schemaArray(sub[applicator]);
  if (!branches) return checkConjunction(ctx, [rest], real, p, pos);
  if (applicator === "allOf") return checkConjunction(ctx, [...branches, rest], real, p, pos);
  const problems: CompatibilityProblem[] = [];
  for (const branch of branches) problems.push(...checkConjunction(ctx, [branch, rest], real, p, pos));
  return dedupe(problems);
}

/** Proves `(part1 ∧ part2 ∧ …) ⊆ sup`: merged if the parts combine, else via any single part. */
function checkConjunction(ctx: Ctx, parts: JsonSchema[], real: JsonSchema, p: SupSide, pos: Pos): CompatibilityProblem[] {
  const live = parts.filter((x) => !isTrivial(x));
  if (live.some((x) => x === false)) return [];
  const [first] = live;
  if (first === undefined) return checkSub(ctx, { schema: true, real }, p, pos);
  if (live.length === 1) return checkSub(ctx, { schema: first, real }, p, pos);
  const merged = mergeConjuncts(live as SchemaObject[]);
  if (merged !== undefined) return checkSub(ctx, { schema: merged, real }, p, pos);
  // Each part contains the conjunction, so proving any one of them is enough.
  let best: CompatibilityProblem[] | undefined;
  for (const part of live) {
    const r = checkSub(ctx, { schema: part, real }, p, pos);
    if (r.length === 0) return [];
    if (!best || r.length < best.length) best = r;
  }
  return best ?? [];
}

/**
 * One schema object equivalent to (or larger than) the conjunction of `parts`, or `undefined`
 * when they cannot be combined safely (conflicting keywords, sibling-dependent groups split
 * across parts).
 */
function mergeConjuncts(rawParts: SchemaObject[]): JsonSchema | undefined {
  const parts = rawParts.map(normalizeNullable);
  for (const group of KEYWORD_GROUPS) {
    const owners = parts.filter((part) => group.some((k) => has(part, k)));
    const [firstOwner, ...others] = owners;
    if (firstOwner && others.some((o) => group.some((k) => !deepEqual(firstOwner[k], o[k])))) return undefined;
  }
  const out: SchemaObject = {};
  for (const part of parts) {
    for (const k of nonAnnotationKeys(part)) {
      const v = part[k];
      if (!has(out, k) || deepEqual(out[k], v)) {
        out[k] = v;
        continue;
      }
      const cur = out[k];
      if (k === "required" && Array.isArray(cur) && Array.isArray(v)) out[k] = [...new Set([...cur, ...v])];
      else if (k === "allOf" && Array.isArray(cur) && Array.isArray(v)) out[k] = [...cur, ...v];
      else if (k === "type") {
        const t = intersectTypes(cur, v);
        if (!t) return undefined;
        if (t.length === 0) return false;
        out[k] = t;
      } else if (k === "enum" && Array.isArray(cur) && Array.isArray(v)) out[k] = cur.filter((x) => v.some((y) => deepEqual(x, y)));
      else if (k === "const") return false; // two different constants: nothing satisfies both
      else if (TAKE_MAX.has(k) && num(cur) !== undefined && num(v) !== undefined) out[k] = Math.max(cur as number, v as number);
      else if (TAKE_MIN.has(k) && num(cur) !== undefined && num(v) !== undefined) out[k] = Math.min(cur as number, v as number);
      else return undefined;
    }
  }
  return out;
}

/** The complete list of values a plain `sub` can take, when it is finite and easy to list. */
function finiteValues(sub: SchemaObject): unknown[] | undefined {
  if (hasOwn(sub, "const")) return [sub.const];
  if (Array.isArray(sub.enum)) return sub.enum;
  const types = typeSet(sub);
  if (!types || [...types].some((t) => t !== "null" && t !== "boolean")) return undefined;
  return [...(types.has("null") ? [null] : []), ...(types.has("boolean") ? [true, false] : [])];
}

/** Exact check for a finite `sub`: every value it admits must pass Ajv on `sup`. */
function checkValues(ctx: Ctx, values: unknown[], subReal: JsonSchema, p: SupSide, pos: Pos): CompatibilityProblem[] {
  // The genuine sup subschema is cached and never looser than the trimmed one; the trimmed one
  // (compiled per call) is the fallback when the genuine one cannot compile or rejects a value.
  const realCheck = validatorFor(ctx.supRoot, p.real);
  let trimmed: ValueCheck | Error | undefined;
  const trimmedCheck = (): ValueCheck | Error =>
    (trimmed ??=
      p.schema === p.real
        ? realCheck
        : ctx.trimmedCompiles++ < MAX_TRIMMED_COMPILES
          ? validatorFor(ctx.supRoot, p.schema)
          : new Error("too many values to validate"));
  const supCheck: ValueCheck | Error =
    realCheck instanceof Error
      ? trimmedCheck()
      : (value) => {
          const r = realCheck(value);
          if (r.ok) return r;
          const t = trimmedCheck();
          return t instanceof Error || !t(value).ok ? r : { ok: true };
        };
  if (supCheck instanceof Error) {
    return [
      {
        pointer: p.ptr,
        message: `${where(pos)}values accepted by ${ctx.labels.sub} could not be validated against ${ctx.labels.sup} (${supCheck.message}), so compatibility is not proven`,
      },
    ];
  }
  // Values the sub schema itself rejects are not instances of it; if it cannot be compiled, keep them all.
  const subCheck = validatorFor(ctx.subRoot, subReal);
  const problems: CompatibilityProblem[] = [];
  for (const value of values) {
    if (!(subCheck instanceof Error)) {
      const r = subCheck(value);
      if (!r.ok && !r.threw) continue;
    }
    const r = supCheck(value);
    if (r.ok) continue;
    const keyword = r.error?.keyword;
    const reason =
      keyword === "enum" ? "enum narrowed" : keyword === "const" ? "const changed" : keyword === "type" ? "type changed" : keyword ? `${keyword} fails` : "rejected";
    const atTop = r.error !== undefined && r.error.instancePath === "" && isObject(p.real) && keyword !== undefined && has(p.real, keyword);
    problems.push({
      pointer: atTop ? `${p.ptr}/${escapePointer(keyword)}` : p.ptr,
      message: `${where(pos)}value ${JSON.stringify(value)} accepted by ${ctx.labels.sub} is rejected by ${ctx.labels.sup} (${reason})`,
    });
  }
  return problems;
}

/**
 * `sub` is plain here (no in-place applicators, no finite value list): every remaining keyword
 * of `sup` is matched against what `sub` guarantees. Keywords are independent conjuncts (or
 * handled as groups), so each can be proven on its own.
 */
function checkSup(ctx: Ctx, sub: SchemaObject, subReal: JsonSchema, p: SupSide, pos: Pos): CompatibilityProblem[] {
  const sup = p.schema as SchemaObject;
  const types = subTypes(sub);
  const can = {
    object: types.has("object"),
    array: types.has("array"),
    string: types.has("string"),
    number: types.has("number") || types.has("integer"),
  };
  const problems: CompatibilityProblem[] = [];
  const handled = new Set<string>();
  const handle = (...keys: string[]) => keys.forEach((k) => handled.add(k));
  const { labels } = ctx;

  // unevaluated*: only identity proves them (dropImplied already tried); irrelevant for other types.
  handle(...UNEVALUATED);
  if (has(sup, "unevaluatedProperties") && can.object) problems.push(cannotProve(ctx, p.ptr, pos, "unevaluatedProperties"));
  if (has(sup, "unevaluatedItems") && can.array) problems.push(cannotProve(ctx, p.ptr, pos, "unevaluatedItems"));

  // In-place applicators of sup.
  handle("$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$dynamicRef", "$recursiveRef");
  if (has(sup, "$ref")) {
    const target = resolveRef(ctx.supRoot, sup.$ref);
    if (!target) problems.push(cannotProve(ctx, p.ptr, pos, "$ref"));
    else problems.push(...checkSub(ctx, { schema: sub, real: subReal }, { schema: target.schema, real: target.schema, ptr: target.ptr }, pos));
  }
  if (has(sup, "allOf")) {
    const branches = schemaArray(sup.allOf);
    if (!branches) problems.push(cannotProve(ctx, p.ptr, pos, "allOf"));
    else
      branches.forEach((b, i) =>
        problems.push(...checkSub(ctx, { schema: sub, real: subReal }, { schema: b, real: b, ptr: `${p.ptr}/allOf/${i}` }, pos)),
      );
  }
  if (has(sup, "anyOf")) problems.push(...checkAnyOf(ctx, sub, subReal, p, pos));
  for (const k of ["oneOf", "not", "$dynamicRef", "$recursiveRef"]) if (has(sup, k)) problems.push(cannotProve(ctx, p.ptr, pos, k));
  // `then`/`else` without `if`, or `if` alone, assert nothing.
  if (has(sup, "if") && (has(sup, "then") || has(sup, "else"))) problems.push(cannotProve(ctx, p.ptr, pos, "if"));

  // type (Ajv's OpenAPI-style `nullable` widens it).
  handle("type", "nullable");
  if (has(sup, "type")) {
    const supTypes = typeSet(sup);
    if (!supTypes) problems.push(cannotProve(ctx, p.ptr, pos, "type"));
    else {
      const rejected = [...types].filter((t) => !typeAccepted(t, supTypes));
      if (rejected.length > 0) {
        problems.push({
          pointer: `${p.ptr}/type`,
          message: `${where(pos)}${rejected.map((t) => `type "${t}"`).join(", ")} accepted by ${labels.sub} ${rejected.length > 1 ? "are" : "is"} rejected by ${labels.sup} (type changed to ${[...supTypes].join("|")})`,
        });
      }
    }
  }

  // A value list in sup cannot follow from a sub that has none (finite subs were handled exactly).
  handle("enum", "const");
  for (const k of ["enum", "const"]) {
    if (has(sup, k)) {
      problems.push({
        pointer: `${p.ptr}/${k}`,
        message: `${where(pos)}${labels.sup} restricts values with "${k}" but ${labels.sub} does not list its values, so some values accepted by ${labels.sub} may be rejected by ${labels.sup}`,
      });
    }
  }

  handle("format");
  if (has(sup, "format")) {
    const f = sup.format;
    const relevant =
      typeof f !== "string" || (can.string && !NUMBER_FORMATS.has(f)) || (can.number && !STRING_FORMATS.has(f));
    if (relevant && sub.format !== f) problems.push(cannotProve(ctx, p.ptr, pos, "format"));
  }

  handle("minLength", "maxLength", "pattern");
  if (can.string) checkStringKeywords(ctx, sub, p, pos, problems);
  handle("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf");
  if (can.number) checkNumberKeywords(ctx, sub, types, p, pos, problems);
  handle("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains");
  if (can.array) checkArrayKeywords(ctx, sub, p, pos, problems);
  handle(
    "properties", "patternProperties", "additionalProperties", "required", "minProperties", "maxProperties",
    "propertyNames", "dependentRequired", "dependentSchemas",
  );
  if (can.object) checkObjectKeywords(ctx, sub, subReal, p, pos, problems);

  for (const k of nonAnnotationKeys(sup)) if (!handled.has(k)) problems.push(cannotProve(ctx, p.ptr, pos, k));
  return dedupe(problems);
}

/** `sub ⊆ anyOf(branches)`: contained in one branch, or, split by type, each part in some branch. */
function checkAnyOf(ctx: Ctx, sub: SchemaObject, subReal: JsonSchema, p: SupSide, pos: Pos): CompatibilityProblem[] {
  const sup = p.schema as SchemaObject;
  const branches = schemaArray(sup.anyOf);
  if (!branches) return [cannotProve(ctx, p.ptr, pos, "anyOf")];
  let best: CompatibilityProblem[] | undefined;
  const tryBranches = (s: SchemaObject): boolean => {
    for (const [i, b] of branches.entries()) {
      const r = checkSub(ctx, { schema: s, real: subReal }, { schema: b, real: b, ptr: `${p.ptr}/anyOf/${i}` }, pos);
      if (r.length === 0) return true;
      if (!best || r.length < best.length) best = r;
    }
    return false;
  };
  if (tryBranches(sub)) return [];
  // A union type such as ["string","null"] is often covered by one branch per member type.
  const types = [...subTypes(sub)];
  if (types.length > 1 && types.every((t) => tryBranches({ ...sub, type: t }))) return [];
  const closest = best?.[0]?.message;
  return [
    {
      pointer: `${p.ptr}/anyOf`,
      message:
        `${where(pos)}some values accepted by ${ctx.labels.sub} match none of the anyOf branches of ${ctx.labels.sup}` +
        (closest ? ` (closest branch: ${closest})` : ""),
    },
  ];
}

function checkStringKeywords(ctx: Ctx, sub: SchemaObject, p: SupSide, pos: Pos, problems: CompatibilityProblem[]): void {
  const sup = p.schema as SchemaObject;
  const { labels } = ctx;
  if (has(sup, "minLength")) {
    const need = num(sup.minLength);
    const got = num(sub.minLength) ?? 0;
    if (need === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "minLength"));
    else if (got < need) {
      problems.push({
        pointer: `${p.ptr}/minLength`,
        message: `${where(pos)}${labels.sub} accepts strings shorter than ${need} characters (minLength ${got}) but ${labels.sup} requires at least ${need} (minLength raised)`,
      });
    }
  }
  if (has(sup, "maxLength")) {
    const limit = num(sup.maxLength);
    const got = num(sub.maxLength);
    if (limit === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "maxLength"));
    else if (got === undefined || got > limit) {
      problems.push({
        pointer: `${p.ptr}/maxLength`,
        message: `${where(pos)}${labels.sub} accepts strings longer than ${limit} characters (maxLength ${got ?? "unbounded"}) but ${labels.sup} allows at most ${limit} (maxLength tightened)`,
      });
    }
  }
  // Regular-language containment is out of scope: only an identical pattern (dropped earlier) is proven.
  if (has(sup, "pattern")) problems.push(cannotProve(ctx, p.ptr, pos, "pattern"));
}

interface Bound {
  readonly v: number;
  readonly excl: boolean;
}

function checkNumberKeywords(
  ctx: Ctx,
  sub: SchemaObject,
  types: Set<JsonType>,
  p: SupSide,
  pos: Pos,
  problems: CompatibilityProblem[],
): void {
  const sup = p.schema as SchemaObject;
  const { labels } = ctx;
  const integersOnly = types.has("integer") && !types.has("number");
  const tighter = (a: Bound | undefined, b: Bound | undefined, lower: boolean): Bound | undefined => {
    if (!a || !b) return a ?? b;
    if (a.v !== b.v) return (lower ? a.v > b.v : a.v < b.v) ? a : b;
    return a.excl ? a : b;
  };
  const bound = (incl: unknown, excl: unknown, lower: boolean): Bound | undefined => {
    const i = num(incl);
    const e = num(excl);
    let b = tighter(i === undefined ? undefined : { v: i, excl: false }, e === undefined ? undefined : { v: e, excl: true }, lower);
    // For integers, "> 2.5" and ">= 3" are the same bound; normalising makes more cases provable.
    if (b && integersOnly) {
      b = lower
        ? { v: b.excl ? Math.floor(b.v) + 1 : Math.ceil(b.v), excl: false }
        : { v: b.excl ? Math.ceil(b.v) - 1 : Math.floor(b.v), excl: false };
    }
    return b;
  };
  const lower = bound(sub.minimum, sub.exclusiveMinimum, true);
  const upper = bound(sub.maximum, sub.exclusiveMaximum, false);

  const requireLower = (kw: "minimum" | "exclusiveMinimum") => {
    if (!has(sup, kw)) return;
    const m = num(sup[kw]);
    if (m === undefined) return problems.push(cannotProve(ctx, p.ptr, pos, kw));
    const ok = lower !== undefined && (lower.v > m || (lower.v === m && (kw === "minimum" || lower.excl)));
    if (!ok) {
      problems.push({
        pointer: `${p.ptr}/${kw}`,
        message: `${where(pos)}${labels.sub} accepts numbers ${kw === "minimum" ? "below" : "at or below"} ${m} (lower bound ${lower ? `${lower.excl ? ">" : ">="} ${lower.v}` : "none"}) but ${labels.sup} rejects them (${kw} raised)`,
      });
    }
  };
  const requireUpper = (kw: "maximum" | "exclusiveMaximum") => {
    if (!has(sup, kw)) return;
    const m = num(sup[kw]);
    if (m === undefined) return problems.push(cannotProve(ctx, p.ptr, pos, kw));
    const ok = upper !== undefined && (upper.v < m || (upper.v === m && (kw === "maximum" || upper.excl)));
    if (!ok) {
      problems.push({
        pointer: `${p.ptr}/${kw}`,
        message: `${where(pos)}${labels.sub} accepts numbers ${kw === "maximum" ? "above" : "at or above"} ${m} (upper bound ${upper ? `${upper.excl ? "<" : "<="} ${upper.v}` : "none"}) but ${labels.sup} rejects them (${kw} lowered)`,
      });
    }
  };
  requireLower("minimum");
  requireLower("exclusiveMinimum");
  requireUpper("maximum");
  requireUpper("exclusiveMaximum");
  // Ajv tests multipleOf by floating-point division, where "multiple of a multiple" is not
  // reliably preserved, so only an identical value (dropped earlier) is proven.
  if (has(sup, "multipleOf")) problems.push(cannotProve(ctx, p.ptr, pos, "multipleOf"));
}

function checkArrayKeywords(ctx: Ctx, sub: SchemaObject, p: SupSide, pos: Pos, problems: CompatibilityProblem[]): void {
  const sup = p.schema as SchemaObject;
  const { labels } = ctx;
  const subPrefix = schemaArray(sub.prefixItems) ?? [];
  const subItems: JsonSchema = isSchema(sub.items) ? sub.items : true;
  const subMin = num(sub.minItems) ?? 0;
  // Longest array sub admits, when bounded.
  const subMaxItems = num(sub.maxItems);
  const subMax = subItems === false ? Math.min(subMaxItems ?? Infinity, subPrefix.length) : subMaxItems ?? Infinity;

  /** Element schemas of sub, position by position, each checked against `supAt(position)`. */
  const checkElements = (supAt: (i: number | "tail") => SupSide | undefined): CompatibilityProblem[] => {
    const out: CompatibilityProblem[] = [];
    const supPrefixLen = schemaArray(sup.prefixItems)?.length ?? 0;
    const positions = Math.max(subPrefix.length, supPrefixLen);
    for (let i = 0; i < positions; i++) {
      if (i >= subMax) return out;
      const se = i < subPrefix.length ? subPrefix[i]! : subItems;
      if (se === false) return out; // no element can sit here, so none beyond either
      const target = supAt(i);
      if (target) out.push(...checkSub(ctx, { schema: se, real: se }, target, child(pos, `[${i}]`)));
    }
    if (subMax > positions) {
      const target = supAt("tail");
      if (target) out.push(...checkSub(ctx, { schema: subItems, real: subItems }, target, child(pos, "[]")));
    }
    return out;
  };

  if (has(sup, "items") || has(sup, "prefixItems")) {
    const supPrefix = has(sup, "prefixItems") ? schemaArray(sup.prefixItems) : [];
    const supItems: JsonSchema | undefined = has(sup, "items") ? (isSchema(sup.items) ? sup.items : undefined) : true;
    if (!supPrefix) problems.push(cannotProve(ctx, p.ptr, pos, "prefixItems"));
    else if (supItems === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "items"));
    else {
      problems.push(
        ...checkElements((i) => {
          if (i !== "tail" && i < supPrefix.length) {
            const s = supPrefix[i]!;
            return { schema: s, real: s, ptr: `${p.ptr}/prefixItems/${i}` };
          }
          return { schema: supItems, real: supItems, ptr: `${p.ptr}/items` };
        }),
      );
    }
  }

  if (has(sup, "minItems")) {
    const need = num(sup.minItems);
    if (need === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "minItems"));
    else if (subMin < need) {
      problems.push({
        pointer: `${p.ptr}/minItems`,
        message: `${where(pos)}${labels.sub} accepts arrays with fewer than ${need} items (minItems ${subMin}) but ${labels.sup} requires at least ${need}`,
      });
    }
  }
  if (has(sup, "maxItems")) {
    const limit = num(sup.maxItems);
    if (limit === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "maxItems"));
    else if (subMax > limit) {
      problems.push({
        pointer: `${p.ptr}/maxItems`,
        message: `${where(pos)}${labels.sub} accepts arrays with more than ${limit} items (maxItems ${Number.isFinite(subMax) ? subMax : "unbounded"}) but ${labels.sup} allows at most ${limit}`,
      });
    }
  }
  if (sup.uniqueItems === true && sub.uniqueItems !== true && subMax > 1) {
    problems.push({
      pointer: `${p.ptr}/uniqueItems`,
      message: `${where(pos)}${labels.sub} accepts arrays with duplicate items but ${labels.sup} requires unique items`,
    });
  } else if (has(sup, "uniqueItems") && typeof sup.uniqueItems !== "boolean") {
    problems.push(cannotProve(ctx, p.ptr, pos, "uniqueItems"));
  }

  // contains group (minContains/maxContains do nothing without contains).
  if (has(sup, "contains")) {
    const supContains = sup.contains;
    const need = has(sup, "minContains") ? num(sup.minContains) : 1;
    if (has(sup, "maxContains") || !isSchema(supContains) || need === undefined) {
      problems.push(cannotProve(ctx, p.ptr, pos, has(sup, "maxContains") ? "maxContains" : "contains"));
    } else if (need > 0) {
      const target: SupSide = { schema: supContains, real: supContains, ptr: `${p.ptr}/contains` };
      const subNeed = has(sub, "minContains") ? num(sub.minContains) ?? 0 : 1;
      // Either sub's own `contains` is at least as demanding, or sub has enough items and all of them match.
      const viaContains =
        isSchema(sub.contains) && subNeed >= need
          ? checkSub(ctx, { schema: sub.contains, real: sub.contains }, target, child(pos, "[]"))
          : undefined;
      if (!viaContains || viaContains.length > 0) {
        const viaAll = subMin >= need ? checkElements(() => target) : undefined;
        if (!viaAll || viaAll.length > 0) {
          problems.push({
            pointer: `${p.ptr}/contains`,
            message: `${where(pos)}${labels.sup} requires at least ${need} matching item(s) ("contains") which ${labels.sub} does not guarantee`,
          });
        }
      }
    }
  }
}

function checkObjectKeywords(
  ctx: Ctx,
  sub: SchemaObject,
  subReal: JsonSchema,
  p: SupSide,
  pos: Pos,
  problems: CompatibilityProblem[],
): void {
  const sup = p.schema as SchemaObject;
  const { labels } = ctx;
  const subProps = isObject(sub.properties) ? sub.properties : {};
  // Pattern-matched names escape additionalProperties; forgetting the patterns and treating the
  // rest as open is a safe over-approximation of sub.
  const subHasPatterns = isObject(sub.patternProperties) && Object.keys(sub.patternProperties).length > 0;
  const subAP: JsonSchema = subHasPatterns ? true : isSchema(sub.additionalProperties) ? sub.additionalProperties : true;
  const subRequired = new Set(Array.isArray(sub.required) ? sub.required.filter((x): x is string => typeof x === "string") : []);
  const subClosed = subAP === false;
  const subPropSchema = (name: string): JsonSchema => {
    if (hasOwn(subProps, name)) {
      const s = subProps[name];
      return isSchema(s) ? s : true;
    }
    return subAP;
  };
  const neverPresent = (name: string) => subPropSchema(name) === false;

  if (has(sup, "properties") || has(sup, "patternProperties") || has(sup, "additionalProperties")) {
    const supPatterns = isObject(sup.patternProperties) && Object.keys(sup.patternProperties).length > 0;
    const supProps = has(sup, "properties") ? sup.properties : {};
    const supAP = has(sup, "additionalProperties") ? sup.additionalProperties : true;
    if (supPatterns || (has(sup, "patternProperties") && !isObject(sup.patternProperties))) {
      problems.push(cannotProve(ctx, p.ptr, pos, "patternProperties"));
    } else if (!isObject(supProps) || !Object.values(supProps).every(isSchema)) {
      problems.push(cannotProve(ctx, p.ptr, pos, "properties"));
    } else if (!isSchema(supAP)) {
      problems.push(cannotProve(ctx, p.ptr, pos, "additionalProperties"));
    } else {
      const supPropsTyped = supProps as Record<string, JsonSchema>;
      for (const name of Object.keys(subProps)) {
        const s = subPropSchema(name);
        if (s === false) continue;
        const ptr = `${p.ptr}/properties/${escapePointer(name)}`;
        if (hasOwn(supPropsTyped, name)) {
          const t = supPropsTyped[name]!;
          problems.push(...checkSub(ctx, { schema: s, real: s }, { schema: t, real: t, ptr }, child(pos, name)));
        } else if (supAP === false) {
          problems.push({
            pointer: ptr,
            message: `property "${propertyLabel(pos, name)}" accepted by ${labels.sub} is not allowed by ${labels.sup} (removed field?)`,
          });
        } else {
          problems.push(
            ...checkSub(ctx, { schema: s, real: s }, { schema: supAP, real: supAP, ptr: `${p.ptr}/additionalProperties` }, child(pos, name)),
          );
        }
      }
      if (subAP !== false) {
        // Names sub leaves to additionalProperties but sup declares.
        for (const name of Object.keys(supPropsTyped)) {
          if (hasOwn(subProps, name)) continue;
          const t = supPropsTyped[name]!;
          problems.push(
            ...checkSub(ctx, { schema: subAP, real: subAP }, { schema: t, real: t, ptr: `${p.ptr}/properties/${escapePointer(name)}` }, child(pos, name)),
          );
        }
        if (supAP === false) {
          problems.push({
            pointer: `${p.ptr}/additionalProperties`,
            message: `${where(pos)}additional properties accepted by ${labels.sub} are not allowed by ${labels.sup} (additionalProperties false)`,
          });
        } else {
          problems.push(
            ...checkSub(ctx, { schema: subAP, real: subAP }, { schema: supAP, real: supAP, ptr: `${p.ptr}/additionalProperties` }, child(pos, "*")),
          );
        }
      }
    }
  }

  if (has(sup, "required")) {
    if (!Array.isArray(sup.required)) problems.push(cannotProve(ctx, p.ptr, pos, "required"));
    else {
      for (const name of sup.required) {
        if (typeof name !== "string") {
          problems.push(cannotProve(ctx, p.ptr, pos, "required"));
        } else if (!subRequired.has(name)) {
          problems.push({
            pointer: `${p.ptr}/required`,
            message: `property "${propertyLabel(pos, name)}" is required by ${labels.sup} but optional/absent in ${labels.sub}`,
          });
        }
      }
    }
  }

  if (has(sup, "minProperties")) {
    const need = num(sup.minProperties);
    const got = Math.max(num(sub.minProperties) ?? 0, subRequired.size);
    if (need === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "minProperties"));
    else if (got < need) {
      problems.push({
        pointer: `${p.ptr}/minProperties`,
        message: `${where(pos)}${labels.sub} accepts objects with fewer than ${need} properties but ${labels.sup} requires at least ${need} (minProperties)`,
      });
    }
  }
  if (has(sup, "maxProperties")) {
    const limit = num(sup.maxProperties);
    const declared = Object.keys(subProps).filter((n) => !neverPresent(n)).length;
    const got = Math.min(num(sub.maxProperties) ?? Infinity, subClosed ? declared : Infinity);
    if (limit === undefined) problems.push(cannotProve(ctx, p.ptr, pos, "maxProperties"));
    else if (got > limit) {
      problems.push({
        pointer: `${p.ptr}/maxProperties`,
        message: `${where(pos)}${labels.sub} accepts objects with more than ${limit} properties but ${labels.sup} allows at most ${limit} (maxProperties)`,
      });
    }
  }

  if (has(sup, "propertyNames")) {
    const names = sup.propertyNames;
    let proven = false;
    if (isSchema(names)) {
      const target: SupSide = { schema: names, real: names, ptr: `${p.ptr}/propertyNames` };
      if (isSchema(sub.propertyNames)) {
        proven = checkSub(ctx, { schema: sub.propertyNames, real: sub.propertyNames }, target, child(pos, "<name>")).length === 0;
      }
      if (!proven && subClosed) {
        // A closed sub can only use its declared names, so checking those names is exact.
        const check = validatorFor(ctx.supRoot, names);
        proven = !(check instanceof Error) && Object.keys(subProps).every((n) => neverPresent(n) || check(n).ok);
      }
    }
    if (!proven) problems.push(cannotProve(ctx, p.ptr, pos, "propertyNames"));
  }

  if (has(sup, "dependentRequired")) {
    const deps = sup.dependentRequired;
    const subDeps = isObject(sub.dependentRequired) ? sub.dependentRequired : {};
    const ok =
      isObject(deps) &&
      Object.entries(deps).every(([name, list]) => {
        if (!Array.isArray(list)) return false;
        if (neverPresent(name)) return true;
        const own = subDeps[name];
        return list.every((d) => typeof d === "string" && (subRequired.has(d) || (Array.isArray(own) && own.includes(d))));
      });
    if (!ok) problems.push(cannotProve(ctx, p.ptr, pos, "dependentRequired"));
  }

  if (has(sup, "dependentSchemas")) {
    const deps = sup.dependentSchemas;
    const subDeps = isObject(sub.dependentSchemas) ? sub.dependentSchemas : {};
    const same: SameCtx = { aRoot: ctx.subRoot, bRoot: ctx.supRoot, visited: new Set() };
    const ok =
      isObject(deps) &&
      Object.entries(deps).every(([name, d]) => {
        if (!isSchema(d)) return false;
        if (neverPresent(name)) return true;
        const own = subDeps[name];
        if (isSchema(own) && sameSchema(own, d, same)) return true;
        // If sub implies the dependent schema unconditionally, it implies it conditionally too.
        const ptr = `${p.ptr}/dependentSchemas/${escapePointer(name)}`;
        return checkSub(ctx, { schema: sub, real: subReal }, { schema: d, real: d, ptr }, pos).length === 0;
      });
    if (!ok) problems.push(cannotProve(ctx, p.ptr, pos, "dependentSchemas"));
  }
}

function dedupe(problems: CompatibilityProblem[]): CompatibilityProblem[] {
  const seen = new Set<string>();
  return problems.filter((x) => {
    const key = `${x.pointer}\u0000${x.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * Problems that may let an instance valid under `sub` fail under `sup`.
 *
 * An empty array is a proof that `sub ⊆ sup` (every instance valid under `sub` is valid under
 * `sup`). A non-empty array means the checker could not prove it: either a concrete
 * incompatibility, or a change it does not reason about (reported as "cannot prove").
 *
 * @param sub - the schema whose instances must all be accepted
 * @param sup - the schema that must accept them
 * @param labels - names used in messages, e.g. `{ sub: "v1", sup: "v2" }`
 */
export function findSubsetViolations(sub: JsonSchema, sup: JsonSchema, labels: { sub: string; sup: string }): CompatibilityProblem[] {
  const ctx: Ctx = { subRoot: sub, supRoot: sup, labels, active: new Map(), steps: 0, nesting: 0, trimmedCompiles: 0 };
  return dedupe(checkSub(ctx, { schema: sub, real: sub }, { schema: sup, real: sup, ptr: "" }, { depth: 0, path: [] }));
}

/**
 * Checks the last of `versions` (ascending by `version`) against the previous one, or against
 * every earlier one for the `_TRANSITIVE` modes.
 *
 * BACKWARD means every instance valid under the old version is valid under the new one
 * (old ⊆ new); FORWARD means new ⊆ old; FULL is both; NONE checks nothing.
 *
 * @returns problems tagged with the earlier version they were found against and the direction
 *   that failed; empty means the new version is proven compatible.
 * @throws RangeError when versions are not strictly ascending or the mode is unknown.
 */
export function checkCompatibility(
  mode: CompatibilityMode,
  versions: ReadonlyArray<{ version: number; schema: JsonSchema }>,
): Array<CompatibilityProblem & { against: number; direction: "backward" | "forward" }> {
  if (!(COMPATIBILITY_MODES as readonly string[]).includes(mode)) throw new RangeError(`unknown compatibility mode ${String(mode)}`);
  for (let i = 1; i < versions.length; i++) {
    if (!(versions[i]!.version > versions[i - 1]!.version)) {
      throw new RangeError(`versions must be in strictly ascending order (got ${versions[i - 1]!.version} before ${versions[i]!.version})`);
    }
  }
  const latest = versions[versions.length - 1];
  if (mode === "NONE" || !latest || versions.length < 2) return [];
  const transitive = mode.endsWith("_TRANSITIVE");
  const backward = mode.startsWith("BACKWARD") || mode.startsWith("FULL");
  const forward = mode.startsWith("FORWARD") || mode.startsWith("FULL");
  const earlier = transitive ? versions.slice(0, -1) : versions.slice(-2, -1);
  const newLabel = `v${latest.version}`;
  const out: Array<CompatibilityProblem & { against: number; direction: "backward" | "forward" }> = [];
  for (const old of earlier) {
    const oldLabel = `v${old.version}`;
    if (backward) {
      for (const problem of findSubsetViolations(old.schema, latest.schema, { sub: oldLabel, sup: newLabel })) {
        out.push({ ...problem, against: old.version, direction: "backward" });
      }
    }
    if (forward) {
      for (const problem of findSubsetViolations(latest.schema, old.schema, { sub: newLabel, sup: oldLabel })) {
        out.push({ ...problem, against: old.version, direction: "forward" });
      }
    }
  }
  return out;
}
