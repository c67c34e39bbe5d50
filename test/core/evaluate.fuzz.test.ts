import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluateEvent, OUTCOME_STATUSES } from "../../handlers/core/evaluate";
import { evaluationContext, registry } from "../support/evaluation-fixture";

const examples = readdirSync("schemas/events").flatMap((type) =>
  readdirSync(join("schemas/events", type, "examples")).map((file) => JSON.parse(readFileSync(join("schemas/events", type, "examples", file), "utf8"))),
);

const REJECTION_REASONS = new Set(["malformed-json", "too-large", "invalid-envelope", "unknown-dataschema", "type-mismatch", "unknown-type", "unknown-version", "invalid-data"]);

/** Paths into a JSON value, for mutation. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((key) => paths((value as any)[key], [...prefix, key]))];
}

function mutate(event: unknown, path: (string | number)[], replacement: unknown, remove: boolean): unknown {
  const copy = structuredClone(event) as any;
  if (path.length === 0) return replacement;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  const last = path[path.length - 1]!;
  if (remove) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

const hostileString = fc.oneof(
  fc.string(),
  fc.constantFrom("{{ 7 | times: 6 }}", "{% for i in (1..100000000) %}x{% endfor %}", "<script>alert(1)</script>", "\r\nBcc: x@y.z", "__proto__", "constructor", "\u0000", "💥".repeat(200)),
);

const mutatedExample = fc
  .tuple(fc.constantFrom(...examples), fc.nat(), fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileString), fc.boolean())
  .map(([event, index, replacement, remove]) => {
    const all = paths(event);
    return mutate(event, all[index % all.length]!, replacement, remove);
  });

const input = fc.oneof(
  { weight: 4, arbitrary: mutatedExample },
  { weight: 1, arbitrary: mutatedExample.map((event) => JSON.stringify(event)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => (typeof value === "object" && value !== null ? value : JSON.stringify(value))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

describe("evaluateEvent under random input", () => {
  it("gives every one of 10,000 random envelopes a typed verdict, never an exception", async () => {
    const context = evaluationContext();
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(input, async (value) => {
        const result = await evaluateEvent(value as object, context);
        if (!result.accepted) {
          rejected += 1;
          expect(REJECTION_REASONS.has(result.reason), result.reason).toBe(true);
          expect(result.message.length).toBeGreaterThan(0);
          return;
        }
        accepted += 1;
        for (const outcome of result.outcomes) {
          expect(OUTCOME_STATUSES).toContain(outcome.status);
          expect(outcome.reason).toMatch(/^[a-z0-9-]+$/);
        }
        for (const message of result.messages) expect(registry.validateMessage(message.meta.channel, 1, message)).toEqual([]);
      }),
      { numRuns: 10_000, seed: 20261125, interruptAfterTimeLimit: 60_000 },
    );
    // Both branches must be exercised, or the property proves little.
    expect(accepted).toBeGreaterThan(500);
    expect(rejected).toBeGreaterThan(500);
    expect(accepted + rejected).toBe(10_000);
  }, 90_000);
});
