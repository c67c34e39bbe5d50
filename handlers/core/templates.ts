/**
 * The template engine for notifications: rules carry their LiquidJS templates as plain
 * TypeScript data (so they bundle into a function without file reads); this module
 * parses them once at start-up, renders them synchronously on the hot path, and reports
 * the variable paths each template reads so CI can check them against the event schemas.
 *
 * Safety model:
 * - Event data is only ever a *value* in the render scope; it is never parsed as a
 *   template, so `{{ }}`, `{% %}` or `<script>` inside data comes out as literal text.
 * - `html` parts escape every output by default (`outputEscape: "escape"`); `| raw` is
 *   the only way out. `text` parts are never parsed as markup, so they are not escaped.
 * - `strictVariables`: reading something that is not there is an error, except inside an
 *   `if`/`unless`/`case` condition or under a leading `default` filter (`lenientIf`).
 * - `ownPropertyOnly`: no `data.constructor` or other prototype reach.
 * - No file system: `include`, `render` and `layout` are not registered at all (a rule's
 *   templates are self-contained data), and the loader is an empty in-memory map anyway.
 * - Parse, render-time and allocation limits, so one bad template cannot hang a function.
 */
import {
  AssignTag,
  CaseTag,
  ForTag,
  IfTag,
  Liquid,
  LiquidError,
  TablerowTag,
  TypeGuards,
  UndefinedVariableError,
  UnlessTag,
  Value,
  analyzeSync,
  toValueSync,
} from "liquidjs";
import type { LiquidOptions, PropertyAccessToken, Template, ValueToken, Variable } from "liquidjs";
import { HeraldError } from "./errors";
import { compileLiquid, UndefinedVariableInTemplate, type CompiledLiquid } from "./liquid-compiler";
import type { TemplatePart } from "./ports";

// ---------------------------------------------------------------------------------------
// Public types

/** Template source per part, e.g. `{ subject: "...", html: "...", text: "..." }`. */
export type ChannelTemplates = Readonly<Record<string, string>>;

/** A rule's templates: per locale (BCP 47), per channel. */
export interface RuleTemplates {
  /** Locale used when the recipient's locale (and its language) has no templates for a channel. */
  readonly defaultLocale: string;
  readonly locales: Readonly<Record<string, Readonly<Record<string, ChannelTemplates>>>>;
}

/** What templates can read. Nothing else is in scope. */
export interface TemplateContext {
  readonly event: { readonly id: string; readonly source: string; readonly type: string; readonly time?: string; readonly subject?: string };
  readonly data: Readonly<Record<string, unknown>>;
  readonly recipient: { readonly id: string; readonly name?: string; readonly locale: string };
  readonly links: { readonly unsubscribe?: string };
}

/**
 * Second-level names templates may read under each root of {@link TemplateContext}
 * (`data` is checked against the event schema instead, see `schemaHasPath`). Kept next to
 * the interface so a new context field is added in both places.
 */
export const TEMPLATE_CONTEXT_FIELDS: Readonly<Record<keyof TemplateContext, readonly string[] | "schema">> = {
  event: ["id", "source", "type", "time", "subject"],
  data: "schema",
  recipient: ["id", "name", "locale"],
  links: ["unsubscribe"],
};

export const TEMPLATE_ERROR_CODES = {
  /** Syntax error, unknown filter or tag, unknown channel/part/locale, unknown context variable. */
  invalid: "template-invalid",
  /** A locale×channel lacks a required part, or the default locale lacks a channel. */
  missingPart: "template-missing-part",
  /** Render read a variable that is not there (and not under `if`/`default`). */
  undefinedVariable: "template-undefined-variable",
  /** Render took longer than {@link TEMPLATE_LIMITS}.renderMs: may pass on a less loaded host. */
  renderTimeout: "template-render-timeout",
  /** Any other render failure (memory limit, filter error): the same input fails again. */
  renderFailed: "template-render-failed",
} as const;
export type TemplateErrorCode = (typeof TEMPLATE_ERROR_CODES)[keyof typeof TEMPLATE_ERROR_CODES];

/** Where a template problem is. */
export interface TemplateLocation {
  readonly rule: string;
  readonly locale?: string;
  readonly channel?: string;
  readonly part?: string;
  /** 1-based, in the part's source. */
  readonly line?: number;
  readonly column?: number;
  /** The variable, for `template-undefined-variable` and unknown context variables. */
  readonly variable?: string;
}

/** A template could not be compiled or rendered; `code` says which way. */
export class TemplateError extends HeraldError {
  readonly code: TemplateErrorCode;
  readonly location: TemplateLocation;
  constructor(code: TemplateErrorCode, location: TemplateLocation, detail: string, options?: { cause?: unknown }) {
    super(`${describeLocation(location)}: ${detail}`, options);
    this.code = code;
    this.location = location;
  }
}

/**
 * Denial-of-service bounds. Real notification templates are a few kilobytes and render
 * in microseconds, so these only ever stop runaway or hostile templates.
 */
export const TEMPLATE_LIMITS = {
  /** Characters per part source (one `parse` call). */
  parseChars: 1_000_000,
  /**
   * Wall-clock milliseconds per part render. Generous against a microsecond render
   * because it is wall-clock: a CPU-throttled function (a small Lambda gets a fraction of
   * a vCPU) or a GC pause must not turn a good template into a failure.
   */
  renderMs: 500,
  /** LiquidJS allocation units per part render (range sizes, array/string lengths made by filters). */
  memoryUnits: 10_000_000,
} as const;

/** Rendered parts for one channel, and the locale whose templates were used. */
export interface RenderedTemplates {
  readonly locale: string;
  readonly parts: Record<string, string>;
}

/** One global variable path a template reads. */
export interface TemplateVariablePath {
  readonly locale: string;
  readonly channel: string;
  readonly part: string;
  /**
   * Segments from the context root, e.g. `["data", "items", "*", "name"]`. `*` is "every
   * element" (a `for` loop alias, a `map:`/`where:`/`sort:` property, or a dynamic index
   * such as `items[i]`); `first`, `last`, `size` and numeric indexes are kept as written.
   */
  readonly path: readonly string[];
  /** First unguarded occurrence (or the first occurrence when all are guarded); 1-based. */
  readonly line: number;
  readonly column: number;
  /**
   * Every occurrence is safe when the value is absent: inside an `if`/`elsif`/`unless`/
   * `case` condition, under a leading `default` filter, or inside an `if`/`elsif`/`when`
   * body whose condition reads this path or a longer path through it. A heuristic: it
   * does not evaluate the condition (`{% if data.x == nil %}` also counts as a guard).
   */
  readonly guarded: boolean;
}

/** A rule's templates, parsed and checked; render with {@link renderTemplates}. */
export interface CompiledRuleTemplates {
  readonly rule: string;
  readonly defaultLocale: string;
  /** Locales as spelled in the rule's templates. */
  readonly locales: readonly string[];
  readonly channels: readonly string[];
}

// ---------------------------------------------------------------------------------------
// Engines: one per output format, shared by every rule (parsed templates keep a reference
// to the engine that parsed them, which is how the html escape filter gets attached).

/** Builds the engine herald renders `format` parts with (exported so tests use the very same configuration). */
export function makeEngine(format: TemplatePart["format"]): Liquid {
  const options: LiquidOptions = {
    strictVariables: true,
    strictFilters: true,
    lenientIf: true,
    ownPropertyOnly: true,
    // In-memory loader with nothing in it (and no prototype to hit `constructor`):
    // even if a partial tag were registered, it could not reach the disk.
    templates: Object.create(null) as Record<string, string>,
    relativeReference: false,
    dynamicPartials: false,
    cache: false,
    // The host's zone and locale differ between clouds and laptops; rendering must not.
    timezoneOffset: 0,
    locale: "en-US",
    parseLimit: TEMPLATE_LIMITS.parseChars,
    renderLimit: TEMPLATE_LIMITS.renderMs,
    memoryLimit: TEMPLATE_LIMITS.memoryUnits,
  };
  if (format === "html") options.outputEscape = "escape";
  const engine = new Liquid(options);
  // Partials would be the only way for a template to name a file; rules' templates are
  // self-contained data, so these tags are a parse error ("tag ... not found").
  for (const tag of ["include", "render", "layout"]) delete engine.tags[tag];
  return engine;
}

let engines: Readonly<Record<TemplatePart["format"], Liquid>> | undefined;

/** The shared engines, made on first parse (a function whose rules compile lazily does not pay for them at start). */
function engineFor(format: TemplatePart["format"]): Liquid {
  engines ??= { html: makeEngine("html"), text: makeEngine("text") };
  return engines[format];
}

// ---------------------------------------------------------------------------------------
// Compile

interface CompiledPart {
  readonly name: string;
  readonly engine: Liquid;
  readonly templates: Template[];
  /**
   * The same template compiled to a closure (see liquid-compiler.ts): 20-50x faster than
   * LiquidJS's interpreter, same output (a differential test holds it to that). Absent
   * when the template uses something outside the compiled subset; LiquidJS renders it.
   */
  readonly compiled: CompiledLiquid | undefined;
}

interface LocaleEntry {
  /** As spelled in the rule. */
  readonly locale: string;
  /** Parsed on first read when the rule compiled with `lazy` (see {@link CompileTemplatesOptions}). */
  readonly parts: readonly CompiledPart[];
  readonly variables: readonly TemplateVariablePath[];
}

/** How much of the work {@link compileRuleTemplates} does at once. */
export interface CompileTemplatesOptions {
  /**
   * Check the rule's structure (locales, channels, parts) now, but parse and check each
   * locale×channel's templates only when it is first rendered or its variables are read.
   * For rules already checked in full elsewhere (the shipped rules: by CI, and by the
   * bundle build for the cloud functions), so a cold start does not parse every template
   * of every rule. Default false: a broken template fails at once.
   */
  readonly lazy?: boolean;
}

/** A template part whose source passed the structural checks, waiting to be parsed. */
interface PendingPart {
  readonly spec: TemplatePart;
  readonly source: string;
  readonly where: TemplateLocation & { readonly locale: string; readonly channel: string; readonly part: string };
}

class CompiledRuleTemplatesImpl implements CompiledRuleTemplates {
  constructor(
    readonly rule: string,
    readonly defaultLocale: string,
    readonly locales: readonly string[],
    readonly channels: readonly string[],
    /** channel -> lower-cased locale -> entry */
    readonly byChannel: ReadonlyMap<string, ReadonlyMap<string, LocaleEntry>>,
  ) {}
}

const LOCALE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

/**
 * Parses and checks every template of a rule, once. Throws {@link TemplateError}:
 * `template-invalid` for a syntax error, unknown filter/tag, unknown channel or part,
 * bad or duplicate locale, or a variable outside {@link TemplateContext};
 * `template-missing-part` when a locale×channel lacks a required part or the default
 * locale lacks a channel of `partsByChannel`.
 *
 * A non-default locale may cover only some channels; the others fall back to the default.
 */
export function compileRuleTemplates(
  ruleName: string,
  templates: RuleTemplates,
  partsByChannel: Readonly<Record<string, readonly TemplatePart[]>>,
  options: CompileTemplatesOptions = {},
): CompiledRuleTemplates {
  const rule = ruleName;
  const defaultLocale = templates.defaultLocale;
  const localeNames = Object.keys(templates.locales);
  if (!Object.hasOwn(templates.locales, defaultLocale)) {
    throw new TemplateError(TEMPLATE_ERROR_CODES.missingPart, { rule, locale: defaultLocale }, `the default locale "${defaultLocale}" has no templates`);
  }
  const seen = new Map<string, string>();
  for (const locale of localeNames) {
    if (!LOCALE.test(locale)) {
      throw new TemplateError(TEMPLATE_ERROR_CODES.invalid, { rule, locale }, `"${locale}" is not a BCP 47 language tag such as "de" or "en-GB"`);
    }
    const key = normalizeLocale(locale);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new TemplateError(TEMPLATE_ERROR_CODES.invalid, { rule, locale }, `locale "${locale}" duplicates "${other}" (locale tags are case-insensitive)`);
    }
    seen.set(key, locale);
  }

  const byChannel = new Map<string, Map<string, LocaleEntry>>();
  for (const channel of Object.keys(partsByChannel)) byChannel.set(channel, new Map());

  for (const locale of localeNames) {
    const channels = templates.locales[locale]!;
    for (const channel of Object.keys(channels)) {
      const declared = Object.hasOwn(partsByChannel, channel) ? partsByChannel[channel]! : undefined;
      if (declared === undefined) {
        throw new TemplateError(
          TEMPLATE_ERROR_CODES.invalid,
          { rule, locale, channel },
          `unknown channel "${channel}" (known: ${Object.keys(partsByChannel).join(", ") || "none"})`,
        );
      }
      const sources = channels[channel]!;
      for (const part of Object.keys(sources)) {
        if (!declared.some((p) => p.name === part)) {
          throw new TemplateError(
            TEMPLATE_ERROR_CODES.invalid,
            { rule, locale, channel, part },
            `unknown part "${part}" (channel "${channel}" takes: ${declared.map((p) => p.name).join(", ")})`,
          );
        }
      }
      const parts: CompiledPart[] = [];
      const variables: TemplateVariablePath[] = [];
      const pending: PendingPart[] = [];
      for (const spec of declared) {
        if (!Object.hasOwn(sources, spec.name)) {
          if (spec.optional) continue;
          throw new TemplateError(TEMPLATE_ERROR_CODES.missingPart, { rule, locale, channel, part: spec.name }, `missing required part "${spec.name}"`);
        }
        const where = { rule, locale, channel, part: spec.name };
        const source = sources[spec.name];
        if (typeof source !== "string") {
          throw new TemplateError(TEMPLATE_ERROR_CODES.invalid, where, `template source must be a string, got ${typeof source}`);
        }
        if (options.lazy) pending.push({ spec, source, where });
        else parsePart({ spec, source, where }, parts, variables);
      }
      byChannel.get(channel)!.set(normalizeLocale(locale), options.lazy ? lazyEntry(locale, pending) : { locale, parts, variables });
    }
  }

  const defaultKey = normalizeLocale(defaultLocale);
  for (const [channel, entries] of byChannel) {
    if (!entries.has(defaultKey)) {
      const required = partsByChannel[channel]!.filter((p) => !p.optional).map((p) => p.name);
      throw new TemplateError(
        TEMPLATE_ERROR_CODES.missingPart,
        { rule, locale: defaultLocale, channel, part: required.join(", ") },
        `the default locale "${defaultLocale}" has no templates for channel "${channel}" (needs: ${required.join(", ")})`,
      );
    }
  }

  return new CompiledRuleTemplatesImpl(rule, defaultLocale, localeNames, Object.keys(partsByChannel), byChannel);
}

/** Parses one part and checks the variables it reads, adding both to the lists. */
function parsePart({ spec, source, where }: PendingPart, parts: CompiledPart[], variables: TemplateVariablePath[]): void {
  const engine = engineFor(spec.format);
  let parsed: Template[];
  try {
    parsed = engine.parse(source);
  } catch (error) {
    throw liquidFailure(TEMPLATE_ERROR_CODES.invalid, where, error);
  }
  for (const ref of collectReferences(parsed)) {
    checkContextVariable(where, ref);
    variables.push({ locale: where.locale, channel: where.channel, part: spec.name, ...ref });
  }
  parts.push({ name: spec.name, engine, templates: parsed, compiled: compileLiquid(parsed, { escapeOutput: spec.format === "html" }) });
}

/** A locale×channel entry whose parts are parsed on first read (a failure is thrown to every reader). */
function lazyEntry(locale: string, pending: readonly PendingPart[]): LocaleEntry {
  let built: { parts: CompiledPart[]; variables: TemplateVariablePath[] } | undefined;
  const build = () => {
    if (!built) {
      const parts: CompiledPart[] = [];
      const variables: TemplateVariablePath[] = [];
      for (const part of pending) parsePart(part, parts, variables);
      built = { parts, variables };
    }
    return built;
  };
  return {
    locale,
    get parts() {
      return build().parts;
    },
    get variables() {
      return build().variables;
    },
  };
}

function checkContextVariable(where: TemplateLocation, ref: Reference): void {
  const [root, field] = ref.path;
  const fields = Object.hasOwn(TEMPLATE_CONTEXT_FIELDS, root!) ? TEMPLATE_CONTEXT_FIELDS[root as keyof TemplateContext] : undefined;
  const known = fields !== undefined && (fields === "schema" || field === undefined || fields.includes(field));
  if (!known) {
    const variable = ref.path.join(".");
    throw new TemplateError(
      TEMPLATE_ERROR_CODES.invalid,
      { ...where, line: ref.line, column: ref.column, variable },
      fields === undefined
        ? `unknown variable "${variable}": templates can read ${Object.keys(TEMPLATE_CONTEXT_FIELDS).join(", ")}`
        : `unknown variable "${variable}": ${root} has ${(fields as readonly string[]).join(", ")}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Render

/**
 * Renders every part of `channel` for one recipient, synchronously, from the parsed
 * templates. Locale lookup (RFC 4647 style, case-insensitive): `de-AT-x` -> `de-AT` ->
 * `de` -> the rule's default locale; the first that has templates for this channel wins.
 * Throws {@link TemplateError} (`template-undefined-variable`, `template-render-timeout`,
 * `template-render-failed`), or `template-invalid` for a channel the rule does not know.
 */
export function renderTemplates(
  compiled: CompiledRuleTemplates,
  channel: string,
  locale: string | undefined,
  context: TemplateContext,
): RenderedTemplates {
  const impl = asImpl(compiled);
  const entries = impl.byChannel.get(channel);
  if (entries === undefined) {
    throw new TemplateError(TEMPLATE_ERROR_CODES.invalid, { rule: impl.rule, channel }, `rule has no templates for channel "${channel}"`);
  }
  const entry = lookupLocale(entries, locale) ?? entries.get(normalizeLocale(impl.defaultLocale))!;
  const parts: Record<string, string> = {};
  for (const part of entry.parts) {
    if (part.compiled) {
      try {
        parts[part.name] = part.compiled(context as unknown as Record<string, unknown>);
      } catch (error) {
        throw compiledFailure({ rule: impl.rule, locale: entry.locale, channel, part: part.name }, error);
      }
    } else {
      parts[part.name] = renderWithLiquid(part, { rule: impl.rule, locale: entry.locale, channel, part: part.name }, context);
    }
  }
  return { locale: entry.locale, parts };
}

/**
 * Parts that render through LiquidJS's interpreter because they use something outside
 * the compiled subset; they work, but cost 20-50x more per render.
 */
export function interpretedParts(compiled: CompiledRuleTemplates): Array<{ locale: string; channel: string; part: string }> {
  const impl = asImpl(compiled);
  const found: Array<{ locale: string; channel: string; part: string }> = [];
  for (const [channel, entries] of impl.byChannel) {
    for (const entry of entries.values()) {
      for (const part of entry.parts) if (!part.compiled) found.push({ locale: entry.locale, channel, part: part.name });
    }
  }
  return found;
}

/** The interpreter path, for templates outside the compiled subset. */
function renderWithLiquid(part: CompiledPart, where: TemplateLocation, context: TemplateContext): string {
  // LiquidJS reports every absent value read under `if`/`default` by throwing (and
  // catching) an Error through its generator stack; capturing that stack is most of the
  // cost of a miss. Rendering is synchronous, so no other code runs while the limit is 0.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const started = performance.now();
  try {
    return part.engine.renderSync(part.templates, context) as string;
  } catch (error) {
    // The limiter's own error is a plain assertion; tell a timeout apart by the clock
    // rather than by its wording, because a timeout may pass on a less loaded host.
    const timedOut = performance.now() - started >= TEMPLATE_LIMITS.renderMs && !(error instanceof UndefinedVariableError);
    throw liquidFailure(timedOut ? TEMPLATE_ERROR_CODES.renderTimeout : TEMPLATE_ERROR_CODES.renderFailed, where, error);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function compiledFailure(where: TemplateLocation, error: unknown): TemplateError {
  if (error instanceof UndefinedVariableInTemplate) {
    return new TemplateError(
      TEMPLATE_ERROR_CODES.undefinedVariable,
      { ...where, variable: error.variable, ...(error.line !== undefined ? { line: error.line, column: error.column } : {}) },
      `undefined variable ${error.variable}`,
      { cause: error },
    );
  }
  return new TemplateError(TEMPLATE_ERROR_CODES.renderFailed, where, error instanceof Error ? error.message : String(error), { cause: error });
}

function lookupLocale(entries: ReadonlyMap<string, LocaleEntry>, locale: string | undefined): LocaleEntry | undefined {
  if (locale === undefined || locale === "") return undefined;
  let key = normalizeLocale(locale);
  for (;;) {
    const entry = entries.get(key);
    if (entry !== undefined) return entry;
    const cut = key.lastIndexOf("-");
    if (cut <= 0) return undefined;
    key = key.slice(0, cut);
  }
}

function normalizeLocale(locale: string): string {
  return locale.replace(/_/g, "-").toLowerCase();
}

function asImpl(compiled: CompiledRuleTemplates): CompiledRuleTemplatesImpl {
  if (!(compiled instanceof CompiledRuleTemplatesImpl)) {
    throw new TypeError("renderTemplates/templateVariablePaths take the result of compileRuleTemplates");
  }
  return compiled;
}

// ---------------------------------------------------------------------------------------
// Variable paths

/**
 * The global variable paths every compiled template reads, one entry per distinct path
 * per locale×channel×part, in source order. Built with LiquidJS's static analysis of
 * each tag's arguments, plus what that analysis leaves out: `for`/`tablerow` aliases and
 * simple `assign` aliases are resolved (`{% for item in data.items %}{{ item.name }}`
 * reports `data.items` and `data.items.*.name`), and the property argument of `map`,
 * `where`, `reject`, `sort`, `sort_natural`, `sum`, `find`, `find_index`, `has`,
 * `group_by` is reported as `<array>.*.<property>`.
 *
 * Not seen: expressions inside `where_exp`-style filter strings, properties read by
 * filters after a shape-changing filter (`| map: "a" | map: "b"` reports only `a`), and
 * which branch of a condition actually runs.
 */
export function templateVariablePaths(compiled: CompiledRuleTemplates, channel?: string): TemplateVariablePath[] {
  const impl = asImpl(compiled);
  const out: TemplateVariablePath[] = [];
  for (const [name, entries] of impl.byChannel) {
    if (channel !== undefined && name !== channel) continue;
    for (const entry of entries.values()) out.push(...entry.variables);
  }
  return out;
}

/** What a tag hands the analysis (LiquidJS's `Argument`, which its index does not export). */
type Argument = Value | ValueToken;

interface Reference {
  readonly path: readonly string[];
  readonly line: number;
  readonly column: number;
  readonly guarded: boolean;
}

/** A name in scope: a plain local (`undefined`), or an alias of a global path prefix. */
type Binding = readonly string[] | undefined;

class AnalysisScope {
  private readonly frames: Map<string, Binding>[] = [new Map()];
  push(frame: Map<string, Binding>): void {
    this.frames.push(frame);
  }
  pop(): void {
    this.frames.pop();
  }
  /** `assign`, `capture`, `increment` write to the template's bottom scope, as at render. */
  declareRoot(name: string, binding: Binding): void {
    this.frames[0]!.set(name, binding);
  }
  /** Resolves a variable's segments to a global path, or undefined for a local. */
  resolve(segments: readonly string[]): string[] | undefined {
    const root = segments[0]!;
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const frame = this.frames[i]!;
      if (frame.has(root)) {
        const alias = frame.get(root);
        return alias === undefined ? undefined : [...alias, ...segments.slice(1)];
      }
    }
    return [...segments];
  }
}

/** Filters that keep an array of the same elements. */
const SHAPE_KEEPING = new Set(["where", "reject", "where_exp", "reject_exp", "sort", "sort_natural", "reverse", "compact", "uniq"]);
/** Filters whose first argument names a property of each element. */
const ELEMENT_PROPERTY = new Set(["map", "sum", "where", "reject", "sort", "sort_natural", "find", "find_index", "has", "group_by"]);
const DOTTED = /^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*$/;

function collectReferences(templates: readonly Template[]): Reference[] {
  const refs: Reference[] = [];
  const scope = new AnalysisScope();
  /** Condition paths of the `if`/`when` bodies we are inside. */
  const guards: (readonly string[])[] = [];

  const isGuarded = (path: readonly string[]): boolean =>
    guards.some((g) => g.length >= path.length && path.every((segment, i) => g[i] === segment));

  /** Records every variable an argument reads; returns the global paths and the alias it denotes. */
  function visitArgument(arg: Argument, inCondition: boolean): { paths: string[][]; alias: Binding } {
    const paths: string[][] = [];
    const record = (path: string[], line: number, column: number, lenient: boolean) => {
      paths.push(path);
      refs.push({ path, line, column, guarded: lenient || isGuarded(path) });
    };
    const initialTokens = arg instanceof Value ? arg.initial.postfix : [arg];
    // A leading `default` makes only the initial expression lenient, not the filter arguments.
    const lenient = new Set<string>();
    if (arg instanceof Value && arg.filters[0]?.name === "default") {
      for (const token of initialTokens) {
        if (TypeGuards.isValueToken(token)) for (const v of variablesOf(token)) lenient.add(positionKey(v));
      }
    }
    for (const variable of variablesOf(arg)) {
      const path = scope.resolve(toPath(variable));
      if (path === undefined) continue;
      record(path, variable.location.row, variable.location.col, inCondition || lenient.has(positionKey(variable)));
    }

    // What the analysis does not see: the element shape through filters, and aliases.
    const single = initialTokens.length === 1 && TypeGuards.isPropertyAccessToken(initialTokens[0]) ? initialTokens[0] : undefined;
    if (single === undefined) return { paths, alias: undefined };
    const base = variablesOf(single).find((v) => sameStart(v, single));
    const resolved = base === undefined ? undefined : scope.resolve(toPath(base));
    if (resolved === undefined || base === undefined) return { paths, alias: undefined };
    let alias: Binding = resolved;
    for (const filter of arg instanceof Value ? arg.filters : []) {
      const first = filter.args[0];
      const property = first !== undefined && !Array.isArray(first) && TypeGuards.isQuotedToken(first) ? first.content : undefined;
      if (alias !== undefined && property !== undefined && ELEMENT_PROPERTY.has(filter.name) && DOTTED.test(property)) {
        record([...alias, "*", ...property.split(".")], base.location.row, base.location.col, inCondition);
      }
      if (alias === undefined) continue;
      if (SHAPE_KEEPING.has(filter.name)) continue;
      if (filter.name === "first" || filter.name === "last") alias = [...alias, filter.name];
      else if (filter.name === "find") alias = [...alias, "*"];
      else alias = undefined;
    }
    return { paths, alias };
  }

  function visitAll(list: readonly Template[]): void {
    for (const template of list) visit(template);
  }

  function withGuards(paths: readonly (readonly string[])[], body: () => void): void {
    guards.push(...paths);
    try {
      body();
    } finally {
      guards.length -= paths.length;
    }
  }

  function visit(template: Template): void {
    if (template instanceof IfTag || template instanceof UnlessTag) {
      const conditions: string[][] = [];
      template.branches.forEach((branch, index) => {
        const { paths } = visitArgument(branch.value, true);
        conditions.push(...paths);
        // `unless x` runs its first body when x is falsy: that body is not guarded by x.
        const guardsBody = !(template instanceof UnlessTag && index === 0);
        withGuards(guardsBody ? paths : [], () => visitAll(branch.templates));
      });
      // The else body of `unless x` runs when x is truthy.
      withGuards(template instanceof UnlessTag ? conditions : [], () => visitAll(template.elseTemplates ?? []));
      return;
    }
    if (template instanceof CaseTag) {
      const { paths } = visitArgument(template.value, true);
      for (const branch of template.branches) {
        for (const value of branch.values) visitArgument(value, true);
        withGuards(paths, () => visitAll(branch.templates));
      }
      visitAll(template.elseTemplates);
      return;
    }
    let alias: Binding;
    if (template.arguments) {
      let first = true;
      for (const arg of template.arguments()) {
        const result = visitArgument(arg, false);
        if (first) alias = result.alias;
        first = false;
      }
    }
    if (template.localScope) {
      for (const ident of template.localScope()) {
        const name = typeof ident === "string" ? ident : ident.content;
        // Only `assign` binds its argument; capture/increment/decrement make new values.
        scope.declareRoot(name, template instanceof AssignTag ? alias : undefined);
      }
    }
    if (template.children) {
      const children = toValueSync(template.children(false, true)) as Template[];
      const frame = new Map<string, Binding>();
      for (const name of template.blockScope?.() ?? []) frame.set(name, undefined);
      if ((template instanceof ForTag || template instanceof TablerowTag) && alias !== undefined) {
        frame.set(template.variable, [...alias, "*"]);
      }
      scope.push(frame);
      try {
        visitAll(children);
      } finally {
        scope.pop();
      }
    }
  }

  visitAll(templates);
  return dedupe(refs);
}

/** One entry per path: guarded only if every occurrence is, located at the first unguarded one. */
function dedupe(refs: readonly Reference[]): Reference[] {
  const byKey = new Map<string, Reference>();
  for (const ref of refs) {
    const key = JSON.stringify(ref.path);
    const previous = byKey.get(key);
    if (previous === undefined) byKey.set(key, ref);
    else if (previous.guarded && !ref.guarded) byKey.set(key, { ...ref, guarded: false, path: previous.path });
  }
  return [...byKey.values()];
}

/** LiquidJS's own extraction of every variable (nested ones included) an argument reads. */
function variablesOf(arg: Argument): Variable[] {
  const probe = { arguments: () => [arg] } as unknown as Template;
  return Object.values(analyzeSync([probe], { partials: false }).variables).flat();
}

/** Variable segments as a path; a nested variable (`items[i]`) is a dynamic index, `*`. */
function toPath(variable: Variable): string[] {
  return variable.segments.map((segment) => (typeof segment === "object" ? "*" : String(segment)));
}

function sameStart(variable: Variable, token: PropertyAccessToken): boolean {
  const [row, col] = token.getPosition();
  return variable.location.row === row && variable.location.col === col;
}

function positionKey(variable: Variable): string {
  return `${variable.location.row}:${variable.location.col}`;
}

// ---------------------------------------------------------------------------------------
// Errors

function describeLocation(location: TemplateLocation): string {
  const parts = [`rule "${location.rule}"`];
  if (location.locale !== undefined) parts.push(`locale "${location.locale}"`);
  if (location.channel !== undefined) parts.push(`channel "${location.channel}"`);
  if (location.part !== undefined) parts.push(`part "${location.part}"`);
  if (location.line !== undefined) parts.push(`line ${location.line}${location.column === undefined ? "" : `, column ${location.column}`}`);
  return parts.join(", ");
}

function liquidFailure(code: TemplateErrorCode, where: TemplateLocation, error: unknown): TemplateError {
  if (error instanceof UndefinedVariableError) {
    const original = (error as { originalError?: { variableName?: unknown } }).originalError;
    const variable = typeof original?.variableName === "string" ? original.variableName : undefined;
    const [line, column] = error.token.getPosition();
    return new TemplateError(
      TEMPLATE_ERROR_CODES.undefinedVariable,
      { ...where, line, column, ...(variable === undefined ? {} : { variable }) },
      `undefined variable ${variable ?? "(unknown)"}`,
      { cause: error },
    );
  }
  if (error instanceof LiquidError) {
    const [line, column] = error.token.getPosition();
    // LiquidJS appends ", line:N, col:M"; the location already says it.
    const detail = error.message.replace(/, line:\d+, col:\d+$/, "");
    return new TemplateError(code, { ...where, line, column }, detail, { cause: error });
  }
  return new TemplateError(code, where, error instanceof Error ? error.message : String(error), { cause: error });
}
