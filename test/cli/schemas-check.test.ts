import { afterEach, describe, expect, it } from "vitest";
import { SchemaWorkspace } from "../support/schema-workspace";

let workspace: SchemaWorkspace;
afterEach(() => workspace?.dispose());

/** Adds v3 of order.shipped (from v2), changed by `change`, with a matching example. */
function addOrderShippedV3(change: (schema: Record<string, any>) => void, example?: (data: Record<string, any>) => void) {
  const v3 = workspace.read("events/order.shipped/v2.schema.json");
  v3.$id = v3.$id.replace("v2.schema", "v3.schema");
  change(v3);
  workspace.write("events/order.shipped/v3.schema.json", v3);
  const sample = workspace.read("events/order.shipped/examples/v2-with-estimate.json");
  sample.dataschema = v3.$id;
  example?.(sample.data);
  workspace.write("events/order.shipped/examples/v3-sample.json", sample);
}

describe("herald schemas check", () => {
  it("passes on the shipped schemas and says what it checked", async () => {
    workspace = new SchemaWorkspace();
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^schemas ok: 5 event types, 6 versions, \d+ examples, 4 message schemas$/);
  });

  it("catches a new version that adds a required field (BACKWARD break)", async () => {
    workspace = new SchemaWorkspace();
    addOrderShippedV3(
      (s) => {
        s.properties.warehouse = { type: "string" };
        s.required.push("warehouse");
      },
      (data) => (data.warehouse = "BER-1"),
    );
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/schemas\/events\/order\.shipped\/v3\.schema\.json#\S*: BACKWARD_TRANSITIVE compatibility broken: .*warehouse.*\(consumers on v3 would reject events valid under v1\)/);
    expect(result.err).toMatch(/warehouse.*under v2/);
  });

  it("catches a narrowed enum", async () => {
    workspace = new SchemaWorkspace();
    addOrderShippedV3((s) => (s.properties.carrier.enum = ["ups", "fedex", "dhl"]));
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/order\.shipped\/v3\.schema\.json#\/properties\/carrier\S*: BACKWARD_TRANSITIVE compatibility broken: .*usps/);
  });

  it("catches a changed type", async () => {
    workspace = new SchemaWorkspace();
    addOrderShippedV3(
      (s) => (s.properties.trackingNumber = { type: "integer" }),
      (data) => (data.trackingNumber = 12345),
    );
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/order\.shipped\/v3\.schema\.json#\/properties\/trackingNumber\S*: BACKWARD_TRANSITIVE compatibility broken/);
  });

  it("catches a removed required field under FORWARD", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/order.shipped/meta.json", (meta) => (meta.compatibility = "FORWARD"));
    addOrderShippedV3(
      (s) => {
        delete s.properties.trackingNumber;
        s.required = s.required.filter((name: string) => name !== "trackingNumber");
      },
      (data) => delete data.trackingNumber,
    );
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/v3\.schema\.json\S*: FORWARD compatibility broken: .*trackingNumber.*\(consumers still on v2 would reject events valid under v3\)/);
  });

  it("accepts a compatible v3 once locked, and refuses to lock a broken one", async () => {
    workspace = new SchemaWorkspace();
    addOrderShippedV3((s) => (s.properties.giftMessage = { type: "string", maxLength: 500 }));
    let result = await workspace.herald("schemas", "check");
    expect(result.err).toMatch(/v3\.schema\.json: not published yet: missing from the lock file — review it, then run `herald schemas lock`/);
    result = await workspace.herald("schemas", "lock");
    expect(result.out).toContain("locked events/order.shipped/v3.schema.json");
    expect(workspace.read("schemas.lock.json").schemas["events/order.shipped/v3.schema.json"]).toMatch(/^sha256-[0-9a-f]{64}$/);
    await workspace.herald("schemas", "gen");
    result = await workspace.herald("schemas", "check");
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
  });

  it("catches an in-place edit of a published version, but not a description fix", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/payment.failed/v1.schema.json", (s) => (s.description = "A payment attempt failed (reworded)."));
    expect((await workspace.herald("schemas", "check")).err).not.toMatch(/published version was edited/);
    workspace.edit("events/payment.failed/v1.schema.json", (s) => (s.properties.amount.properties.value.minimum = 1));
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      "schemas/events/payment.failed/v1.schema.json: a published version was edited so that what it accepts changed — revert it and publish the change as v2 (`herald schemas new-version payment.failed`)",
    );
  });

  it("catches a deleted published version", async () => {
    workspace = new SchemaWorkspace();
    const lock = workspace.read("schemas.lock.json");
    lock.schemas["events/user.signed_up/v2.schema.json"] = lock.schemas["events/user.signed_up/v1.schema.json"];
    workspace.write("schemas.lock.json", lock);
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toMatch(/events\/user\.signed_up\/v2\.schema\.json: a published version was deleted/);
  });

  it("catches an example that no longer validates, naming the field", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/payment.failed/examples/v1-card-declined.json", (e) => (e.data.reason = "bank_on_fire"));
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/examples\/v1-card-declined\.json#\/data\/reason: example does not validate \(invalid-data\): must be one of "card_declined"/);
  });

  it("reports malformed JSON with line and column, and still checks everything else", async () => {
    workspace = new SchemaWorkspace();
    workspace.write("events/user.signed_up/v1.schema.json", '{\n  "type": "object",\n  "properties": {,}\n}\n');
    workspace.edit("events/payment.failed/examples/v1-card-declined.json", (e) => delete e.data.customerId);
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/user\.signed_up\/v1\.schema\.json: malformed JSON: line 3, column \d+/);
    expect(result.err).toMatch(/v1-card-declined\.json#\/data\/customerId: example does not validate \(invalid-data\): is required/);
    expect(result.err).not.toMatch(/at Object|\n\s+at /);
  });

  it("reports a schema that is not valid JSON Schema, and a typo'd keyword", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/user.signed_up/v1.schema.json", (s) => (s.properties.plan = { type: "strng" }));
    workspace.edit("events/security.login_alert/v1.schema.json", (s) => (s.requried = ["userId"]));
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toMatch(/user\.signed_up\/v1\.schema\.json#\/properties\/plan\/type: not valid JSON Schema/);
    expect(result.err).toMatch(/security\.login_alert\/v1\.schema\.json: does not compile: strict mode: unknown keyword: "requried"/);
  });

  it("reports a missing example, a wrong $id, an open object and a version gap", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/user.signed_up/examples/v1-pro.json", (e) => (e.dataschema = "https://herald.dev/schemas/events/user.signed_up/v9.schema.json"));
    workspace.edit("events/payment.failed/v1.schema.json", (s) => {
      s.$id = "https://example.com/payment.json";
      delete s.properties.amount.additionalProperties;
    });
    workspace.write("events/security.login_alert/v3.schema.json", workspace.read("events/security.login_alert/v1.schema.json"));
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toMatch(/v1-pro\.json#\/dataschema: example does not validate \(unknown-version\)/);
    expect(result.err).toMatch(/user\.signed_up\/v1\.schema\.json: v1 has no valid example — add .*examples\/v1-<name>\.json/);
    expect(result.err).toMatch(/payment\.failed\/v1\.schema\.json#\/\$id: \$id is "https:\/\/example\.com\/payment\.json"/);
    expect(result.err).toMatch(/payment\.failed\/v1\.schema\.json#\/properties\/amount: object schema is open/);
    expect(result.err).toMatch(/security\.login_alert\/v3\.schema\.json: versions must run v1, v2, \.\.\. without gaps/);
  });

  it("prints problems as JSON with --json", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/payment.failed/examples/v1-card-declined.json", (e) => (e.data.amount.currency = "euro"));
    const result = await workspace.herald("schemas", "check", "--json");
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ file: expect.stringMatching(/v1-card-declined\.json$/), pointer: "/data/amount/currency" }),
    );
  });

  it("flags stale generated types", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/user.signed_up/v1.schema.json", (s) => (s.properties.name.description = "Display name"));
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toMatch(/generated\/event-types\.ts: generated file is stale — run `herald schemas gen`/);
  });
});

describe("herald schemas new-version", () => {
  it("scaffolds the next version and its examples, which then pass once locked", async () => {
    workspace = new SchemaWorkspace();
    const created = await workspace.herald("schemas", "new-version", "payment.failed");
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/created .*payment\.failed\/v2\.schema\.json/);
    expect(created.out).toMatch(/created .*examples\/v2-card-declined\.json/);
    expect(workspace.read("events/payment.failed/v2.schema.json").$id).toBe("https://herald.dev/schemas/events/payment.failed/v2.schema.json");
    await workspace.herald("schemas", "lock");
    await workspace.herald("schemas", "gen");
    const result = await workspace.herald("schemas", "check");
    expect(result.err).toBe("");
  });

  it("refuses an unknown type with a usage error", async () => {
    workspace = new SchemaWorkspace();
    const result = await workspace.herald("schemas", "new-version", "order.cancelled");
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^herald: no event type "order\.cancelled"/);
  });
});

describe("rule and template references", () => {
  it("fails when a field a template reads is removed from a version a rule accepts", async () => {
    workspace = new SchemaWorkspace();
    workspace.edit("events/order.shipped/v2.schema.json", (s) => {
      delete s.properties.trackingNumber;
      s.required = s.required.filter((name: string) => name !== "trackingNumber");
    });
    const result = await workspace.herald("schemas", "check");
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /handlers\/rules\/order-shipped\.ts: rule "order-shipped" reads data\.trackingNumber \(.*template.*\), which order\.shipped v2 does not declare — /,
    );
    expect(result.err).not.toMatch(/order\.shipped v1 does not declare/);
  });
});
