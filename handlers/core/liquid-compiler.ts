/**
 * Executes LiquidJS-parsed templates without LiquidJS's render machinery.
 *
 * LiquidJS evaluates every tag, output and property read through generators and scope
 * objects, which costs ~100 µs for a typical notification e-mail. Templates stay Liquid
 * (authors write Liquid, LiquidJS parses and validates it); this module walks the parsed
 * tree once and turns it into plain closures that render the same string in a few µs.
 *
 * Contract: the closure's output equals `liquid.renderSync(parsed, scope)` for the engine
 * that parsed the templates, configured as herald configures it (`strictVariables`,
 * `lenientIf`, `ownPropertyOnly`, `outputEscape: "escape"` for html parts only), or both
 * throw; a read of an absent variable throws {@link UndefinedVariableInTemplate} exactly
 * where LiquidJS throws its `UndefinedVariableError`. `test/core/liquid-compiler.test.ts`
 * checks this differentially against LiquidJS. Anything outside the supported subset makes
 * {@link compileLiquid} return `undefined`, and the caller renders with LiquidJS instead.
 *
 * Supported: text, `{{ }}` outputs, `if`/`elsif`/`else`, `unless`, `case`/`when`, `for`
 * (`else`, `limit`, `offset`, `reversed`, ranges, `forloop.*`), `break`, `continue`,
 * `assign`, `capture`, `echo`, `liquid`, `raw`, `comment` and `#`; the operators `==`,
 * `!=`, `<`, `>`, `<=`, `>=`, `contains`, `and`, `or`, `not`; the literals `true`,
 * `false`, `nil`, `null`, `empty`, `blank`; and the filters in {@link SUPPORTED_FILTERS}.
 *
 * Filters run LiquidJS's own built-in implementations (checked by identity, so a filter
 * an engine re-registers falls back): they are plain synchronous functions that only read
 * `this.context.opts`, `.memoryLimit` and `.ownPropertyOnly`, which the closure provides.
 * The expensive part of LiquidJS — generator evaluation, scopes, per-node error wrapping —
 * is what this module replaces; the filters' results are LiquidJS's by construction.
 *
 * Scope values must be plain data (what JSON.parse makes, plus `undefined`): no functions,
 * Drops, `toLiquid` objects or iterables other than arrays and strings.
 *
 * Limits: LiquidJS's `memoryLimit` is charged exactly as LiquidJS charges it. LiquidJS's
 * wall-clock `renderLimit` is not; instead a render may create at most
 * {@link COMPILED_RENDER_LIMITS}.rangeElements range elements (`(1..n)`) in total and run
 * at most `.loopIterations` `for` iterations, so a closure cannot loop for long.
 * Exceeding either throws {@link RenderLimitExceeded} (where LiquidJS might still render).
 */
import {
  AssignTag,
  BreakTag,
  CaptureTag,
  CaseTag,
  CommentTag,
  ContinueTag,
  EchoTag,
  ForTag,
  IfTag,
  InlineCommentTag,
  Liquid,
  LiquidTag,
  Output,
  RawTag,
  TokenKind,
  UnlessTag,
  defaultOperators,
  defaultOptions,
  filters as LIQUID_FILTERS,
  isFalsy as liquidIsFalsy,
  isTruthy as liquidIsTruthy,
} from "liquidjs";
import type { Template, Token } from "liquidjs";

// ---------------------------------------------------------------------------------------
// Public API

export interface CompileOptions {
  /** True for html parts (LiquidJS `outputEscape: "escape"`), false for text parts. */
  readonly escapeOutput: boolean;
}

export type CompiledLiquid = (scope: Readonly<Record<string, unknown>>) => string;

/** A render read a variable that is not there (LiquidJS's `UndefinedVariableError`). */
export class UndefinedVariableInTemplate extends Error {
  constructor(
    /** The path as LiquidJS reports it: segments joined by `.`, e.g. `data.items.0.name`. */
    readonly variable: string,
    /** 1-based position of the expression in the template source, when known. */
    readonly line?: number,
    readonly column?: number,
  ) {
    super(`undefined variable: ${variable}${line === undefined ? "" : `, line:${line}, col:${column}`}`);
    this.name = "UndefinedVariableInTemplate";
  }
}

/** A compiled render exceeded {@link COMPILED_RENDER_LIMITS} or the engine's `memoryLimit`. */
export class RenderLimitExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RenderLimitExceeded";
  }
}

export const COMPILED_RENDER_LIMITS = {
  /** Elements of all ranges `(a..b)` one render may create. */
  rangeElements: 10_000,
  /** `for` iterations one render may run, over ranges and data arrays together. */
  loopIterations: 1_000_000,
} as const;

/**
 * The LiquidJS built-in filters compiled templates may use: synchronous, deterministic
 * and reading nothing of their context but options, the memory limiter and ownPropertyOnly.
 */
export const SUPPORTED_FILTERS: ReadonlySet<string> = new Set([
  // strings
  "upcase", "downcase", "capitalize", "append", "prepend", "replace", "replace_first", "replace_last",
  "remove", "remove_first", "remove_last", "strip", "lstrip", "rstrip", "strip_newlines", "truncate",
  "truncatewords", "split", "normalize_whitespace", "squish", "number_of_words",
  // arrays
  "join", "first", "last", "size", "reverse", "compact", "uniq", "concat", "slice",
  // math
  "plus", "minus", "times", "divided_by", "modulo", "round", "ceil", "floor", "abs", "at_least", "at_most",
  // html and url
  "escape", "xml_escape", "escape_once", "url_encode", "url_decode", "strip_html", "newline_to_br",
  // misc
  "default", "date", "date_to_xmlschema", "json", "jsonify", "to_integer", "raw",
]);

/**
 * Compiles a LiquidJS-parsed template to a closure, or returns undefined when it uses
 * anything outside the supported subset (the caller then falls back to LiquidJS renderSync).
 */
export function compileLiquid(parsed: readonly Template[], options: CompileOptions): CompiledLiquid | undefined {
  const result = compile(parsed, options);
  return typeof result === "string" ? undefined : result;
}

/** Why {@link compileLiquid} returns undefined for this template, or undefined when it compiles. */
export function explainUnsupported(parsed: readonly Template[], options: CompileOptions): string | undefined {
  const result = compile(parsed, options);
  return typeof result === "string" ? result : undefined;
}

// ---------------------------------------------------------------------------------------
// LiquidJS internals this module reads (structurally; most are not in the public types)

interface EngineLike {
  readonly options: Readonly<Record<string, unknown>>;
}
type FilterArgLike = Token | [string | undefined, Token | undefined];
interface FilterLike {
  readonly name: string;
  readonly args: readonly FilterArgLike[];
  readonly raw: boolean;
  readonly handler: unknown;
  readonly liquid: EngineLike;
}
interface ValueLike {
  readonly initial: { readonly postfix: readonly Token[] };
  readonly filters: readonly FilterLike[];
}
interface TagLike {
  readonly name: string;
  readonly liquid: EngineLike;
}
interface BranchLike {
  readonly value: ValueLike;
  readonly templates: readonly Template[];
}
interface PropertyAccessLike extends Token {
  readonly variable: Token | undefined;
  readonly props: readonly Token[];
}
interface RangeLike extends Token {
  readonly lhs: Token;
  readonly rhs: Token;
}
interface ContentLike extends Token {
  readonly content: unknown;
}

type FilterHandler = (this: FilterThis, value: unknown, ...args: unknown[]) => unknown;

const BUILTIN = LIQUID_FILTERS as unknown as Readonly<Record<string, FilterHandler | { handler: FilterHandler; raw: boolean }>>;
const BUILTIN_ESCAPE = BUILTIN["escape"];
const BUILTIN_RAW_HANDLER = (BUILTIN["raw"] as { handler: FilterHandler }).handler;

// Classes and singletons LiquidJS does not export, taken from a throwaway parse. Taken
// on the first compile rather than at load (an engine and four parses cost a cold start
// several ms); every closure comes from a compile, so they are set before any render.
let HTML_CLASS: unknown;
/** LiquidJS's `nil`/`null`, `empty` and `blank` literal values (Drops): kept as they are, as LiquidJS does. */
let NIL: unknown;
let EMPTY: unknown;
let BLANK: unknown;
let probed = false;
function probeLiquid(): void {
  if (probed) return;
  const probe = new Liquid();
  const literal = (source: string): unknown => {
    const output = probe.parse(`{{ ${source} }}`)[0] as unknown as { value: ValueLike };
    return (output.value.initial.postfix[0] as ContentLike).content;
  };
  HTML_CLASS = probe.parse("x")[0]!.constructor;
  NIL = literal("nil");
  EMPTY = literal("empty");
  BLANK = literal("blank");
  probed = true;
}

const AUTO_ESCAPE_NAME = Object.prototype.toString.call(BUILTIN_ESCAPE); // "[object Function]", as Output names it

// ---------------------------------------------------------------------------------------
// Runtime

const hasOwn = Object.prototype.hasOwnProperty;
const FLOW_BREAK = 1;
const FLOW_CONTINUE = 2;

interface LoopState {
  i: number;
  length: number;
  name: string;
}

class MemoryLimit {
  private base = 0;
  constructor(private readonly limit: number) {}
  /** LiquidJS's `Limiter.use`. */
  use(count: unknown): void {
    const n = +(count as number);
    if (n > 0) {
      if (!(this.base + n <= this.limit)) throw new RenderLimitExceeded("memory alloc limit exceeded");
      this.base += n;
    }
  }
}

/** What LiquidJS's built-in filters read as `this`. */
interface FilterThis {
  readonly context: {
    readonly opts: Readonly<Record<string, unknown>>;
    readonly memoryLimit: MemoryLimit;
    readonly ownPropertyOnly: boolean;
    readonly strictVariables: boolean;
  };
  readonly liquid: EngineLike | undefined;
}

class RenderState {
  out = "";
  flow = 0;
  bottom: Record<string, unknown> | undefined = undefined;
  rangeBudget: number = COMPILED_RENDER_LIMITS.rangeElements;
  iterationBudget: number = COMPILED_RENDER_LIMITS.loopIterations;
  readonly items: unknown[];
  readonly loops: (LoopState | undefined)[];
  readonly memory: MemoryLimit;
  readonly filterThis: FilterThis | undefined;
  constructor(
    readonly env: object,
    program: Program,
  ) {
    this.items = program.slots === 0 ? EMPTY_ARRAY : new Array<unknown>(program.slots);
    this.loops = program.slots === 0 ? EMPTY_ARRAY : new Array<LoopState | undefined>(program.slots);
    this.memory = new MemoryLimit(program.memoryLimit);
    this.filterThis = program.usesFilters
      ? {
          context: { opts: program.engineOptions, memoryLimit: this.memory, ownPropertyOnly: true, strictVariables: true },
          liquid: program.engine,
        }
      : undefined;
  }
}
const EMPTY_ARRAY: never[] = [];

interface Program {
  slots: number;
  memoryLimit: number;
  usesFilters: boolean;
  engine: EngineLike | undefined;
  engineOptions: Readonly<Record<string, unknown>>;
  globals: object;
}

type Ev = (st: RenderState) => unknown;
type Run = (st: RenderState) => void;

/** LiquidJS `toValue` for the values a compiled template can hold. */
function toValue(v: unknown): unknown {
  if (v === NIL) return null;
  if (v === EMPTY || v === BLANK) return "";
  return v;
}

/** LiquidJS `stringify`. */
function stringify(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined || v === NIL || v === EMPTY || v === BLANK) return "";
  if (Array.isArray(v)) {
    let s = "";
    for (let i = 0; i < v.length; i++) s += stringify(v[i]);
    return s;
  }
  return String(v);
}

/** LiquidJS's `escape` filter (also its `outputEscape: "escape"`), charging memory as it does. */
function escapeOutput(st: RenderState, v: unknown): string {
  const s = stringify(v);
  st.memory.use(s.length);
  return escapeHtml(s);
}

/** `& < > " '` as LiquidJS's `escape` writes them: `&amp; &lt; &gt; &#34; &#39;`. */
function escapeHtml(s: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    let entity: string;
    switch (s.charCodeAt(i)) {
      case 38:
        entity = "&amp;";
        break;
      case 60:
        entity = "&lt;";
        break;
      case 62:
        entity = "&gt;";
        break;
      case 34:
        entity = "&#34;";
        break;
      case 39:
        entity = "&#39;";
        break;
      default:
        continue;
    }
    out += s.slice(from, i) + entity;
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

function isTruthy(v: unknown): boolean {
  return !(v === false || v === undefined || v === null || v === NIL);
}

function isDrop(v: unknown): boolean {
  return v === NIL || v === EMPTY || v === BLANK;
}

/** LiquidJS `equals`, with the `nil`/`empty`/`blank` Drops' own `equals`. */
function liquidEquals(l: unknown, r: unknown): boolean {
  if (isDrop(l)) return dropEquals(l, r);
  if (isDrop(r)) return dropEquals(r, l);
  if (Array.isArray(l)) return Array.isArray(r) && arrayEquals(l, r);
  return l === r;
}

function arrayEquals(l: readonly unknown[], r: readonly unknown[]): boolean {
  if (l.length !== r.length) return false;
  for (let i = 0; i < l.length; i++) if (!liquidEquals(l[i], r[i])) return false;
  return true;
}

function dropEquals(drop: unknown, value: unknown): boolean {
  if (drop === NIL) {
    const v = toValue(value);
    return v === null || v === undefined;
  }
  if (drop === BLANK) {
    if (value === false) return true;
    const v = toValue(value);
    if (v === null || v === undefined) return true;
    if (typeof value === "string") return /^\s*$/.test(value);
  }
  // EmptyDrop.equals
  if (value === EMPTY || value === BLANK) return false;
  const v = toValue(value);
  if (typeof v === "string" || Array.isArray(v)) return v.length === 0;
  if (v !== null && (typeof v === "object" || typeof v === "function")) return Object.keys(v).length === 0;
  return false;
}

function compare(op: string, l: unknown, r: unknown): boolean {
  // `nil`, `empty` and `blank` answer false to every ordering, on either side.
  if (isDrop(l) || isDrop(r)) return false;
  const a = l as number;
  const b = r as number;
  switch (op) {
    case "<":
      return a < b;
    case ">":
      return a > b;
    case "<=":
      return a <= b;
    default:
      return a >= b;
  }
}

function contains(l: unknown, r: unknown): boolean {
  const haystack = toValue(l);
  if (Array.isArray(haystack)) {
    for (const item of haystack) if (liquidEquals(item, r)) return true;
    return false;
  }
  if (typeof haystack === "string") return haystack.indexOf(toValue(r) as string) > -1;
  return false;
}

function readArrayElement(arr: readonly unknown[], index: number): unknown {
  if (index < 0) index = arr.length + index;
  return hasOwn.call(arr, index) ? arr[index] : undefined;
}

function readOwn(obj: object, key: unknown): unknown {
  return hasOwn.call(obj, key as PropertyKey) ? (obj as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
}

/** LiquidJS `Context.readProperty` with `ownPropertyOnly`, for plain data. */
function readProperty(obj: unknown, key: unknown): unknown {
  if (obj === null || obj === undefined) return obj;
  if (isDrop(obj)) return readDropProperty(obj, key);
  const box = obj as object;
  if (Array.isArray(obj) && typeof key === "number") return readArrayElement(obj, key);
  const value = readOwn(box, key);
  if (typeof value === "function") return (value as () => unknown).call(obj);
  if (key === "size") return readSize(box);
  if (key === "first") return Array.isArray(obj) ? readArrayElement(obj, 0) : readOwn(box, "first");
  if (key === "last") return Array.isArray(obj) ? readArrayElement(obj, -1) : readOwn(box, "last");
  return value;
}

/** {@link readProperty} for a string key other than `size`, `first` and `last`. */
function readPlainKey(obj: unknown, key: string): unknown {
  if (obj === null || obj === undefined) return obj;
  if (isDrop(obj)) return readDropProperty(obj, key);
  if (!hasOwn.call(obj, key)) return undefined;
  const value = (obj as Record<string, unknown>)[key];
  return typeof value === "function" ? (value as () => unknown).call(obj) : value;
}

function readSize(obj: object): unknown {
  const size = (obj as { size?: unknown }).size;
  if (hasOwn.call(obj, "size") || size !== undefined) return size;
  if (Array.isArray(obj) || typeof obj === "string") return (obj as { length: number }).length;
  if (typeof obj === "object") return Object.keys(obj).length;
  return undefined;
}

/** A property of `nil`/`empty`/`blank`: LiquidJS answers undefined unless the key names a Drop method. */
function readDropProperty(drop: unknown, key: unknown): unknown {
  const value = (drop as Record<PropertyKey, unknown>)[key as PropertyKey];
  if (value === undefined) return undefined;
  throw new TypeError(`reading "${String(key)}" of a Liquid literal is not supported by the compiled renderer`);
}

/** LiquidJS `toEnumerable`, for plain data. */
function toEnumerable(v: unknown): unknown[] {
  const value = toValue(v);
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return value.length > 0 ? [value] : [];
  if (value !== null && typeof value === "object") {
    if (Symbol.iterator in value) return Array.from(value as Iterable<unknown>);
    return Object.keys(value).map((key) => [key, (value as Record<string, unknown>)[key]]);
  }
  return [];
}

function makeRange(st: RenderState, low: unknown, high: unknown): number[] {
  st.memory.use((high as number) - (low as number) + 1);
  const start = +(low as number);
  const stop = +(high as number) + 1;
  const out: number[] = [];
  for (let i = start; i < stop; i += 1) {
    if (--st.rangeBudget < 0) {
      throw new RenderLimitExceeded(`ranges in one render may create at most ${COMPILED_RENDER_LIMITS.rangeElements} elements`);
    }
    out.push(i);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Compile

class Unsupported extends Error {}

function unsupported(reason: string): never {
  throw new Unsupported(reason);
}

interface Frame {
  readonly variable: string;
  readonly slot: number;
}

interface CompileContext {
  readonly escapeOutput: boolean;
  readonly frames: Frame[];
  readonly assigned: ReadonlySet<string>;
  readonly engines: Set<EngineLike>;
  readonly program: Program;
}

interface Node {
  readonly run: Run;
  /** May leave `break`/`continue` pending, so the enclosing sequence must stop after it. */
  readonly mayFlow: boolean;
  /** Constant output, for merging neighbours. */
  readonly text?: string;
}

function compile(parsed: readonly Template[], options: CompileOptions): CompiledLiquid | string {
  probeLiquid();
  const program: Program = {
    slots: 0,
    memoryLimit: Infinity,
    usesFilters: false,
    engine: undefined,
    engineOptions: defaultOptions as unknown as Record<string, unknown>,
    globals: defaultOptions.globals as object,
  };
  const assigned = new Set<string>();
  collectAssigned(parsed, assigned);
  const cc: CompileContext = { escapeOutput: options.escapeOutput, frames: [], assigned, engines: new Set(), program };
  let body: Node;
  try {
    body = compileSequence(parsed, cc);
    checkEngines(cc);
  } catch (error) {
    if (error instanceof Unsupported) return error.message;
    throw error;
  }
  const run = body.run;
  return (scope) => {
    const env: object = scope !== null && (typeof scope === "object" || typeof scope === "function") ? scope : Object(scope);
    const st = new RenderState(env, program);
    run(st);
    return st.out;
  };
}

/** Every engine that parsed part of the template must be configured as the contract says. */
function checkEngines(cc: CompileContext): void {
  if (cc.engines.size > 1) unsupported("parsed by more than one Liquid engine");
  for (const engine of cc.engines) {
    const o = engine.options;
    if (o["strictVariables"] !== true) unsupported("engine without strictVariables");
    if (o["lenientIf"] !== true) unsupported("engine without lenientIf");
    if (o["ownPropertyOnly"] !== true) unsupported("engine without ownPropertyOnly");
    if (o["jsTruthy"]) unsupported("engine with jsTruthy");
    if (o["operators"] !== defaultOperators) unsupported("engine with custom operators");
    if (o["catchAllErrors"]) unsupported("engine with catchAllErrors");
    if (o["keepOutputType"]) unsupported("engine with keepOutputType");
    if (o["orderedFilterParameters"]) unsupported("engine with orderedFilterParameters");
    if (cc.escapeOutput ? o["outputEscape"] !== BUILTIN_ESCAPE : Boolean(o["outputEscape"])) {
      unsupported(`engine outputEscape does not match escapeOutput: ${cc.escapeOutput}`);
    }
    const globals = o["globals"];
    if (globals === null || typeof globals !== "object") unsupported("engine globals are not an object");
    const memoryLimit = o["memoryLimit"];
    if (typeof memoryLimit !== "number") unsupported("engine memoryLimit is not a number");
    cc.program.engine = engine;
    cc.program.engineOptions = o;
    cc.program.globals = globals;
    cc.program.memoryLimit = memoryLimit;
  }
}

function noteEngine(cc: CompileContext, engine: EngineLike | undefined): void {
  if (engine === undefined || engine === null || typeof engine.options !== "object") unsupported("node without its engine");
  cc.engines.add(engine);
}

/** Names `assign`/`capture` may put in the template's bottom scope, anywhere in the tree. */
function collectAssigned(list: readonly Template[], out: Set<string>): void {
  for (const t of list) {
    const ctor = t.constructor;
    if (ctor === AssignTag) out.add((t as unknown as { key: string }).key);
    else if (ctor === CaptureTag) {
      out.add((t as unknown as { variable: string }).variable);
      collectAssigned((t as unknown as { templates: Template[] }).templates, out);
    } else if (ctor === IfTag || ctor === UnlessTag) {
      const tag = t as unknown as { branches: BranchLike[]; elseTemplates?: Template[] };
      for (const b of tag.branches) collectAssigned(b.templates, out);
      collectAssigned(tag.elseTemplates ?? [], out);
    } else if (ctor === CaseTag) {
      const tag = t as unknown as { branches: { templates: Template[] }[]; elseTemplates: Template[] };
      for (const b of tag.branches) collectAssigned(b.templates, out);
      collectAssigned(tag.elseTemplates, out);
    } else if (ctor === ForTag) {
      const tag = t as unknown as { templates: Template[]; elseTemplates: Template[] };
      collectAssigned(tag.templates, out);
      collectAssigned(tag.elseTemplates, out);
    } else if (ctor === LiquidTag) {
      collectAssigned((t as unknown as { templates: Template[] }).templates, out);
    }
  }
}

// --- Templates ---------------------------------------------------------------------------

/** LiquidJS `Render.renderTemplates`: in order, stopping once `break`/`continue` is pending. */
function compileSequence(list: readonly Template[], cc: CompileContext): Node {
  const nodes: Node[] = [];
  for (const template of list) {
    const node = compileTemplate(template, cc);
    if (node === undefined) continue;
    const previous = nodes[nodes.length - 1];
    if (node.text !== undefined && previous?.text !== undefined) nodes[nodes.length - 1] = textNode(previous.text + node.text);
    else nodes.push(node);
  }
  if (nodes.length === 0) return { run: () => {}, mayFlow: false, text: "" };
  if (nodes.length === 1) return nodes[0]!;
  const mayFlow = nodes.some((n) => n.mayFlow);
  if (!mayFlow) {
    const runs = nodes.map((n) => n.run);
    if (runs.length === 2) {
      const [a, b] = runs as [Run, Run];
      return { run: (st) => (a(st), b(st)), mayFlow };
    }
    if (runs.length === 3) {
      const [a, b, c] = runs as [Run, Run, Run];
      return { run: (st) => (a(st), b(st), c(st)), mayFlow };
    }
    return {
      run: (st) => {
        for (let i = 0; i < runs.length; i++) runs[i]!(st);
      },
      mayFlow,
    };
  }
  const runs = nodes.map((n) => n.run);
  const checks = nodes.map((n) => n.mayFlow);
  return {
    run: (st) => {
      for (let i = 0; i < runs.length; i++) {
        runs[i]!(st);
        if (checks[i] && st.flow !== 0) return;
      }
    },
    mayFlow,
  };
}

function textNode(text: string): Node {
  return {
    run: (st) => {
      st.out += text;
    },
    mayFlow: false,
    text,
  };
}

function compileTemplate(template: Template, cc: CompileContext): Node | undefined {
  const ctor = template.constructor;
  if (ctor === HTML_CLASS) {
    const str = (template as unknown as { str: unknown }).str;
    if (typeof str !== "string") unsupported("HTML node without text");
    return str === "" ? undefined : textNode(str);
  }
  if (ctor === Output) return compileOutput(template as unknown as { value: ValueLike }, cc);
  const tag = template as unknown as TagLike;
  switch (ctor) {
    case IfTag:
      noteEngine(cc, tag.liquid);
      return compileIf(template as unknown as { branches: BranchLike[]; elseTemplates: Template[] | undefined }, cc);
    case UnlessTag:
      noteEngine(cc, tag.liquid);
      return compileUnless(template as unknown as { branches: (BranchLike & { test: unknown })[]; elseTemplates: Template[] }, cc);
    case CaseTag:
      noteEngine(cc, tag.liquid);
      return compileCase(template as unknown as CaseLike, cc);
    case ForTag:
      noteEngine(cc, tag.liquid);
      return compileFor(template as unknown as ForLike, cc);
    case AssignTag:
      noteEngine(cc, tag.liquid);
      return compileAssign(template as unknown as { key: string; value: ValueLike }, cc);
    case CaptureTag:
      noteEngine(cc, tag.liquid);
      return compileCapture(template as unknown as { variable: string; templates: Template[] }, cc);
    case EchoTag:
      noteEngine(cc, tag.liquid);
      return compileEcho(template as unknown as { value?: ValueLike }, cc);
    case LiquidTag:
      noteEngine(cc, tag.liquid);
      return compileSequence((template as unknown as { templates: Template[] }).templates, cc);
    case RawTag: {
      noteEngine(cc, tag.liquid);
      const tokens = (template as unknown as { tokens: Token[] }).tokens;
      const text = tokens.map((t) => t.getText()).join("");
      return text === "" ? undefined : textNode(text);
    }
    case CommentTag:
    case InlineCommentTag:
      noteEngine(cc, tag.liquid);
      return undefined;
    case BreakTag:
    case ContinueTag: {
      noteEngine(cc, tag.liquid);
      const flow = ctor === BreakTag ? FLOW_BREAK : FLOW_CONTINUE;
      return {
        run: (st) => {
          st.flow = flow;
        },
        mayFlow: true,
      };
    }
    default:
      return unsupported(`tag "${typeof tag.name === "string" ? tag.name : "?"}"`);
  }
}

function compileOutput(output: { value: ValueLike }, cc: CompileContext): Node {
  const filters = output.value.filters;
  const last = filters[filters.length - 1];
  const autoEscape = last !== undefined && isAutoEscape(last);
  if (autoEscape !== cc.escapeOutput && !(last?.raw === true)) {
    unsupported(`output escaping of the parsed template does not match escapeOutput: ${cc.escapeOutput}`);
  }
  if (autoEscape) noteEngine(cc, last!.liquid);
  const ev = compileValue(output.value, false, cc, autoEscape ? filters.length - 1 : filters.length);
  if (autoEscape) {
    return {
      run: (st) => {
        st.out += escapeOutput(st, ev(st));
      },
      mayFlow: false,
    };
  }
  return {
    run: (st) => {
      st.out += stringify(ev(st));
    },
    mayFlow: false,
  };
}

function isAutoEscape(filter: FilterLike): boolean {
  return filter.name === AUTO_ESCAPE_NAME && filter.handler === BUILTIN_ESCAPE;
}

function compileEcho(tag: { value?: ValueLike }, cc: CompileContext): Node | undefined {
  const value = tag.value;
  if (value === undefined) return undefined;
  const last = value.filters[value.filters.length - 1];
  const escape = cc.escapeOutput && !(last?.raw === true);
  const ev = compileValue(value, false, cc, value.filters.length);
  return {
    run: escape
      ? (st) => {
          st.out += escapeOutput(st, toValue(ev(st)));
        }
      : (st) => {
          st.out += stringify(ev(st));
        },
    mayFlow: false,
  };
}

function compileIf(tag: { branches: BranchLike[]; elseTemplates: Template[] | undefined }, cc: CompileContext): Node {
  const conditions = tag.branches.map((b) => compileValue(b.value, true, cc, b.value.filters.length));
  const bodies = tag.branches.map((b) => compileSequence(b.templates, cc));
  const otherwise = compileSequence(tag.elseTemplates ?? [], cc);
  const mayFlow = bodies.some((b) => b.mayFlow) || otherwise.mayFlow;
  if (conditions.length === 1) {
    const condition = conditions[0]!;
    const then = bodies[0]!.run;
    const elseRun = otherwise.run;
    return { run: (st) => (isTruthy(condition(st)) ? then(st) : elseRun(st)), mayFlow };
  }
  const runs = bodies.map((b) => b.run);
  const elseRun = otherwise.run;
  return {
    run: (st) => {
      for (let i = 0; i < conditions.length; i++) {
        if (isTruthy(conditions[i]!(st))) return runs[i]!(st);
      }
      elseRun(st);
    },
    mayFlow,
  };
}

function compileUnless(tag: { branches: (BranchLike & { test: unknown })[]; elseTemplates: Template[] }, cc: CompileContext): Node {
  const conditions = tag.branches.map((b) => {
    if (b.test !== liquidIsFalsy && b.test !== liquidIsTruthy) unsupported("unless branch with an unknown test");
    const ev = compileValue(b.value, true, cc, b.value.filters.length);
    const wantTruthy = b.test === liquidIsTruthy;
    return (st: RenderState) => isTruthy(ev(st)) === wantTruthy;
  });
  const bodies = tag.branches.map((b) => compileSequence(b.templates, cc));
  const otherwise = compileSequence(tag.elseTemplates, cc);
  const runs = bodies.map((b) => b.run);
  const elseRun = otherwise.run;
  return {
    run: (st) => {
      for (let i = 0; i < conditions.length; i++) {
        if (conditions[i]!(st)) return runs[i]!(st);
      }
      elseRun(st);
    },
    mayFlow: bodies.some((b) => b.mayFlow) || otherwise.mayFlow,
  };
}

interface CaseLike {
  value: ValueLike;
  branches: { values: Token[]; templates: Template[] }[];
  elseTemplates: Template[];
}

function compileCase(tag: CaseLike, cc: CompileContext): Node {
  const target = compileValue(tag.value, true, cc, tag.value.filters.length);
  const branches = tag.branches.map((b) => ({
    values: b.values.map((v) => compileOperand(v, true, cc)),
    run: compileSequence(b.templates, cc),
  }));
  const otherwise = compileSequence(tag.elseTemplates, cc);
  const runs = branches.map((b) => b.run.run);
  const values = branches.map((b) => b.values);
  const elseRun = otherwise.run;
  return {
    // As LiquidJS: every branch with a matching value renders, not only the first.
    run: (st) => {
      const subject = toValue(target(st));
      let hit = false;
      for (let i = 0; i < values.length; i++) {
        const candidates = values[i]!;
        for (let j = 0; j < candidates.length; j++) {
          if (liquidEquals(subject, candidates[j]!(st))) {
            runs[i]!(st);
            hit = true;
            break;
          }
        }
      }
      if (!hit) elseRun(st);
    },
    mayFlow: branches.some((b) => b.run.mayFlow) || otherwise.mayFlow,
  };
}

interface ForLike {
  variable: string;
  collection: Token;
  hash: { hash: Record<string, Token | undefined> };
  templates: Template[];
  elseTemplates: Template[];
}

function compileFor(tag: ForLike, cc: CompileContext): Node {
  const variable = tag.variable;
  // LiquidJS overwrites its own loop drop with the item and then fails calling `.next()` on it.
  if (variable === "forloop") unsupported("for loop variable named forloop");
  const collection = compileOperand(tag.collection, false, cc);
  const loopName = `${variable}-${tag.collection.getText()}`;
  const hashEntries = Object.keys(tag.hash.hash).map((key) => {
    const token = tag.hash.hash[key];
    if (token === undefined) return { key, ev: undefined };
    // LiquidJS evaluates these with a `continue` register in scope (`offset: continue`).
    if (mentionsRoot(token, "continue")) unsupported("for with offset: continue");
    return { key, ev: compileOperand(token, false, cc) };
  });
  const has = (name: string): boolean => hashEntries.some((e) => e.key === name);
  const hasOffset = has("offset");
  const hasLimit = has("limit");
  const reversed = has("reversed");

  const slot = cc.program.slots++;
  cc.frames.push({ variable, slot });
  const body = compileSequence(tag.templates, cc);
  cc.frames.pop();
  const otherwise = compileSequence(tag.elseTemplates, cc);
  const bodyRun = body.run;
  const elseRun = otherwise.run;

  return {
    run: (st) => {
      let items = toEnumerable(collection(st));
      if (items.length === 0) return elseRun(st);
      let offset: unknown;
      let limit: unknown;
      for (const entry of hashEntries) {
        const value = entry.ev === undefined ? true : entry.ev(st);
        if (entry.key === "offset") offset = value;
        else if (entry.key === "limit") limit = value;
      }
      if (hasOffset && offset !== undefined) items = items.slice(offset as number);
      if (hasLimit && limit !== undefined) items = items.slice(0, limit as number);
      if (reversed) items = [...items].reverse();
      const length = items.length;
      const loop: LoopState = { i: 0, length, name: loopName };
      // Each for tag owns its slot: a tag cannot run inside itself (there are no partials).
      st.loops[slot] = loop;
      for (let i = 0; i < length; i++) {
        if (--st.iterationBudget < 0) {
          throw new RenderLimitExceeded(`one render may run at most ${COMPILED_RENDER_LIMITS.loopIterations} for iterations`);
        }
        st.items[slot] = items[i];
        st.flow = 0;
        bodyRun(st);
        if (st.flow === FLOW_BREAK) break;
        loop.i++;
      }
      st.flow = 0;
    },
    // A pending break/continue inside `else` is not reset by this loop.
    mayFlow: otherwise.mayFlow,
  };
}

function mentionsRoot(token: Token, name: string): boolean {
  const kind = (token as { kind?: number }).kind;
  if (kind === TokenKind.PropertyAccess) {
    const pa = token as PropertyAccessLike;
    const first = pa.props[0];
    if (pa.variable === undefined && first !== undefined && (first as { kind?: number }).kind === TokenKind.Word && (first as ContentLike).content === name) {
      return true;
    }
    return (pa.variable !== undefined && mentionsRoot(pa.variable, name)) || pa.props.some((p) => mentionsRoot(p, name));
  }
  if (kind === TokenKind.Range) return mentionsRoot((token as RangeLike).lhs, name) || mentionsRoot((token as RangeLike).rhs, name);
  return false;
}

function compileAssign(tag: { key: string; value: ValueLike }, cc: CompileContext): Node {
  const key = tag.key;
  const ev = compileValue(tag.value, true, cc, tag.value.filters.length);
  return {
    run: (st) => {
      const value = ev(st);
      (st.bottom ??= Object.create(null) as Record<string, unknown>)[key] = value;
    },
    mayFlow: false,
  };
}

function compileCapture(tag: { variable: string; templates: Template[] }, cc: CompileContext): Node {
  const key = tag.variable;
  const body = compileSequence(tag.templates, cc);
  const run = body.run;
  return {
    run: (st) => {
      const saved = st.out;
      st.out = "";
      run(st);
      const html = st.out;
      st.out = saved;
      (st.bottom ??= Object.create(null) as Record<string, unknown>)[key] = html;
    },
    mayFlow: body.mayFlow,
  };
}

// --- Values and filters ------------------------------------------------------------------

/**
 * LiquidJS `Value.value(ctx, lenient)`: the initial expression, lenient when asked or under
 * a leading `default`, then the first `filterCount` filters.
 */
function compileValue(value: ValueLike, lenient: boolean, cc: CompileContext, filterCount: number): Ev {
  const first = value.filters[0];
  const initial = compileExpression(value.initial.postfix, lenient || (first !== undefined && first.name === "default"), cc);
  const steps: ((st: RenderState, v: unknown) => unknown)[] = [];
  for (let i = 0; i < filterCount; i++) {
    const step = compileFilter(value.filters[i]!, cc);
    if (step !== undefined) steps.push(step);
  }
  if (steps.length === 0) return initial;
  if (steps.length === 1) {
    const step = steps[0]!;
    return (st) => step(st, initial(st));
  }
  return (st) => {
    let v = initial(st);
    for (let i = 0; i < steps.length; i++) v = steps[i]!(st, v);
    return v;
  };
}

function compileFilter(filter: FilterLike, cc: CompileContext): ((st: RenderState, v: unknown) => unknown) | undefined {
  noteEngine(cc, filter.liquid);
  if (filter.raw) {
    if (filter.handler !== BUILTIN_RAW_HANDLER) unsupported(`filter "${filter.name}"`);
    // LiquidJS would still evaluate (and strictly read) arguments it then ignores.
    if (filter.args.length > 0) unsupported("raw with arguments");
    return undefined; // identity
  }
  const builtin = SUPPORTED_FILTERS.has(filter.name) && Object.hasOwn(BUILTIN, filter.name) ? BUILTIN[filter.name] : undefined;
  if (builtin === undefined || typeof builtin !== "function" || filter.handler !== builtin) unsupported(`filter "${filter.name}"`);
  cc.program.usesFilters = true;
  const handler = builtin;
  const args: Ev[] = filter.args.map((arg) => {
    if (Array.isArray(arg)) {
      const [key, token] = arg as [string | undefined, Token | undefined];
      const ev = token === undefined ? undefined : compileOperand(token, false, cc);
      return ev === undefined ? () => [key, undefined] : (st: RenderState) => [key, ev(st)];
    }
    return compileOperand(arg as Token, false, cc);
  });
  switch (args.length) {
    case 0:
      return (st, v) => handler.call(st.filterThis!, v);
    case 1: {
      const a = args[0]!;
      return (st, v) => handler.call(st.filterThis!, v, a(st));
    }
    case 2: {
      const [a, b] = args as [Ev, Ev];
      return (st, v) => {
        const x = a(st);
        return handler.call(st.filterThis!, v, x, b(st));
      };
    }
    default:
      return (st, v) => {
        const argv: unknown[] = [v];
        for (let i = 0; i < args.length; i++) argv.push(args[i]!(st));
        return handler.apply(st.filterThis!, argv as [unknown, ...unknown[]]);
      };
  }
}

// --- Expressions -------------------------------------------------------------------------

/** LiquidJS `Expression.evaluate`: every operand is evaluated (no short-circuit), left to right. */
function compileExpression(postfix: readonly Token[], lenient: boolean, cc: CompileContext): Ev {
  const stack: Ev[] = [];
  for (const token of postfix) {
    if ((token as { kind?: number }).kind !== TokenKind.Operator) {
      stack.push(compileOperand(token, lenient, cc));
      continue;
    }
    const op = (token as unknown as { operator: string }).operator;
    if (op === "not") {
      const operand = stack.pop() ?? unsupported("not without an operand");
      stack.push((st) => !isTruthy(operand(st)));
      continue;
    }
    const r = stack.pop();
    const l = stack.pop();
    if (l === undefined || r === undefined) unsupported(`operator ${op} without two operands`);
    stack.push(binary(op, l, r));
  }
  if (stack.length !== 1) unsupported("malformed expression");
  return stack[0]!;
}

function binary(op: string, l: Ev, r: Ev): Ev {
  switch (op) {
    case "==":
      return (st) => liquidEquals(l(st), r(st));
    case "!=":
      return (st) => !liquidEquals(l(st), r(st));
    case "<":
    case ">":
    case "<=":
    case ">=":
      return (st) => compare(op, l(st), r(st));
    case "contains":
      return (st) => contains(l(st), r(st));
    case "and":
      return (st) => {
        const a = l(st);
        const b = r(st);
        return isTruthy(a) && isTruthy(b);
      };
    case "or":
      return (st) => {
        const a = l(st);
        const b = r(st);
        return isTruthy(a) || isTruthy(b);
      };
    default:
      return unsupported(`operator ${op}`);
  }
}

/** LiquidJS `evalToken`: literals keep their Drop (`nil`, `empty`, `blank`). */
function compileOperand(token: Token, lenient: boolean, cc: CompileContext): Ev {
  switch ((token as { kind?: number }).kind) {
    case TokenKind.Literal: {
      const value = (token as ContentLike).content;
      if (value !== true && value !== false && !isDrop(value)) unsupported(`literal ${token.getText()}`);
      return () => value;
    }
    case TokenKind.Number:
    case TokenKind.Quoted: {
      const value = (token as ContentLike).content;
      return () => value;
    }
    case TokenKind.Range:
      return compileRange(token as RangeLike, cc);
    case TokenKind.PropertyAccess:
      return compilePropertyAccess(token as PropertyAccessLike, lenient, cc);
    default:
      return unsupported(`expression ${JSON.stringify(token.getText())}`);
  }
}

function compileRange(token: RangeLike, cc: CompileContext): Ev {
  // Range bounds are read strictly even inside conditions, as LiquidJS does.
  const lhs = compileOperand(token.lhs, false, cc);
  const rhs = compileOperand(token.rhs, false, cc);
  return (st) => {
    const low = toValue(lhs(st));
    const high = toValue(rhs(st));
    return makeRange(st, low, high);
  };
}

type Key = { readonly constant: true; readonly value: unknown } | { readonly constant: false; readonly ev: Ev };

function compileKey(token: Token, cc: CompileContext): Key {
  switch ((token as { kind?: number }).kind) {
    case TokenKind.Word:
    case TokenKind.Quoted:
    case TokenKind.Number:
      return { constant: true, value: (token as ContentLike).content };
    case TokenKind.Literal: {
      const value = (token as ContentLike).content;
      if (value !== true && value !== false && !isDrop(value)) unsupported(`literal ${token.getText()}`);
      return { constant: true, value: toValue(value) };
    }
    case TokenKind.PropertyAccess:
    case TokenKind.Range: {
      // Nested reads are strict even under `if`/`default`, as LiquidJS does.
      const ev = compileOperand(token, false, cc);
      return { constant: false, ev: (st) => toValue(ev(st)) };
    }
    default:
      return unsupported(`property ${JSON.stringify(token.getText())}`);
  }
}

const FORLOOP_FIELDS: Readonly<Record<string, (loop: LoopState) => unknown>> = {
  index: (l) => l.i + 1,
  index0: (l) => l.i,
  first: (l) => l.i === 0,
  last: (l) => l.i === l.length - 1,
  rindex: (l) => l.length - l.i,
  rindex0: (l) => l.length - l.i - 1,
  length: (l) => l.length,
  name: (l) => l.name,
  i: (l) => l.i,
};
/** ForloopDrop members that are methods or inherited: reading them is not supported. */
const FORLOOP_METHODS = new Set(["constructor", "next", "valueOf", "liquidMethodMissing"]);

/**
 * LiquidJS `evalPropertyAccessToken`: bracketed keys first (strictly), then the base, then
 * each property in turn; a read that yields `undefined` throws, or gives nil when lenient.
 */
function compilePropertyAccess(token: PropertyAccessLike, lenient: boolean, cc: CompileContext): Ev {
  const keys = token.props.map((p) => compileKey(p, cc));
  if (keys.length === 0) unsupported("property access without properties");
  const dynamic = keys.some((k) => !k.constant);
  const constants = keys.map((k) => (k.constant ? k.value : undefined));
  const pathOf = dynamic ? (st: RenderState) => evaluateKeys(st, keys, constants) : () => constants;
  const fail = (path: readonly unknown[], count: number): null => {
    if (lenient) return null;
    const [line, column] = token.getPosition();
    throw new UndefinedVariableInTemplate(path.slice(0, count).join("."), line, column);
  };

  // `"abc".size`, `(1..3).first`, `nil.x`: every property is read from the literal.
  if (token.variable !== undefined) {
    const variable = compileOperand(token.variable, lenient, cc);
    const walk = compileWalk(keys, 0, dynamic, fail);
    return guardComputedKeys(token, dynamic, (st) => {
      const path = pathOf(st);
      return walk(variable(st), path);
    });
  }

  const first = keys[0]!;
  if (!first.constant) unsupported("computed variable name");
  const root = first.value;
  const frame = findFrame(cc, String(root));

  // `forloop.<field>` of the innermost loop.
  if (frame !== undefined && frame.variable !== String(root)) {
    const field = keys[1];
    if (field === undefined || !field.constant) unsupported("forloop used as a value");
    const fieldName = String(field.value);
    const getter = Object.hasOwn(FORLOOP_FIELDS, fieldName) ? FORLOOP_FIELDS[fieldName] : undefined;
    if (getter === undefined && (fieldName in Object.prototype || FORLOOP_METHODS.has(fieldName))) unsupported(`forloop.${fieldName}`);
    const slot = frame.slot;
    const walk = compileWalk(keys, 2, dynamic, fail);
    return guardComputedKeys(token, dynamic, (st) => {
      const path = pathOf(st);
      const value = getter === undefined ? undefined : getter(st.loops[slot]!);
      return value === undefined ? fail(path, 2) : walk(value, path);
    });
  }

  // The root variable, from the scopes LiquidJS would search: the innermost `for` binding
  // it, the names `assign`/`capture` set, the render scope (`in`, as LiquidJS tests it),
  // and the engine's globals.
  let base: Ev;
  if (frame !== undefined) {
    const slot = frame.slot;
    base = (st) => st.items[slot];
  } else {
    const program = cc.program;
    const plain = typeof root === "string" && root !== "size" && root !== "first" && root !== "last";
    const fromScope = (st: RenderState): unknown => {
      const holder = (root as PropertyKey) in st.env ? st.env : program.globals;
      return plain ? readPlainKey(holder, root as string) : readProperty(holder, root);
    };
    base = !cc.assigned.has(String(root))
      ? fromScope
      : (st) => {
          const bottom = st.bottom;
          return bottom !== undefined && (root as PropertyKey) in bottom ? readProperty(bottom, root) : fromScope(st);
        };
  }
  if (!dynamic && keys.length <= 3) return specialise(base, constants, fail);
  const walk = compileWalk(keys, 1, dynamic, fail);
  return guardComputedKeys(token, dynamic, (st) => {
    const path = pathOf(st);
    const value = base(st);
    return value === undefined ? fail(path, 1) : walk(value, path);
  });
}

/**
 * LiquidJS reports any error raised while reading properties as an `UndefinedVariableError`
 * (even under `if`). Only a computed key can raise one here — an object key that cannot
 * become a property name, such as a null-prototype object — so only those reads are wrapped.
 * The compiled renderer's own limit errors pass through.
 */
function guardComputedKeys(token: PropertyAccessLike, dynamic: boolean, read: Ev): Ev {
  if (!dynamic) return read;
  return (st) => {
    try {
      return read(st);
    } catch (error) {
      if (error instanceof UndefinedVariableInTemplate || error instanceof RenderLimitExceeded) throw error;
      const [line, column] = token.getPosition();
      const wrapped = new UndefinedVariableInTemplate(token.getText(), line, column);
      wrapped.cause = error;
      throw wrapped;
    }
  };
}

/** `a`, `a.b` and `a.b.c` with constant keys, unrolled. */
function specialise(base: Ev, path: readonly unknown[], fail: (path: readonly unknown[], count: number) => null): Ev {
  const readers = path.slice(1).map(readerFor);
  if (readers.length === 0) {
    return (st) => {
      const v = base(st);
      return v === undefined ? fail(path, 1) : v;
    };
  }
  if (readers.length === 1) {
    const r1 = readers[0]!;
    return (st) => {
      const v = base(st);
      if (v === undefined) return fail(path, 1);
      const w = r1(v);
      return w === undefined ? fail(path, 2) : w;
    };
  }
  const [r1, r2] = readers as [(o: unknown) => unknown, (o: unknown) => unknown];
  return (st) => {
    const v = base(st);
    if (v === undefined) return fail(path, 1);
    const w = r1(v);
    if (w === undefined) return fail(path, 2);
    const x = r2(w);
    return x === undefined ? fail(path, 3) : x;
  };
}

function readerFor(key: unknown): (obj: unknown) => unknown {
  if (typeof key === "string" && key !== "size" && key !== "first" && key !== "last") return (obj) => readPlainKey(obj, key);
  return (obj) => readProperty(obj, key);
}

/** Reads `path[from..]` from `value`, failing at the first `undefined`. */
function compileWalk(
  keys: readonly Key[],
  from: number,
  dynamic: boolean,
  fail: (path: readonly unknown[], count: number) => null,
): (value: unknown, path: readonly unknown[]) => unknown {
  const readers = keys.map((k) => (!dynamic && k.constant ? readerFor(k.value) : undefined));
  return (value, path) => {
    let v = value;
    for (let i = from; i < path.length; i++) {
      const reader = readers[i];
      v = reader === undefined ? readProperty(v, path[i]) : reader(v);
      if (v === undefined) return fail(path, i + 1);
    }
    return v;
  };
}

function evaluateKeys(st: RenderState, keys: readonly Key[], constants: readonly unknown[]): unknown[] {
  const path = constants.slice();
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!key.constant) path[i] = key.ev(st);
  }
  return path;
}

/** The innermost `for` scope holding `name` (its variable, or `forloop`), as LiquidJS's scope lookup finds it. */
function findFrame(cc: CompileContext, name: string): Frame | undefined {
  for (let i = cc.frames.length - 1; i >= 0; i--) {
    const frame = cc.frames[i]!;
    if (frame.variable === name || name === "forloop") return frame; // a loop variable is never named forloop
  }
  return undefined;
}
