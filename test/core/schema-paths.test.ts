import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { requiredness, schemaHasPath } from "../../handlers/core/schema-paths";
import type { JsonSchema } from "../../handlers/core/schema-set";

const root = path.resolve(__dirname, "../..");
const load = (type: string, version: number): JsonSchema =>
  JSON.parse(fs.readFileSync(path.join(root, "schemas/events", type, `v${version}.schema.json`), "utf8")) as JsonSchema;

const shippedV1 = load("order.shipped", 1);
const shippedV2 = load("order.shipped", 2);
const paymentV1 = load("payment.failed", 1);
const loginV1 = load("security.login_alert", 1);

const p = (dotted: string) => (dotted === "" ? [] : dotted.split("."));

describe("schemaHasPath on the shipped schemas", () => {
  it.each([
    // order.shipped v1
    [shippedV1, "orderId", true],
    [shippedV1, "items", true],
    [shippedV1, "items.*.name", true],
    [shippedV1, "items.0.name", true],
    [shippedV1, "items.17.quantity", true],
    [shippedV1, "items.first.name", true],
    [shippedV1, "items.last.sku", true],
    [shippedV1, "items.size", true],
    [shippedV1, "orderId.size", true],
    [shippedV1, "carrier.size", true], // an enum of strings
    [shippedV1, "trackingUrl", true],
    [shippedV1, "estimatedDelivery", false],
    [shippedV1, "items.*.price", false],
    [shippedV1, "items.name", false], // must step into the array
    [shippedV1, "orderId.value", false],
    [shippedV1, "items.size.foo", false],
    [shippedV1, "items.*.quantity.size", false], // an integer has no size
    [shippedV1, "items.-1.name", false],
    [shippedV1, "", true],
    // order.shipped v2 adds the estimate
    [shippedV2, "estimatedDelivery", true],
    [shippedV2, "items.*.name", true],
    // nested objects
    [paymentV1, "amount.currency", true],
    [paymentV1, "amount.value", true],
    [paymentV1, "amount.cents", false],
    // anyOf: both branches are strings, so size exists in every branch
    [loginV1, "ipAddress", true],
    [loginV1, "ipAddress.size", true],
    [loginV1, "ipAddress.first", false],
    [loginV1, "location.city", true],
  ] as const)("%#: %j has %s: %s", (schema, dotted, expected) => {
    expect(schemaHasPath(schema, p(dotted))).toBe(expected);
  });
});

describe("requiredness on the shipped schemas", () => {
  it.each([
    [shippedV1, "orderId", "required"],
    [shippedV1, "trackingUrl", "optional"],
    [shippedV1, "estimatedDelivery", "absent"],
    [shippedV2, "estimatedDelivery", "optional"],
    [shippedV1, "items.*.name", "required"], // inside a loop the element exists
    [shippedV1, "items.first.name", "required"], // minItems: 1
    [shippedV1, "items.last.name", "required"],
    [shippedV1, "items.0.sku", "required"],
    [shippedV1, "items.1.sku", "optional"], // one item is enough
    [shippedV1, "items.size", "required"],
    [shippedV1, "items.*.price", "absent"],
    [paymentV1, "amount.currency", "required"],
    [paymentV1, "attempt", "optional"],
    [paymentV1, "orderId.size", "optional"],
    [loginV1, "location", "optional"],
    [loginV1, "location.country", "optional"], // required inside an optional object
    [loginV1, "location.city", "optional"],
    [loginV1, "ipAddress.size", "required"],
  ] as const)("%#: %j is %s", (schema, dotted, expected) => {
    expect(requiredness(schema, p(dotted))).toBe(expected);
  });
});

describe("schemaHasPath: keywords", () => {
  const address = {
    type: "object",
    required: ["city"],
    properties: { city: { type: "string" }, zip: { type: "string" } },
  };

  it("follows local $refs to $defs, to the root, and through the root's own $id", () => {
    const schema: JsonSchema = {
      $id: "https://herald.dev/schemas/events/x/v1.schema.json",
      type: "object",
      required: ["home"],
      properties: {
        home: { $ref: "#/$defs/address" },
        work: { $ref: "https://herald.dev/schemas/events/x/v1.schema.json#/$defs/address" },
        parent: { $ref: "#" },
        tilde: { $ref: "#/$defs/a~1b" },
        anchored: { $ref: "#shipping" },
        remote: { $ref: "https://example.com/other.json#/$defs/address" },
      },
      $defs: { address, "a/b": { type: "object", properties: { x: { type: "string" } } }, ship: { $anchor: "shipping", ...address } },
    };
    expect(schemaHasPath(schema, ["home", "city"])).toBe(true);
    expect(schemaHasPath(schema, ["home", "street"])).toBe(false);
    expect(schemaHasPath(schema, ["work", "zip"])).toBe(true);
    expect(schemaHasPath(schema, ["parent", "parent", "home", "zip"])).toBe(true);
    expect(schemaHasPath(schema, ["tilde", "x"])).toBe(true);
    expect(schemaHasPath(schema, ["anchored", "city"])).toBe(true);
    expect(schemaHasPath(schema, ["remote", "city"])).toBe(false);
    expect(requiredness(schema, ["home", "city"])).toBe("required");
    expect(requiredness(schema, ["home", "zip"])).toBe("optional");
    expect(requiredness(schema, ["work", "city"])).toBe("optional");
  });

  it("terminates on $ref cycles that consume no step", () => {
    const schema: JsonSchema = { $ref: "#/$defs/a", $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } } };
    expect(schemaHasPath(schema, ["x"])).toBe(false);
    expect(requiredness(schema, ["x"])).toBe("absent");
  });

  it("takes allOf as declared when any branch declares, with required from any branch", () => {
    const schema: JsonSchema = {
      allOf: [{ type: "object", properties: { a: { type: "string" } } }, { required: ["a"] }, { properties: { b: { type: "string" } } }],
    };
    expect(schemaHasPath(schema, ["a"])).toBe(true);
    expect(schemaHasPath(schema, ["b"])).toBe(true);
    expect(schemaHasPath(schema, ["c"])).toBe(false);
    expect(requiredness(schema, ["a"])).toBe("required");
    expect(requiredness(schema, ["b"])).toBe("optional");
  });

  it.each(["anyOf", "oneOf"])("takes %s as declared only when every branch declares", (keyword) => {
    const schema: JsonSchema = {
      [keyword]: [
        { type: "object", required: ["kind", "card"], properties: { kind: { const: "card" }, card: { type: "string" } } },
        { type: "object", required: ["kind"], properties: { kind: { const: "iban" }, iban: { type: "string" }, card: { type: "string" } } },
      ],
    };
    expect(schemaHasPath(schema, ["kind"])).toBe(true);
    expect(schemaHasPath(schema, ["card"])).toBe(true);
    expect(schemaHasPath(schema, ["iban"])).toBe(false);
    expect(requiredness(schema, ["kind"])).toBe("required");
    expect(requiredness(schema, ["card"])).toBe("optional"); // required in one branch only
  });

  it("declares nothing through additionalProperties, patternProperties or a true schema", () => {
    const schema: JsonSchema = {
      type: "object",
      properties: { any: true, meta: { type: "object", additionalProperties: { type: "string" } } },
      patternProperties: { "^x-": { type: "string" } },
      additionalProperties: true,
    };
    expect(schemaHasPath(schema, ["any"])).toBe(true);
    expect(schemaHasPath(schema, ["any", "deeper"])).toBe(false);
    expect(schemaHasPath(schema, ["meta", "key"])).toBe(false);
    expect(schemaHasPath(schema, ["x-custom"])).toBe(false);
    expect(schemaHasPath(schema, ["other"])).toBe(false);
  });

  it("prefers a declared property over a Liquid step of the same name", () => {
    const schema: JsonSchema = { type: "object", properties: { size: { type: "object", properties: { unit: { type: "string" } } }, first: { type: "integer" } } };
    expect(schemaHasPath(schema, ["size", "unit"])).toBe(true);
    expect(schemaHasPath(schema, ["first"])).toBe(true);
    expect(schemaHasPath(schema, ["size"])).toBe(true);
  });

  it("reads tuples: an index picks its prefixItems entry, * and last need every position", () => {
    const schema: JsonSchema = {
      type: "object",
      properties: {
        pair: { type: "array", prefixItems: [{ type: "object", properties: { a: {} } }, { type: "object", properties: { a: {}, b: {} } }], items: false, minItems: 2 },
        open: { type: "array", prefixItems: [{ type: "object", properties: { a: {} } }] },
      },
    };
    expect(schemaHasPath(schema, ["pair", "0", "a"])).toBe(true);
    expect(schemaHasPath(schema, ["pair", "0", "b"])).toBe(false);
    expect(schemaHasPath(schema, ["pair", "1", "b"])).toBe(true);
    expect(schemaHasPath(schema, ["pair", "first", "a"])).toBe(true);
    expect(schemaHasPath(schema, ["pair", "*", "a"])).toBe(true);
    expect(schemaHasPath(schema, ["pair", "*", "b"])).toBe(false);
    expect(schemaHasPath(schema, ["pair", "2", "a"])).toBe(false); // items: false
    expect(schemaHasPath(schema, ["open", "*", "a"])).toBe(false); // later positions are undeclared
    const required = { properties: { pair: (schema["properties"] as Record<string, JsonSchema>)["pair"] }, required: ["pair"] };
    expect(requiredness(required, ["pair", "1"])).toBe("required"); // minItems: 2
    expect(requiredness(required, ["pair", "1", "b"])).toBe("optional"); // b is not required in the entry
    expect(requiredness({ ...required, properties: { pair: { type: "array", items: { type: "string" }, minItems: 1 } } }, ["pair", "1"])).toBe("optional");
  });

  it("treats a step through a nullable value as optional", () => {
    const schema: JsonSchema = {
      type: "object",
      required: ["maybe", "sure"],
      properties: {
        maybe: { type: ["object", "null"], required: ["x"], properties: { x: { type: "string" } } },
        sure: { type: "object", required: ["x"], properties: { x: { type: "string" } } },
      },
    };
    expect(requiredness(schema, ["maybe"])).toBe("required");
    expect(requiredness(schema, ["maybe", "x"])).toBe("optional");
    expect(requiredness(schema, ["sure", "x"])).toBe("required");
  });

  it("allows size only on arrays and strings, and only as the last step", () => {
    const schema: JsonSchema = {
      type: "object",
      properties: { n: { type: "integer" }, o: { type: "object", properties: {} }, s: { type: "string" }, a: { type: "array", items: { type: "string" } } },
    };
    expect(schemaHasPath(schema, ["n", "size"])).toBe(false);
    expect(schemaHasPath(schema, ["o", "size"])).toBe(false);
    expect(schemaHasPath(schema, ["s", "size"])).toBe(true);
    expect(schemaHasPath(schema, ["a", "size"])).toBe(true);
    expect(schemaHasPath(schema, ["a", "*", "size"])).toBe(true);
    expect(schemaHasPath(schema, ["s", "size", "size"])).toBe(false);
  });
});
