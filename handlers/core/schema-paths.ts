/**
 * Does an event data schema declare the field a template or rule reads? `herald schemas
 * check` uses this so that a template reading a field some accepted version lacks fails
 * CI, not deliveries; rules evaluation uses {@link requiredness} to warn when a template
 * prints an optional field outside an `if`.
 *
 * Paths are relative to the schema's root (a template's `data.items.*.name` is
 * `["items", "*", "name"]`). Steps:
 * - a declared property name (`properties`, looked at first, so a property called `size`
 *   or `first` is that property);
 * - `*`, a numeric index, `first` or `last`: into the array's `items`/`prefixItems`;
 * - `size`: the length of an array or string, as the last step.
 * Local `$ref`s (`#`, `#/$defs/...`, or the root's own `$id` plus a fragment) are followed;
 * `allOf` declares a path when any branch does, `anyOf`/`oneOf` only when every branch does
 * (conservative: the instance may match any one of them). Only declared paths count:
 * `additionalProperties` or a schema of `true` does not declare names.
 */
import type { JsonSchema } from "./schema-set";

export type Requiredness = "required" | "optional" | "absent";

/** True when the schema declares `path` (see the module comment for the step rules). */
export function schemaHasPath(schema: JsonSchema, path: readonly string[]): boolean {
  return new Walker(schema).exists(schema, path, 0);
}

/**
 * `required` when every valid instance has the path (each property step is `required`,
 * each index step is within `minItems`, no step goes through a nullable value), `optional`
 * when the schema declares it but an instance may lack it, `absent` when not declared.
 * A `*` step (a loop variable) counts as present: inside the loop the element exists.
 */
export function requiredness(schema: JsonSchema, path: readonly string[]): Requiredness {
  const walker = new Walker(schema);
  if (!walker.exists(schema, path, 0)) return "absent";
  return walker.guaranteed(schema, path, 0) ? "required" : "optional";
}

type Node = JsonSchema | boolean;

const ARRAY_STEPS = new Set(["*", "first", "last"]);
const INDEX = /^(?:0|[1-9][0-9]*)$/;
/** Deep enough for any real schema; stops `$ref` cycles that consume no path step. */
const MAX_DEPTH = 64;

class Walker {
  constructor(private readonly root: JsonSchema) {}

  /** Does `node` declare `path[i..]`? */
  exists(node: Node, path: readonly string[], i: number, depth = 0): boolean {
    if (i === path.length) return true;
    if (typeof node !== "object" || node === null || depth > MAX_DEPTH) return false;
    const seg = path[i]!;

    const props = objectKeyword(node, "properties");
    if (props && Object.hasOwn(props, seg) && this.exists(props[seg] as Node, path, i + 1, depth + 1)) return true;

    if (isArrayStep(seg) && this.arrayStepExists(node, seg, path, i, depth)) return true;
    if (seg === "size" && i === path.length - 1 && hasLength(node)) return true;

    // Applicators: allOf is a conjunction (declared if any branch declares), $ref the same.
    const ref = this.deref(node);
    if (ref !== undefined && this.exists(ref, path, i, depth + 1)) return true;
    for (const branch of arrayKeyword(node, "allOf")) if (this.exists(branch, path, i, depth + 1)) return true;
    for (const keyword of ["anyOf", "oneOf"] as const) {
      const branches = arrayKeyword(node, keyword);
      if (branches.length > 0 && branches.every((branch) => this.exists(branch, path, i, depth + 1))) return true;
    }
    return false;
  }

  private arrayStepExists(node: JsonSchema, seg: string, path: readonly string[], i: number, depth: number): boolean {
    const prefix = arrayKeyword(node, "prefixItems");
    const items = node["items"] as Node | undefined;
    const index = seg === "first" ? 0 : INDEX.test(seg) ? Number(seg) : undefined;
    if (index !== undefined && index < prefix.length) return this.exists(prefix[index]!, path, i + 1, depth + 1);
    if (index !== undefined) return items !== undefined && this.exists(items, path, i + 1, depth + 1);
    // `*` and `last` may land on any position: every position must declare the rest.
    if (prefix.length === 0) return items !== undefined && this.exists(items, path, i + 1, depth + 1);
    if (!prefix.every((p) => this.exists(p, path, i + 1, depth + 1))) return false;
    return items === false || (items !== undefined && this.exists(items, path, i + 1, depth + 1));
  }

  /** Does every instance valid under `node` have `path[i..]` (given that it exists)? */
  guaranteed(node: Node, path: readonly string[], i: number, depth = 0): boolean {
    if (i === path.length) return true;
    if (typeof node !== "object" || node === null || depth > MAX_DEPTH) return false;
    const seg = path[i]!;
    // A conjunction of everything that applies here: node, allOf branches, $ref targets.
    const parts = this.conjunction(node, depth);
    // A null value has no further steps; `type` in any applying part may rule null out.
    if (parts.some((p) => typeIncludes(p, "null")) && !parts.some((p) => typeExcludes(p, "null"))) return false;

    const declaring = parts.filter((p) => {
      const props = objectKeyword(p, "properties");
      return props !== undefined && Object.hasOwn(props, seg);
    });
    if (declaring.length > 0) {
      const present = parts.some((p) => (arrayKeyword(p, "required") as unknown[]).includes(seg));
      if (present && declaring.some((p) => this.guaranteed(objectKeyword(p, "properties")![seg] as Node, path, i + 1, depth + 1))) return true;
    } else if (isArrayStep(seg)) {
      const minItems = Math.max(0, ...parts.map((p) => (typeof p["minItems"] === "number" ? p["minItems"] : 0)));
      const index = seg === "first" ? 0 : seg === "last" ? 0 : seg === "*" ? -1 : Number(seg);
      if (index < minItems) {
        for (const p of parts) {
          const prefix = arrayKeyword(p, "prefixItems");
          const items = p["items"] as Node | undefined;
          const element = index >= 0 && index < prefix.length && seg !== "last" ? prefix[index] : prefix.length === 0 ? items : undefined;
          if (element !== undefined && this.guaranteed(element, path, i + 1, depth + 1)) return true;
        }
      }
    } else if (seg === "size" && i === path.length - 1 && parts.some(hasLength)) {
      return true;
    }
    // Disjunctions guarantee the path only when each branch does.
    for (const p of parts) {
      for (const keyword of ["anyOf", "oneOf"] as const) {
        const branches = arrayKeyword(p, keyword);
        if (branches.length > 0 && branches.every((b) => this.guaranteed(b, path, i, depth + 1))) return true;
      }
    }
    return false;
  }

  private conjunction(node: JsonSchema, depth: number, out: JsonSchema[] = []): JsonSchema[] {
    if (depth > MAX_DEPTH || out.includes(node)) return out;
    out.push(node);
    const ref = this.deref(node);
    if (typeof ref === "object" && ref !== null) this.conjunction(ref, depth + 1, out);
    for (const branch of arrayKeyword(node, "allOf")) {
      if (typeof branch === "object" && branch !== null) this.conjunction(branch, depth + 1, out);
    }
    return out;
  }

  /** The target of a local `$ref`, or undefined (none, remote, or unresolvable). */
  private deref(node: JsonSchema): Node | undefined {
    const ref = node["$ref"];
    if (typeof ref !== "string") return undefined;
    const hash = ref.indexOf("#");
    if (hash < 0) return undefined;
    const base = ref.slice(0, hash);
    if (base !== "" && base !== this.root["$id"]) return undefined;
    const fragment = decodeURIComponent(ref.slice(hash + 1));
    if (fragment === "") return this.root;
    if (!fragment.startsWith("/")) return this.anchor(this.root, fragment, 0);
    let target: unknown = this.root;
    for (const raw of fragment.slice(1).split("/")) {
      const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (typeof target !== "object" || target === null || !Object.hasOwn(target, token)) return undefined;
      target = (target as Record<string, unknown>)[token];
    }
    return typeof target === "boolean" || (typeof target === "object" && target !== null && !Array.isArray(target)) ? (target as Node) : undefined;
  }

  /** `$anchor` lookup for `#name` references. */
  private anchor(node: unknown, name: string, depth: number): JsonSchema | undefined {
    if (typeof node !== "object" || node === null || depth > MAX_DEPTH) return undefined;
    if (!Array.isArray(node) && (node as JsonSchema)["$anchor"] === name) return node as JsonSchema;
    for (const value of Object.values(node)) {
      const found = this.anchor(value, name, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
}

function isArrayStep(seg: string): boolean {
  return ARRAY_STEPS.has(seg) || INDEX.test(seg);
}

function objectKeyword(node: JsonSchema, keyword: string): Readonly<Record<string, unknown>> | undefined {
  const value = node[keyword];
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function arrayKeyword(node: JsonSchema, keyword: string): Node[] {
  const value = node[keyword];
  return Array.isArray(value) ? (value as Node[]) : [];
}

function types(node: JsonSchema): readonly unknown[] | undefined {
  const type = node["type"];
  return typeof type === "string" ? [type] : Array.isArray(type) ? type : undefined;
}

function typeIncludes(node: JsonSchema, type: string): boolean {
  return types(node)?.includes(type) ?? false;
}

/** The node states its types and `type` is not among them. */
function typeExcludes(node: JsonSchema, type: string): boolean {
  const list = types(node);
  return list !== undefined && !list.includes(type);
}

/** An array or a string: `size` is its length. */
function hasLength(node: JsonSchema): boolean {
  if (typeIncludes(node, "array") || typeIncludes(node, "string")) return true;
  if (node["items"] !== undefined || node["prefixItems"] !== undefined) return true;
  const values = Array.isArray(node["enum"]) ? (node["enum"] as unknown[]) : "const" in node ? [node["const"]] : undefined;
  return values !== undefined && values.length > 0 && values.every((v) => typeof v === "string");
}
