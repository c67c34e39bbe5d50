/**
 * Rules: which events become which notifications. A rule is data (conditions and
 * recipient sources are JSON pointers, templates are Liquid source), so that
 * `herald schemas check` can prove every field a rule reads exists in every event
 * version it accepts, and so matching compiles to plain closures with no interpretation
 * cost per event.
 */
import type { EventData, EventDataByType, EventType, EventVersion } from "../../schemas/generated/event-types";
import { HeraldError } from "./errors";
import type { RuleTemplates } from "./templates";

/** A scalar a condition can compare against. */
export type Scalar = string | number | boolean | null;

/** RFC 6901 pointer into the event's `data`, e.g. `/amount/value`. */
export type DataPointer<D = unknown> = unknown extends D ? `/${string}` : PointerOf<D>;

/** Every pointer into `T` up to four levels deep (arrays step through `/0`). */
type PointerOf<T, Depth extends unknown[] = []> = Depth["length"] extends 4
  ? never
  : T extends readonly (infer Item)[]
    ? `/${number}` | `/${number}${PointerOf<Item, [...Depth, unknown]>}`
    : T extends object
      ? { [K in keyof T & string]-?: `/${K}` | `/${K}${PointerOf<NonNullable<T[K]>, [...Depth, unknown]>}` }[keyof T & string]
      : never;

/** A condition on the event's data. Leaves compare the value at `path`; `all`/`any`/`not` combine. */
export type Condition<D = unknown> =
  | { readonly all: readonly Condition<D>[] }
  | { readonly any: readonly Condition<D>[] }
  | { readonly not: Condition<D> }
  | { readonly path: DataPointer<D>; readonly equals: Scalar }
  | { readonly path: DataPointer<D>; readonly notEquals: Scalar }
  | { readonly path: DataPointer<D>; readonly in: readonly Scalar[] }
  | { readonly path: DataPointer<D>; readonly notIn: readonly Scalar[] }
  | { readonly path: DataPointer<D>; readonly exists: boolean }
  | { readonly path: DataPointer<D>; readonly gt: number }
  | { readonly path: DataPointer<D>; readonly gte: number }
  | { readonly path: DataPointer<D>; readonly lt: number }
  | { readonly path: DataPointer<D>; readonly lte: number };

/** Where a rule's recipients come from. */
export type RecipientSource<D = unknown> =
  /** Ids (a string or an array of strings at the pointer) looked up in the recipient directory. */
  | { readonly directory: DataPointer<D> }
  /**
   * Contact points carried in the event itself (sign-up, test notifications). When the id
   * is also in the directory, its preferences and opt-outs still apply.
   */
  | {
      readonly inline: {
        /** Without an id, one is derived from the contact points. */
        readonly id?: DataPointer<D>;
        readonly name?: DataPointer<D>;
        readonly email?: DataPointer<D>;
        readonly phone?: DataPointer<D>;
        /** A push subscription object, or an array of them. */
        readonly push?: DataPointer<D>;
        readonly locale?: DataPointer<D>;
        readonly timeZone?: DataPointer<D>;
      };
    };

/** A rule as authored. */
export interface Rule<D = unknown> {
  /** Unique, kebab-case; part of every idempotency key, so never rename a live rule. */
  readonly name: string;
  readonly description?: string;
  readonly eventType: string;
  /** The event versions this rule accepts; every field it reads must exist in each. */
  readonly versions: readonly number[];
  /** Preference category: recipients opt out per category and channel. */
  readonly category: string;
  /** Critical messages bypass opt-outs, quiet hours and frequency caps (never suppression). */
  readonly critical?: boolean;
  readonly when?: Condition<D>;
  readonly recipients: RecipientSource<D>;
  /** Channels this rule sends on, with per-channel options for the channel module. */
  readonly channels: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly templates: RuleTemplates;
}

/** Data type a rule sees: the union over the versions it accepts. */
type DataOf<T extends EventType, V extends EventVersion<T>> = V extends keyof EventDataByType[T] ? EventData<T, V> : never;

/**
 * Declares a rule for a generated event type: versions, pointers in conditions and
 * recipient sources are type-checked against the generated event types.
 */
export function defineRule<T extends EventType, const V extends readonly EventVersion<T>[]>(
  rule: Omit<Rule<DataOf<T, V[number]>>, "eventType" | "versions"> & { readonly eventType: T; readonly versions: V },
): Rule {
  return rule as unknown as Rule;
}

/** A rule that cannot be used as written (duplicate name, bad pointer). */
export class RuleError extends HeraldError {
  readonly code = "rule-invalid";
}

/** Splits an RFC 6901 pointer into unescaped segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new RuleError(`"${pointer}" is not a JSON pointer (it must start with "/")`);
  return pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** A compiled pointer: reads the value at that place, or undefined. */
export type Getter = (data: unknown) => unknown;

export function compilePointer(pointer: string): Getter {
  const segments = pointerSegments(pointer);
  return (data) => {
    let value: unknown = data;
    for (const segment of segments) {
      if (value === null || typeof value !== "object") return undefined;
      // Own properties only: a pointer like /constructor must not reach the prototype.
      if (!Object.prototype.hasOwnProperty.call(value, segment)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  };
}

/** Compiles a condition into a predicate once, so matching costs a few property reads. */
export function compileCondition(condition: Condition | undefined): (data: unknown) => boolean {
  if (condition === undefined) return () => true;
  if ("all" in condition) {
    const parts = condition.all.map(compileCondition);
    return (data) => parts.every((part) => part(data));
  }
  if ("any" in condition) {
    const parts = condition.any.map(compileCondition);
    return (data) => parts.some((part) => part(data));
  }
  if ("not" in condition) {
    const inner = compileCondition(condition.not);
    return (data) => !inner(data);
  }
  const get = compilePointer(condition.path);
  if ("equals" in condition) return (data) => get(data) === condition.equals;
  if ("notEquals" in condition) return (data) => get(data) !== condition.notEquals;
  if ("in" in condition) {
    const allowed = new Set<unknown>(condition.in);
    return (data) => allowed.has(get(data));
  }
  if ("notIn" in condition) {
    const refused = new Set<unknown>(condition.notIn);
    return (data) => !refused.has(get(data));
  }
  if ("exists" in condition) return (data) => (get(data) !== undefined) === condition.exists;
  const compare = (test: (value: number) => boolean) => (data: unknown) => {
    const value = get(data);
    return typeof value === "number" && test(value);
  };
  if ("gt" in condition) return compare((v) => v > condition.gt);
  if ("gte" in condition) return compare((v) => v >= condition.gte);
  if ("lt" in condition) return compare((v) => v < condition.lt);
  if ("lte" in condition) return compare((v) => v <= condition.lte);
  throw new RuleError(`unknown condition ${JSON.stringify(condition)}`);
}

/** Every data pointer a rule reads (conditions and recipient sources), for the schema check. */
export function rulePointers(rule: Rule): string[] {
  const pointers: string[] = [];
  const visit = (condition: Condition | undefined): void => {
    if (!condition) return;
    if ("all" in condition) condition.all.forEach(visit);
    else if ("any" in condition) condition.any.forEach(visit);
    else if ("not" in condition) visit(condition.not);
    else pointers.push(condition.path);
  };
  visit(rule.when);
  if ("directory" in rule.recipients) pointers.push(rule.recipients.directory);
  else for (const pointer of Object.values(rule.recipients.inline)) if (pointer) pointers.push(pointer);
  return pointers;
}
