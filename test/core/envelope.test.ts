import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_EVENT_BYTES, parseEvent, validateEvent } from "../../handlers/core/envelope";
import { ValidationError } from "../../handlers/core/errors";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { schemaSet } from "../../schemas/generated/schema-set";

const registry = new SchemaRegistry(schemaSet);
const example = (type: string, name: string) => readFileSync(join("schemas/events", type, "examples", name), "utf8");

function rejection(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

describe("parseEvent", () => {
  it("accepts every shipped example and reports the version its dataschema names", () => {
    for (const type of readdirSync("schemas/events")) {
      for (const name of readdirSync(join("schemas/events", type, "examples"))) {
        const accepted = parseEvent(example(type, name), registry);
        expect(accepted.event.type).toBe(type);
        expect(accepted.version).toBe(Number(/^v(\d+)-/.exec(name)![1]));
      }
    }
  });

  it("rejects malformed JSON", () => {
    const error = rejection(() => parseEvent('{"specversion": "1.0",', registry));
    expect(error.code).toBe("malformed-json");
  });

  it("rejects an event over 256 KB before parsing it", () => {
    const big = `{"pad":"${"x".repeat(MAX_EVENT_BYTES)}"}`;
    const error = rejection(() => parseEvent(big, registry));
    expect(error.code).toBe("too-large");
    expect(error.message).toContain("262144");
  });

  it("names every missing envelope attribute by pointer", () => {
    const error = rejection(() => parseEvent(JSON.stringify({ specversion: "1.0", type: "order.shipped" }), registry));
    expect(error.code).toBe("invalid-envelope");
    expect(error.issues.map((i) => i.pointer)).toEqual(expect.arrayContaining(["/id", "/source", "/dataschema", "/data"]));
  });

  it("rejects an unknown type and an unknown version, listing what exists", () => {
    const event = JSON.parse(example("order.shipped", "v1-standard.json"));
    const unknownType = rejection(() =>
      validateEvent({ ...event, type: "order.lost", dataschema: "https://herald.dev/schemas/events/order.lost/v1.schema.json" }, registry),
    );
    expect(unknownType.code).toBe("unknown-type");
    expect(unknownType.message).toContain("order.shipped");
    const unknownVersion = rejection(() =>
      validateEvent({ ...event, dataschema: "https://herald.dev/schemas/events/order.shipped/v7.schema.json" }, registry),
    );
    expect(unknownVersion.code).toBe("unknown-version");
    expect(unknownVersion.message).toContain("v1, v2");
  });

  it("rejects a dataschema of another type and one that is not ours", () => {
    const event = JSON.parse(example("order.shipped", "v1-standard.json"));
    expect(rejection(() => validateEvent({ ...event, type: "payment.failed" }, registry)).code).toBe("type-mismatch");
    expect(rejection(() => validateEvent({ ...event, dataschema: "https://example.com/order.json" }, registry)).code).toBe(
      "unknown-dataschema",
    );
  });

  it("validates data against the exact version named: v2 fields are refused under v1", () => {
    const event = JSON.parse(example("order.shipped", "v2-with-estimate.json"));
    const error = rejection(() =>
      validateEvent({ ...event, dataschema: "https://herald.dev/schemas/events/order.shipped/v1.schema.json" }, registry),
    );
    expect(error.code).toBe("invalid-data");
    expect(error.issues).toContainEqual(expect.objectContaining({ pointer: "/data/estimatedDelivery", keyword: "additionalProperties" }));
    expect(error.issues).toContainEqual(expect.objectContaining({ pointer: "/data/carrier", keyword: "enum" }));
  });

  it("allows CloudEvents extension attributes but not malformed ones", () => {
    const event = JSON.parse(example("payment.failed", "v1-card-declined.json"));
    expect(validateEvent({ ...event, traceparent: "00-abc-def-01" }, registry).version).toBe(1);
    const error = rejection(() => validateEvent({ ...event, "Trace-Parent": "x" }, registry));
    expect(error.code).toBe("invalid-envelope");
  });
});

describe("SchemaRegistry", () => {
  it("resolves versions and validates channel messages", () => {
    expect(registry.versions("order.shipped")).toEqual([1, 2]);
    expect(registry.latestVersion("order.shipped")).toBe(2);
    const issues = registry.validateMessage("sms", 1, { meta: {}, to: "0155", body: "hi", segments: { encoding: "GSM-7", count: 1 } });
    expect(issues.map((i) => i.pointer)).toEqual(expect.arrayContaining(["/to", "/meta/idempotencyKey"]));
    expect(() => registry.validateMessage("fax", 1, {})).toThrow(ValidationError);
  });
});
