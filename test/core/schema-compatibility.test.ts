import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  COMPATIBILITY_MODES,
  checkCompatibility,
  findSubsetViolations,
  type JsonSchema,
} from "../../handlers/core/schema-compatibility";

type Obj = { [k: string]: unknown };
// HERALD_FUZZ_SCALE=20 runs the property tests twenty times longer, for a deeper local search.
const FUZZ_SCALE = Math.max(1, Number(process.env.HERALD_FUZZ_SCALE) || 1);
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const LABELS = { sub: "v1", sup: "v2" };

// ---------------------------------------------------------------------------------------------
// Reference validator: the semantics the checker claims to prove things about.
// ---------------------------------------------------------------------------------------------

// addUsedSchema: false because mutated copies keep their original's $id. Skipping meta-schema
// validation and code optimisation makes the hundreds of one-off compiles ~3x cheaper.
const ajv = new Ajv2020({ strict: false, addUsedSchema: false, logger: false, validateSchema: false, code: { optimize: false } });
addFormats(ajv);
const compiled = new WeakMap<object, (v: unknown) => boolean>();
function isValid(schema: JsonSchema, value: unknown): boolean {
  if (typeof schema === "boolean") return schema;
  let fn = compiled.get(schema);
  if (!fn) {
    const validate = ajv.compile(schema);
    fn = (v) => validate(v) === true;
    compiled.set(schema, fn);
  }
  return fn(value);
}
/** Random edits can produce schemas Ajv refuses (e.g. "nullable" without "type"); those are out of scope. */
function compiles(schema: JsonSchema): boolean {
  try {
    isValid(schema, null);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Instance generator for the keyword subset the checker reasons about. It need not be exact:
// every generated instance is filtered through Ajv before use. What matters is that it reaches
// the edges (boundary lengths and bounds, optional and extra properties) where a wrong
// "compatible" verdict would show.
// ---------------------------------------------------------------------------------------------

interface GenOptions {
  /** Document that local `$ref`s resolve against. */
  readonly root: JsonSchema;
  /** Names tried as undeclared properties where additionalProperties allows them. */
  readonly extraKeys: readonly string[];
  readonly depth: number;
}

const dateArb = fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2099-12-31T00:00:00Z"), noInvalidDate: true });
const FORMAT_ARBS: Record<string, fc.Arbitrary<string>> = {
  email: fc.emailAddress(),
  "date-time": dateArb.map((d) => d.toISOString()),
  date: dateArb.map((d) => d.toISOString().slice(0, 10)),
  uri: fc.webUrl(),
  uuid: fc.uuid(),
  ipv4: fc.ipV4(),
};
const scalarArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -5, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }),
  fc.boolean(),
  fc.constant(null),
);
const anyJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: scalarArb },
  { weight: 1, arbitrary: fc.array(scalarArb, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("a", "b", "c"), scalarArb, { maxKeys: 2 }) },
);

function resolveLocal(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith("#")) return undefined;
  let cur: unknown = root;
  for (const seg of ref.slice(1).split("/").slice(1)) {
    cur = isObj(cur) ? cur[seg.replace(/~1/g, "/").replace(/~0/g, "~")] : Array.isArray(cur) ? cur[Number(seg)] : undefined;
  }
  return typeof cur === "boolean" || isObj(cur) ? cur : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Arbitrary instances of (roughly) `schema`; filter them with Ajv before relying on validity. */
function arbitraryFromSchema(schema: JsonSchema, options: Partial<GenOptions> = {}): fc.Arbitrary<unknown> {
  return gen(schema, { root: options.root ?? schema, extraKeys: options.extraKeys ?? ["extra"], depth: options.depth ?? 0 });
}

function gen(schema: JsonSchema, opts: GenOptions): fc.Arbitrary<unknown> {
  if (schema === true) return anyJsonArb;
  if (schema === false || opts.depth > 8) return fc.constant(null);
  const next: GenOptions = { ...opts, depth: opts.depth + 1 };
  let s: Obj = schema;
  if (typeof s.$ref === "string") {
    const { $ref, ...rest } = s;
    const target = resolveLocal(opts.root, $ref as string);
    s = isObj(target) ? { ...target, ...rest } : rest;
  }
  if (Array.isArray(s.allOf)) {
    const { allOf, ...rest } = s;
    s = Object.assign({}, ...(allOf as unknown[]).filter(isObj), rest) as Obj;
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    const branches = s[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const { [key]: _omitted, ...rest } = s;
      return fc.oneof(...branches.map((b: JsonSchema) => gen(isObj(b) ? { ...rest, ...b } : b, next)));
    }
  }
  if ("const" in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return s.enum.length > 0 ? fc.constantFrom(...(s.enum as unknown[])) : fc.constant(null);

  let types: string[];
  if (typeof s.type === "string") types = [s.type];
  else if (Array.isArray(s.type)) types = s.type.filter((t): t is string => typeof t === "string");
  else if ("properties" in s || "required" in s || "additionalProperties" in s) types = ["object"];
  else if ("items" in s || "prefixItems" in s || "contains" in s) types = ["array"];
  else if ("minLength" in s || "maxLength" in s || "pattern" in s || "format" in s) types = ["string"];
  else if ("minimum" in s || "maximum" in s || "exclusiveMinimum" in s || "exclusiveMaximum" in s) types = ["number"];
  else return anyJsonArb;
  if (s.nullable === true) types.push("null");
  if (types.length === 0) return fc.constant(null);
  return fc.oneof(...types.map((t) => genType(t, s, next)));
}

function genType(type: string, s: Obj, opts: GenOptions): fc.Arbitrary<unknown> {
  switch (type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
    case "number":
      return genNumber(type === "integer", s);
    case "string":
      return genString(s);
    case "array":
      return genArray(s, opts);
    case "object":
      return genObject(s, opts);
    default:
      return anyJsonArb;
  }
}

function genNumber(integer: boolean, s: Obj): fc.Arbitrary<unknown> {
  const min = num(s.minimum);
  const exMin = num(s.exclusiveMinimum);
  const max = num(s.maximum);
  const exMax = num(s.exclusiveMaximum);
  let lo = Math.max(min ?? -Infinity, exMin ?? -Infinity);
  let hi = Math.min(max ?? Infinity, exMax ?? Infinity);
  if (!Number.isFinite(lo)) lo = Number.isFinite(hi) ? hi - 1000 : -1000;
  if (!Number.isFinite(hi)) hi = lo + 1000;
  const ilo = Math.ceil(lo);
  const ihi = Math.floor(hi);
  const step = num(s.multipleOf);
  const ints =
    ilo <= ihi
      ? fc.oneof(fc.integer({ min: ilo, max: ihi }), fc.constantFrom(ilo, ihi, ilo + 1, ihi - 1))
      : fc.constant(ilo);
  if (step !== undefined && step > 0) {
    const klo = Math.ceil(lo / step);
    const khi = Math.floor(hi / step);
    return klo <= khi ? fc.integer({ min: klo, max: khi }).map((k) => k * step) : fc.constant(klo * step);
  }
  if (integer || lo >= hi) return ints;
  return fc.oneof(
    ints,
    fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true, minExcluded: exMin !== undefined && exMin >= (min ?? -Infinity), maxExcluded: exMax !== undefined && exMax <= (max ?? Infinity) }),
  );
}

function genString(s: Obj): fc.Arbitrary<unknown> {
  const format = typeof s.format === "string" ? FORMAT_ARBS[s.format] : undefined;
  if (format) return format;
  const min = num(s.minLength) ?? 0;
  // Capped: long limits (1 MB bodies) are not where compatibility bugs hide, and big strings are slow.
  const max = Math.min(num(s.maxLength) ?? min + 80, min + 120);
  if (typeof s.pattern === "string") {
    // Several candidates per draw instead of .filter(): an unsatisfiable mix of pattern and
    // lengths must not stall generation; Ajv drops the misses.
    const re = new RegExp(s.pattern, "u");
    return fc
      .array(fc.stringMatching(re), { minLength: 4, maxLength: 4 })
      .map((xs) => xs.find((x) => [...x].length >= min && [...x].length <= max) ?? xs[0]);
  }
  if (max < min) return fc.constant("");
  return fc.oneof(
    fc.string({ minLength: min, maxLength: Math.min(max, min + 12) }),
    fc.constantFrom(min, max, Math.floor((min + max) / 2), Math.min(max, min + 1)).chain((len) => fc.string({ minLength: len, maxLength: len })),
  );
}

function genArray(s: Obj, opts: GenOptions): fc.Arbitrary<unknown> {
  const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as JsonSchema[]) : [];
  const items: JsonSchema = typeof s.items === "boolean" || isObj(s.items) ? s.items : true;
  const minItems = num(s.minItems) ?? 0;
  const maxItems = Math.min(num(s.maxItems) ?? minItems + 3, minItems + 4);
  const restMin = Math.max(0, minItems - prefix.length);
  const restMax = Math.max(restMin, maxItems - prefix.length);
  const itemArb = items === false ? fc.constant(null) : gen(items, opts);
  // uniqueArray gets no minLength: with too few distinct values it would retry forever; Ajv drops short arrays.
  const rest =
    s.uniqueItems === true
      ? fc.uniqueArray(itemArb, { selector: (v) => JSON.stringify(v), maxLength: restMax })
      : fc.array(itemArb, { minLength: restMin, maxLength: items === false ? restMin : restMax });
  const head = fc.tuple(...prefix.map((p) => gen(p, opts)));
  const containsArb = isObj(s.contains) || typeof s.contains === "boolean" ? fc.option(gen(s.contains, opts), { nil: undefined }) : fc.constant(undefined);
  return fc.tuple(head, rest, containsArb).map(([h, r, c]) => (c === undefined ? [...h, ...r] : [...h, c, ...r]));
}

function genObject(s: Obj, opts: GenOptions): fc.Arbitrary<unknown> {
  const props = isObj(s.properties) ? s.properties : {};
  const required = Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === "string") : [];
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, p] of Object.entries(props)) model[name] = gen(typeof p === "boolean" || isObj(p) ? p : true, opts);
  const declared = fc.record(model, { requiredKeys: required.filter((r) => r in props) });
  const ap = s.additionalProperties;
  const apArb = isObj(ap) || ap === true || ap === undefined ? gen(isObj(ap) ? ap : true, opts) : undefined;
  // Required names with no declaration of their own take additionalProperties' shape.
  const undeclaredRequired = required.filter((r) => !(r in props));
  const requiredExtra = fc.tuple(...undeclaredRequired.map(() => apArb ?? anyJsonArb)).map((vals) =>
    Object.fromEntries(undeclaredRequired.map((name, i) => [name, vals[i]])),
  );
  const extraNames = opts.extraKeys.filter((k) => !(k in props));
  const extras =
    apArb && extraNames.length > 0
      ? fc.option(fc.dictionary(fc.constantFrom(...extraNames), apArb, { maxKeys: 2 }), { nil: {}, freq: 2 })
      : fc.constant({});
  return fc.tuple(declared, requiredExtra, extras).map(([d, r, e]) => ({ ...e, ...r, ...d }));
}

// ---------------------------------------------------------------------------------------------
// Realistic event schemas and mutations of them
// ---------------------------------------------------------------------------------------------

const ORDER_SHIPPED: Obj = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://herald.dev/schemas/events/order.shipped/v1.schema.json",
  title: "order.shipped",
  type: "object",
  additionalProperties: false,
  required: ["orderId", "carrier", "trackingNumber", "shippedAt", "items", "customer"],
  properties: {
    orderId: { type: "string", format: "uuid" },
    carrier: { type: "string", enum: ["dhl", "ups", "fedex", "usps"] },
    trackingNumber: { type: "string", minLength: 5, maxLength: 30, pattern: "^[A-Z0-9]+$" },
    shippedAt: { type: "string", format: "date-time" },
    estimatedDelivery: { type: "string", format: "date" },
    trackingUrl: { type: "string", format: "uri", maxLength: 200 },
    items: {
      type: "array",
      minItems: 1,
      maxItems: 5,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["sku", "quantity"],
        properties: {
          sku: { type: "string", minLength: 1, maxLength: 12 },
          quantity: { type: "integer", minimum: 1, maximum: 100 },
          unitPrice: { type: "number", minimum: 0, maximum: 10000 },
        },
      },
    },
    customer: {
      type: "object",
      additionalProperties: false,
      required: ["email"],
      properties: {
        email: { type: "string", format: "email", maxLength: 254 },
        name: { type: "string", minLength: 1, maxLength: 40 },
        locale: { type: "string", enum: ["en", "de", "fr"] },
      },
    },
    gift: { type: "boolean" },
    warehouseIp: { type: "string", format: "ipv4" },
  },
};

const USER_SIGNED_UP: Obj = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "user.signed_up",
  type: "object",
  additionalProperties: false,
  required: ["userId", "email", "plan", "consent", "channel"],
  $defs: {
    consent: {
      type: "object",
      additionalProperties: false,
      required: ["marketing", "givenAt"],
      properties: { marketing: { type: "boolean" }, givenAt: { type: "string", format: "date-time" } },
    },
  },
  properties: {
    userId: { type: "string", format: "uuid" },
    email: { type: "string", format: "email", maxLength: 254 },
    displayName: { type: ["string", "null"], minLength: 1, maxLength: 20 },
    plan: { enum: ["free", "pro", "team"] },
    seats: { type: "integer", minimum: 1, maximum: 500 },
    referrer: { anyOf: [{ type: "string", format: "uri", maxLength: 120 }, { type: "null" }] },
    consent: { $ref: "#/$defs/consent" },
    channel: { const: "web" },
    tags: { type: "array", maxItems: 4, uniqueItems: true, items: { type: "string", minLength: 1, maxLength: 10 } },
  },
};

// Open content model (no additionalProperties), so undeclared fields matter.
const PAYMENT_FAILED: Obj = {
  title: "payment.failed",
  type: "object",
  required: ["paymentId", "amount", "currency", "reason", "attempt"],
  properties: {
    paymentId: { type: "string", minLength: 8, maxLength: 24 },
    amount: { type: "number", exclusiveMinimum: 0, maximum: 100000 },
    currency: { type: "string", enum: ["EUR", "USD", "GBP"] },
    reason: { type: "string", enum: ["card_declined", "insufficient_funds", "expired_card", "fraud_suspected"] },
    attempt: { type: "integer", minimum: 1, maximum: 10 },
    retryAt: { type: "string", format: "date-time" },
    card: {
      type: "object",
      additionalProperties: false,
      required: ["last4"],
      properties: { last4: { type: "string", pattern: "^[0-9]{4}$" }, brand: { enum: ["visa", "mastercard", "amex"] } },
    },
  },
};

const BASES: readonly Obj[] = [ORDER_SHIPPED, USER_SIGNED_UP, PAYMENT_FAILED];

const MUTATION_KINDS = [
  "addOptionalField",
  "addRequiredField",
  "removeField",
  "makeRequiredOptional",
  "makeOptionalRequired",
  "narrowEnum",
  "widenEnum",
  "changeType",
  "tightenMaxLength",
  "loosenMaxLength",
  "tightenMinimum",
  "loosenMinimum",
  "changeFormat",
  "toggleAdditionalProperties",
] as const;
type MutationKind = (typeof MUTATION_KINDS)[number];
interface Mutation {
  readonly kind: MutationKind;
  readonly target: number;
  readonly choice: number;
}
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom(...MUTATION_KINDS),
  target: fc.nat({ max: 1000 }),
  choice: fc.nat({ max: 1000 }),
});

// Mostly single mutations: they are what a real schema revision looks like, and a chain of
// mutations is compatible in a direction only if every link is.
const mutationsArb: fc.Arbitrary<Mutation[]> = fc.oneof(
  { weight: 3, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.array(mutationArb, { minLength: 2, maxLength: 3 }) },
);

const NEW_FIELDS: readonly Obj[] = [
  { type: "string", maxLength: 20 },
  { type: "integer", minimum: 0 },
  { type: "boolean" },
  { enum: ["a", "b"] },
];
const NEW_FIELD_NAMES = ["extra_0", "extra_1", "extra_2"];
const FORMATS = ["email", "uri", "uuid", "date", "date-time", "ipv4"];

/** Every schema object in a document, reached through the keywords the bases use. */
function schemaNodes(schema: unknown, out: Obj[] = []): Obj[] {
  if (!isObj(schema)) return out;
  out.push(schema);
  for (const key of ["properties", "$defs", "patternProperties", "dependentSchemas"]) {
    if (isObj(schema[key])) for (const v of Object.values(schema[key])) schemaNodes(v, out);
  }
  for (const key of ["items", "additionalProperties", "contains", "not", "if", "then", "else", "propertyNames"]) schemaNodes(schema[key], out);
  for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"]) if (Array.isArray(schema[key])) for (const v of schema[key]) schemaNodes(v, out);
  return out;
}
const hasType = (n: Obj, t: string) => n.type === t || (Array.isArray(n.type) && n.type.includes(t));

/** Applies one mutation to a copy; a mutation with no place to apply returns an equal copy. */
function applyMutation(schema: Obj, m: Mutation): Obj {
  const out = structuredClone(schema);
  const nodes = schemaNodes(out);
  const pick = <T,>(xs: readonly T[]): T | undefined => (xs.length > 0 ? xs[m.target % xs.length] : undefined);
  const objects = nodes.filter((n) => isObj(n.properties));
  const fields = objects.flatMap((n) => Object.keys(n.properties as Obj).map((name) => ({ n, name })));
  const required = (n: Obj): string[] => (Array.isArray(n.required) ? (n.required as string[]) : []);
  switch (m.kind) {
    case "addOptionalField":
    case "addRequiredField": {
      const n = pick(objects);
      if (!n) break;
      const name = NEW_FIELD_NAMES[m.choice % NEW_FIELD_NAMES.length]!;
      (n.properties as Obj)[name] = structuredClone(NEW_FIELDS[m.choice % NEW_FIELDS.length]!);
      if (m.kind === "addRequiredField") n.required = [...new Set([...required(n), name])];
      break;
    }
    case "removeField": {
      const f = pick(fields);
      if (!f) break;
      delete (f.n.properties as Obj)[f.name];
      f.n.required = required(f.n).filter((r) => r !== f.name);
      break;
    }
    case "makeRequiredOptional": {
      const f = pick(fields.filter(({ n, name }) => required(n).includes(name)));
      if (f) f.n.required = required(f.n).filter((r) => r !== f.name);
      break;
    }
    case "makeOptionalRequired": {
      const f = pick(fields.filter(({ n, name }) => !required(n).includes(name)));
      if (f) f.n.required = [...required(f.n), f.name];
      break;
    }
    case "narrowEnum": {
      const n = pick(nodes.filter((x) => Array.isArray(x.enum) && x.enum.length >= 2));
      if (n) (n.enum as unknown[]).splice(m.choice % (n.enum as unknown[]).length, 1);
      break;
    }
    case "widenEnum": {
      const n = pick(nodes.filter((x) => Array.isArray(x.enum)));
      if (n) (n.enum as unknown[]).push(`new_${m.choice % 3}`);
      break;
    }
    case "changeType": {
      const scalar = ["string", "integer", "number", "boolean"];
      const n = pick(nodes.filter((x) => typeof x.type === "string" && scalar.includes(x.type)));
      if (!n) break;
      const others = [...scalar, "null"].filter((t) => t !== n.type);
      n.type = others[m.choice % others.length];
      break;
    }
    case "tightenMaxLength":
    case "loosenMaxLength": {
      const n = pick(nodes.filter((x) => hasType(x, "string")));
      if (!n) break;
      const min = num(n.minLength) ?? 0;
      const max = num(n.maxLength);
      if (m.kind === "tightenMaxLength") n.maxLength = max === undefined ? min + 5 : Math.max(min, Math.floor(max / 2));
      else if (max !== undefined) {
        if (m.choice % 2 === 0) delete n.maxLength;
        else n.maxLength = max * 2;
      } else if (min > 0) n.minLength = min - 1;
      break;
    }
    case "tightenMinimum":
    case "loosenMinimum": {
      const n = pick(nodes.filter((x) => hasType(x, "integer") || hasType(x, "number")));
      if (!n) break;
      const bump = 1 + (m.choice % 5);
      if (m.kind === "tightenMinimum") n.minimum = (num(n.minimum) ?? num(n.exclusiveMinimum) ?? 0) + bump;
      else if (num(n.minimum) !== undefined && m.choice % 2 === 0) delete n.minimum;
      else if (num(n.minimum) !== undefined) n.minimum = (n.minimum as number) - bump;
      else delete n.exclusiveMinimum;
      break;
    }
    case "changeFormat": {
      const n = pick(nodes.filter((x) => hasType(x, "string")));
      if (!n) break;
      const choices = [...FORMATS.filter((f) => f !== n.format), undefined];
      const f = choices[m.choice % choices.length];
      if (f === undefined) delete n.format;
      else n.format = f;
      break;
    }
    case "toggleAdditionalProperties": {
      const n = pick(objects);
      if (!n) break;
      if (n.additionalProperties === false) delete n.additionalProperties;
      else n.additionalProperties = false;
      break;
    }
  }
  return out;
}

const ALL_FIELD_NAMES = [
  ...new Set([...BASES.flatMap((b) => schemaNodes(b).flatMap((n) => (isObj(n.properties) ? Object.keys(n.properties) : []))), ...NEW_FIELD_NAMES]),
];
const generatorFor = (schema: Obj) => arbitraryFromSchema(schema, { extraKeys: ALL_FIELD_NAMES });
const baseGenerators = new Map(BASES.map((b) => [b, generatorFor(b)]));

interface RunStats {
  /** Unordered (original, variant) pairs, and those proven compatible in at least one direction. */
  unorderedPairs: number;
  unorderedCompatible: number;
  /** Ordered (sub, sup) checks. */
  pairs: number;
  compatible: number;
  checkedInstances: number;
  incompatible: number;
  witnessed: number;
}
const newStats = (): RunStats => ({ unorderedPairs: 0, unorderedCompatible: 0, pairs: 0, compatible: 0, checkedInstances: 0, incompatible: 0, witnessed: 0 });

/**
 * The soundness property for one ordered pair: if the checker says `sub ⊆ sup`, no instance
 * valid under `sub` may be rejected by `sup`. Also counts how often an "incompatible" verdict has
 * a concrete witness, which shows the generator is strong enough for the property to bite.
 */
function assertSound(sub: JsonSchema, sup: JsonSchema, samples: readonly unknown[], stats: RunStats): boolean {
  const problems = findSubsetViolations(sub, sup, LABELS);
  // Through JSON: instances must be what a parser produces (fast-check may build null-prototype
  // objects, which Ajv's deep equality cannot handle).
  const valid = samples.map((x) => JSON.parse(JSON.stringify(x)) as unknown).filter((x) => isValid(sub, x));
  stats.pairs++;
  if (problems.length === 0) {
    stats.compatible++;
    for (const instance of valid) {
      stats.checkedInstances++;
      if (!isValid(sup, instance)) {
        throw new Error(
          `checker proved sub ⊆ sup, but this instance is valid under sub and not under sup:\n${JSON.stringify(instance)}\n` +
            `sub: ${JSON.stringify(sub)}\nsup: ${JSON.stringify(sup)}`,
        );
      }
    }
    return true;
  }
  stats.incompatible++;
  if (valid.some((x) => !isValid(sup, x))) stats.witnessed++;
  return false;
}

/** Both directions of one pair. */
function assertSoundBothWays(a: JsonSchema, b: JsonSchema, fromA: readonly unknown[], fromB: readonly unknown[], stats: RunStats): void {
  const forward = assertSound(a, b, fromA, stats);
  const backward = assertSound(b, a, fromB, stats);
  stats.unorderedPairs++;
  if (forward || backward) stats.unorderedCompatible++;
}

// ---------------------------------------------------------------------------------------------
// Small random schemas over the whole supported keyword set, for the less common paths
// (anyOf/oneOf/allOf, $ref, prefixItems, contains, exclusive bounds, type unions, booleans).
// ---------------------------------------------------------------------------------------------

/**
 * Where `{$ref: "#/$defs/d"}` may appear: "here" anywhere, "below" only under properties/items
 * (so $defs/d may recurse through structure, never into an endless loop), "none" nowhere.
 */
type RefMode = "none" | "below" | "here";

function smallSchema(depth: number, refs: RefMode): fc.Arbitrary<JsonSchema> {
  const numeric = fc.record(
    {
      type: fc.constantFrom("integer", "number"),
      minimum: fc.constantFrom(0, 1, 2),
      maximum: fc.constantFrom(2, 3, 5),
      exclusiveMinimum: fc.constantFrom(0, 1.5),
      exclusiveMaximum: fc.constantFrom(3, 4.5),
      multipleOf: fc.constantFrom(2, 0.5),
      nullable: fc.constant(true),
    },
    { requiredKeys: ["type"] },
  );
  const text = fc.record(
    {
      type: fc.constantFrom("string"),
      minLength: fc.constantFrom(0, 1, 2),
      maxLength: fc.constantFrom(1, 3, 5),
      format: fc.constantFrom("email", "uuid", "date"),
      pattern: fc.constantFrom("^a", "^[ab]*$"),
      nullable: fc.constant(true),
    },
    { requiredKeys: ["type"] },
  );
  const leaves: Array<fc.Arbitrary<JsonSchema>> = [
    numeric,
    text,
    fc.subarray(["a", "b", "c", 1, 2, null, true], { minLength: 1 }).map((e) => ({ enum: e })),
    fc.constantFrom<unknown>("a", 1, null, false).map((c) => ({ const: c })),
    fc.subarray(["string", "integer", "number", "null", "boolean", "object", "array"], { minLength: 1 }).map((t) => ({ type: t })),
    fc.constantFrom<JsonSchema>(true, false, {}),
  ];
  if (refs === "here") leaves.push(fc.constant({ $ref: "#/$defs/d" }));
  const leaf = fc.oneof(...leaves);
  if (depth <= 0) return leaf;
  const inner = smallSchema(depth - 1, refs);
  const nested = smallSchema(depth - 1, refs === "none" ? "none" : "here");
  const object = fc.record(
    {
      type: fc.constantFrom("object"),
      properties: fc.dictionary(fc.constantFrom("a", "b", "c"), nested, { maxKeys: 3 }),
      required: fc.subarray(["a", "b"], { minLength: 1 }),
      additionalProperties: fc.oneof(fc.constant<JsonSchema>(false), fc.constant<JsonSchema>(true), nested),
      minProperties: fc.constantFrom(1, 2),
      maxProperties: fc.constantFrom(1, 2, 3),
    },
    { requiredKeys: ["type"] },
  );
  const array = fc.record(
    {
      type: fc.constantFrom("array"),
      items: nested,
      prefixItems: fc.array(nested, { minLength: 1, maxLength: 2 }),
      minItems: fc.constantFrom(0, 1, 2),
      maxItems: fc.constantFrom(1, 2, 3),
      uniqueItems: fc.boolean(),
      contains: nested,
      minContains: fc.constantFrom(0, 1, 2),
    },
    { requiredKeys: ["type"] },
  );
  const combined = fc
    .tuple(fc.constantFrom("anyOf", "oneOf", "allOf"), fc.array(inner, { minLength: 1, maxLength: 3 }))
    .map(([k, bs]) => ({ [k]: bs }));
  // Keywords the checker only proves by identity; in sub they must be safely ignorable.
  const exotic = fc.oneof(
    fc.record(
      {
        type: fc.constantFrom("object"),
        properties: fc.dictionary(fc.constantFrom("a", "b", "x1"), inner, { maxKeys: 2 }),
        patternProperties: fc.dictionary(fc.constantFrom("^x", "^a"), inner, { minKeys: 1, maxKeys: 1 }),
        additionalProperties: fc.constantFrom<JsonSchema>(false, true),
        propertyNames: fc.constantFrom<JsonSchema>({ maxLength: 1 }, { pattern: "^[abx]" }),
        dependentRequired: fc.constant({ a: ["b"] }),
        dependentSchemas: fc.record({ a: inner }),
        unevaluatedProperties: fc.constant(false),
      },
      { requiredKeys: [] },
    ),
    inner.map((n) => ({ not: n })),
    fc.tuple(inner, inner, inner).map(([i, t, e]) => ({ if: i, then: t, else: e })),
    fc.array(inner, { minLength: 1, maxLength: 2 }).map((p) => ({ type: "array", prefixItems: p, unevaluatedItems: false })),
  );
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 2, arbitrary: object },
    { weight: 1, arbitrary: array },
    { weight: 1, arbitrary: combined },
    { weight: 1, arbitrary: exotic },
  );
}

const SMALL_KEYS = ["a", "b", "c", "d", "x1", "ab"];
const smallRoot: fc.Arbitrary<Obj> = fc
  .tuple(smallSchema(2, "here"), smallSchema(2, "below"))
  .map(([main, def]) => (isObj(main) ? { ...main, $defs: { d: def } } : { allOf: [main], $defs: { d: def } }));

/** A related schema: one keyword deleted, one node replaced, or the whole wrapped in anyOf/allOf. */
function variantOf(root: Obj): fc.Arbitrary<Obj> {
  const count = schemaNodes(root).length;
  // A replaced node may sit at the top of $defs/d, where a $ref to itself would loop forever.
  return fc.tuple(fc.nat({ max: 4 }), fc.nat({ max: count * 8 }), smallSchema(1, "below")).map(([op, target, fresh]) => {
    const copy = structuredClone(root);
    const nodes = schemaNodes(copy);
    const node = nodes[target % nodes.length]!;
    const keys = Object.keys(node).filter((k) => k !== "$defs");
    switch (op) {
      case 0:
      case 1: {
        const key = keys[target % Math.max(1, keys.length)];
        if (key !== undefined) delete node[key];
        return copy;
      }
      case 2: {
        for (const k of Object.keys(node)) if (k !== "$defs") delete node[k];
        Object.assign(node, typeof fresh === "boolean" ? (fresh ? {} : { not: {} }) : fresh);
        return copy;
      }
      case 3:
        return { anyOf: [omitDefs(copy), fresh], $defs: copy.$defs };
      default:
        return { allOf: [omitDefs(copy), fresh], $defs: copy.$defs };
    }
  });
}
function omitDefs(o: Obj): Obj {
  const { $defs: _defs, ...rest } = o;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe("schema compatibility: soundness (property tests)", () => {
  it("never calls a mutated event schema compatible when an instance proves otherwise", () => {
    const stats = newStats();
    const pairArb = fc
      .tuple(fc.constantFrom(...BASES), mutationsArb)
      .chain(([base, mutations]) => {
        const mutated = mutations.reduce(applyMutation, base);
        return fc.record({
          base: fc.constant(base),
          mutated: fc.constant(mutated),
          fromBase: fc.array(baseGenerators.get(base)!, { minLength: 20, maxLength: 20 }),
          fromMutated: fc.array(generatorFor(mutated), { minLength: 20, maxLength: 20 }),
        });
      });
    fc.assert(
      fc.property(pairArb, ({ base, mutated, fromBase, fromMutated }) => {
        assertSoundBothWays(base, mutated, fromBase, fromMutated, stats);
      }),
      { numRuns: 250 * FUZZ_SCALE },
    );
    // Not vacuous: at least 30% of (original, mutated) pairs are proven compatible in some
    // direction (a legal BACKWARD or FORWARD revision; typically ~60%), a fair share of single
    // directions too (typically ~35%), and many instances were checked against those verdicts...
    expect(stats.unorderedCompatible / stats.unorderedPairs).toBeGreaterThanOrEqual(0.3);
    expect(stats.compatible / stats.pairs).toBeGreaterThanOrEqual(0.2);
    expect(stats.checkedInstances).toBeGreaterThan(1000);
    // ...and the checker is not crying wolf: most "not proven" verdicts have a concrete
    // counterexample among the generated instances (typically ~90%).
    expect(stats.witnessed / stats.incompatible).toBeGreaterThan(0.6);
  });

  it("never calls small random schemas over the full keyword set compatible when an instance proves otherwise", () => {
    const stats = newStats();
    const pairArb = smallRoot
      .chain((a) => fc.tuple(fc.constant(a), variantOf(a)))
      .chain(([a, b]) =>
        fc.record({
          a: fc.constant(a),
          b: fc.constant(b),
          fromA: fc.array(arbitraryFromSchema(a, { extraKeys: SMALL_KEYS }), { minLength: 15, maxLength: 15 }),
          fromB: fc.array(arbitraryFromSchema(b, { extraKeys: SMALL_KEYS }), { minLength: 15, maxLength: 15 }),
        }),
      );
    fc.assert(
      fc.property(pairArb, ({ a, b, fromA, fromB }) => {
        fc.pre(compiles(a) && compiles(b));
        assertSoundBothWays(a, b, fromA, fromB, stats);
      }),
      { numRuns: 300 * FUZZ_SCALE },
    );
    expect(stats.compatible / stats.pairs).toBeGreaterThanOrEqual(0.2);
    expect(stats.checkedInstances).toBeGreaterThan(500);
  });
});

describe("schema compatibility: completeness sanity", () => {
  const v1 = ORDER_SHIPPED;
  const versions = (next: Obj) => [
    { version: 1, schema: v1 },
    { version: 2, schema: next },
  ];

  it("proves identity in every mode, and ignores annotation-only changes", () => {
    for (const mode of COMPATIBILITY_MODES) expect(checkCompatibility(mode, versions(structuredClone(v1)))).toEqual([]);
    const annotated = structuredClone(v1);
    annotated.description = "now documented";
    (annotated.properties as Obj).carrier = { ...((annotated.properties as Obj).carrier as Obj), title: "Carrier", examples: ["dhl"] };
    annotated.$id = "https://herald.dev/schemas/events/order.shipped/v2.schema.json";
    expect(checkCompatibility("FULL", versions(annotated))).toEqual([]);
  });

  it("accepts adding an optional field under BACKWARD", () => {
    const next = applyMutation(v1, { kind: "addOptionalField", target: 0, choice: 0 });
    expect(Object.keys(next.properties as Obj)).toContain("extra_0");
    expect(checkCompatibility("BACKWARD", versions(next))).toEqual([]);
  });

  it("accepts widening an enum under BACKWARD", () => {
    const next = structuredClone(v1);
    ((next.properties as Obj).carrier as Obj).enum = ["dhl", "ups", "fedex", "usps", "gls"];
    expect(checkCompatibility("BACKWARD", versions(next))).toEqual([]);
  });

  it("accepts loosening maxLength under BACKWARD", () => {
    const next = structuredClone(v1);
    ((next.properties as Obj).trackingNumber as Obj).maxLength = 60;
    expect(checkCompatibility("BACKWARD", versions(next))).toEqual([]);
  });

  it("sees through local $ref, recursion, anyOf and integer ⊂ number", () => {
    const tree = (maxLength: number): Obj => ({
      $ref: "#/$defs/node",
      $defs: {
        node: {
          type: "object",
          properties: { name: { type: "string", maxLength }, children: { type: "array", items: { $ref: "#/$defs/node" } } },
        },
      },
    });
    expect(findSubsetViolations(tree(10), tree(20), LABELS)).toEqual([]);
    expect(findSubsetViolations(tree(20), tree(10), LABELS)).toEqual([
      expect.objectContaining({ pointer: "/$defs/node/properties/name/maxLength" }),
    ]);
    expect(
      findSubsetViolations({ type: ["string", "null"], maxLength: 5 }, { anyOf: [{ type: "string", maxLength: 8 }, { type: "null" }] }, LABELS),
    ).toEqual([]);
    expect(findSubsetViolations({ type: "integer", minimum: 1 }, { type: "number", exclusiveMinimum: 0.5 }, LABELS)).toEqual([]);
    expect(findSubsetViolations({ type: "number" }, { type: "integer" }, LABELS)).toEqual([
      expect.objectContaining({ pointer: "/type" }),
    ]);
  });

  it("ignores keywords for types the sub schema cannot take", () => {
    expect(findSubsetViolations({ type: "integer" }, { type: ["integer", "string"], maxLength: 3, pattern: "^x", format: "email" }, LABELS)).toEqual([]);
    expect(findSubsetViolations({ type: "string" }, { type: "string", minimum: 3, required: ["a"], items: false }, LABELS)).toEqual([]);
  });

  it("validates listed values exactly, formats included", () => {
    expect(findSubsetViolations({ enum: ["a@b.example", "c@d.example"] }, { type: "string", format: "email" }, LABELS)).toEqual([]);
    expect(findSubsetViolations({ const: "not-an-email" }, { type: "string", format: "email" }, LABELS)).toEqual([
      { pointer: "/format", message: 'value "not-an-email" accepted by v1 is rejected by v2 (format fails)' },
    ]);
    expect(findSubsetViolations({ type: "boolean" }, { enum: [true, false, null] }, LABELS)).toEqual([]);
  });

  it("handles boolean schemas", () => {
    expect(findSubsetViolations(false, { type: "string" }, LABELS)).toEqual([]);
    expect(findSubsetViolations({ type: "string" }, true, LABELS)).toEqual([]);
    expect(findSubsetViolations(true, false, LABELS)).toHaveLength(1);
    expect(findSubsetViolations(true, { type: "string" }, LABELS)).not.toEqual([]);
  });
});

describe("schema compatibility: breaks that must be caught", () => {
  const base: Obj = {
    type: "object",
    additionalProperties: false,
    required: ["orderId", "carrier"],
    properties: {
      orderId: { type: "string", format: "uuid" },
      carrier: { enum: ["dhl", "ups", "fedex"] },
      weightGrams: { type: "string" },
      note: { type: "string", maxLength: 200 },
    },
  };
  const withProps = (patch: Obj, extra: Obj = {}): Obj => ({ ...base, ...extra, properties: { ...(base.properties as Obj), ...patch } });
  const history = (...schemas: Obj[]) => schemas.map((schema, i) => ({ version: i + 1, schema }));

  it("a new required field breaks BACKWARD", () => {
    const v2 = withProps({ giftWrap: { type: "boolean" } }, { required: ["orderId", "carrier", "giftWrap"] });
    expect(checkCompatibility("BACKWARD", history(base, v2))).toEqual([
      {
        pointer: "/required",
        message: 'property "giftWrap" is required by v2 but optional/absent in v1',
        against: 1,
        direction: "backward",
      },
    ]);
    // Under a closed model the new field is also a FORWARD break: v1 does not allow it.
    expect(checkCompatibility("FORWARD", history(base, v2))).toEqual([
      expect.objectContaining({ pointer: "/properties/giftWrap", direction: "forward" }),
    ]);
  });

  it("a narrowed enum breaks BACKWARD", () => {
    const v2 = withProps({ carrier: { enum: ["ups", "fedex"] } });
    expect(checkCompatibility("BACKWARD", history(base, v2))).toEqual([
      {
        pointer: "/properties/carrier/enum",
        message: 'property "carrier": value "dhl" accepted by v1 is rejected by v2 (enum narrowed)',
        against: 1,
        direction: "backward",
      },
    ]);
  });

  it("a type change (string → integer) breaks both directions", () => {
    const v2 = withProps({ weightGrams: { type: "integer" } });
    const problems = checkCompatibility("FULL", history(base, v2));
    expect(problems.map((p) => [p.direction, p.pointer])).toEqual([
      ["backward", "/properties/weightGrams/type"],
      ["forward", "/properties/weightGrams/type"],
    ]);
    expect(problems[0]!.message).toBe('property "weightGrams": type "string" accepted by v1 is rejected by v2 (type changed to integer)');
  });

  it("removing a required field breaks FORWARD", () => {
    const { carrier: _carrier, ...rest } = base.properties as Obj;
    const v2: Obj = { ...base, required: ["orderId"], properties: rest };
    expect(checkCompatibility("FORWARD", history(base, v2))).toEqual([
      {
        pointer: "/required",
        message: 'property "carrier" is required by v1 but optional/absent in v2',
        against: 1,
        direction: "forward",
      },
    ]);
  });

  it("removing a field breaks BACKWARD under a closed content model", () => {
    const { note: _note, ...rest } = base.properties as Obj;
    const v2: Obj = { ...base, properties: rest };
    expect(checkCompatibility("BACKWARD", history(base, v2))).toEqual([
      {
        pointer: "/properties/note",
        message: 'property "note" accepted by v1 is not allowed by v2 (removed field?)',
        against: 1,
        direction: "backward",
      },
    ]);
    // With an open model the same removal is backward compatible.
    const open = omit(base, "additionalProperties");
    expect(checkCompatibility("BACKWARD", history(open, omit(v2, "additionalProperties")))).toEqual([]);
  });

  it("transitive modes catch a break against v1 that v2 → v3 alone does not show", () => {
    const v2 = withProps({ carrier: { enum: ["ups", "fedex"] } }); // published with NONE
    const v3 = withProps({ carrier: { enum: ["ups", "fedex"] }, insured: { type: "boolean" } });
    const versions = history(base, v2, v3);
    expect(checkCompatibility("BACKWARD", versions)).toEqual([]);
    expect(checkCompatibility("BACKWARD_TRANSITIVE", versions)).toEqual([
      {
        pointer: "/properties/carrier/enum",
        message: 'property "carrier": value "dhl" accepted by v1 is rejected by v3 (enum narrowed)',
        against: 1,
        direction: "backward",
      },
    ]);
    expect(checkCompatibility("NONE", versions)).toEqual([]);
  });

  it("reports what it cannot prove instead of guessing", () => {
    const [problem] = findSubsetViolations({ type: "string", pattern: "^[a-z]+$" }, { type: "string", pattern: "^[a-z0-9]+$" }, LABELS);
    expect(problem).toEqual({
      pointer: "/pattern",
      message:
        'keyword "pattern" changed between v1 and v2; the checker cannot prove compatibility — publish as a new version with mode NONE or keep it identical',
    });
    expect(findSubsetViolations({ type: "string" }, { type: "string", "x-custom": 1 }, LABELS)).toEqual([
      expect.objectContaining({ pointer: "/x-custom" }),
    ]);
    expect(findSubsetViolations({ oneOf: [{ type: "string" }] }, { oneOf: [{ type: "string" }] }, LABELS)).toEqual([]);
    expect(findSubsetViolations({ type: "string" }, { oneOf: [{ type: "string" }] }, LABELS)).toEqual([
      expect.objectContaining({ pointer: "/oneOf" }),
    ]);
  });

  it("rejects versions out of order", () => {
    expect(() => checkCompatibility("BACKWARD", [{ version: 2, schema: true }, { version: 1, schema: true }])).toThrow(RangeError);
  });
});

function omit(o: Obj, key: string): Obj {
  const { [key]: _omitted, ...rest } = o;
  return rest;
}
