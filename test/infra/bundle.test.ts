import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { bundleChannel, bundleRules, bundleShim, clearBundleCache, conventionalSource, NO_SCHEMA_COMPILER, precompiledValidatorsEntry, REPOSITORY_ROOT } from "../../infra/bundle";
import { schemaSet } from "../../schemas/generated/schema-set";
import { shippedExamples } from "../support/local-runtime";

describe("function bundles", { timeout: 60_000 }, () => {
  it("are byte-for-byte the same when built twice from the same sources", () => {
    const first = bundleChannel("aws", "sms");
    clearBundleCache();
    const second = bundleChannel("aws", "sms");
    expect(second).not.toBe(first);
    expect(second.code).toBe(first.code);
    expect(second.sourceMap).toBe(first.sourceMap);
    expect(second.sha256).toBe(first.sha256);
  });

  it("carry only their own channel's SDK, with the schemas compiled in", () => {
    const sms = bundleChannel("aws", "sms");
    const email = bundleChannel("aws", "email");
    const push = bundleChannel("aws", "push");
    const rules = bundleRules("aws");
    // Markers of each SDK that survive minification: their own error and header strings.
    expect(email.code).toContain("nodemailer");
    expect(sms.code).not.toMatch(/nodemailer/);
    expect(push.code).not.toMatch(/nodemailer|twilio-node/);
    expect(email.code).not.toMatch(/twilio-node/);
    expect(sms.code).toMatch(/twilio-node/);
    // The rules function never sends: no delivery SDK at all, but the schemas and rules are there.
    expect(rules.code).not.toMatch(/twilio-node/);
    expect(rules.code).toContain("https://herald.dev/schemas/events/order.shipped/v1.schema.json");
    for (const bundle of [sms, email, push, rules]) {
      expect(bundle.bytes).toBeLessThan(1024 * 1024);
      expect(bundle.code).toMatch(/\/\/# sourceMappingURL=index\.js\.map\s*$/);
      // No AWS SDK: the shims sign their own JSON-protocol requests.
      expect(bundle.code).not.toMatch(/require\("@aws-sdk\//);
      expect(bundle.code).toContain("AWS4-HMAC-SHA256");
    }
  });

  it("bring the rules function's validators precompiled, judging every event exactly as Ajv compiling at run time does", async () => {
    const rules = bundleRules("aws");
    // Neither Ajv's compiler nor its code generator is in the bundle.
    expect(/new Function|strict mode: unknown keyword|schema with key or id/.test(rules.code)).toBe(false);
    expect(rules.code).toContain("its validators are precompiled");

    // The real bundle builds its handler (registry included) with no compiler present.
    const loaded = mkdtempSync(join(tmpdir(), "herald-rules-"));
    const saved = { ...process.env };
    try {
      writeFileSync(join(loaded, "index.js"), rules.code);
      Object.assign(process.env, {
        HERALD_IDEMPOTENCY_TABLE: "idempotency",
        HERALD_RECIPIENTS_TABLE: "recipients",
        HERALD_RULES_DLQ_URL: "http://127.0.0.1:9/dlq",
        HERALD_QUEUE_URL_EMAIL: "http://127.0.0.1:9/email",
        HERALD_QUEUE_URL_PUSH: "http://127.0.0.1:9/push",
        HERALD_QUEUE_URL_SMS: "http://127.0.0.1:9/sms",
      });
      const fn = createRequire(join(loaded, "index.js"))("./index.js") as { handler: (event: unknown) => Promise<unknown> };
      await expect(fn.handler({ Records: [] })).resolves.toEqual({ batchItemFailures: [] });
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      rmSync(loaded, { recursive: true, force: true });
    }

    // The same entry code and stubs, exporting the registry's parts to look at.
    const probe = buildSync({
      stdin: {
        contents: `${precompiledValidatorsEntry()}export { shippedValidators } from "./handlers/runtime/shared/shipped-validators";\nexport { SchemaRegistry } from "./handlers/core/schema-registry";\nexport { schemaSet } from "./schemas/generated/schema-set";\n`,
        resolveDir: REPOSITORY_ROOT,
        loader: "ts",
      },
      absWorkingDir: REPOSITORY_ROOT,
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      alias: { ...NO_SCHEMA_COMPILER },
      logLevel: "silent",
    }).outputFiles[0]!.text;
    const dir = mkdtempSync(join(tmpdir(), "herald-validators-"));
    try {
      writeFileSync(join(dir, "probe.js"), probe);
      const bundled = createRequire(join(dir, "probe.js"))("./probe.js") as {
        shippedValidators: () => Record<string, unknown>;
        SchemaRegistry: typeof SchemaRegistry;
        schemaSet: typeof schemaSet;
      };
      const precompiled = bundled.shippedValidators();
      const ids = Object.keys(precompiled).sort();
      expect(ids).toContain("https://herald.dev/schemas/envelope.schema.json");
      expect(ids).toContain("https://herald.dev/schemas/messages/sms/v1.schema.json");
      expect(() => new bundled.SchemaRegistry(bundled.schemaSet)).toThrow(/precompiled/);
      const fromBundle = new bundled.SchemaRegistry(bundled.schemaSet, { precompiled: precompiled as never });
      const compiling = new SchemaRegistry(schemaSet);
      let judged = 0;
      for (const { type, event } of shippedExamples()) {
        const version = Number(/\/v(\d+)\.schema\.json$/.exec(event.dataschema)![1]);
        const variants = [
          event,
          { ...event, id: "" },
          { ...event, specversion: "0.3", extra_attr: { nested: true } },
          { ...event, data: { ...event.data, unexpected: 1 } },
          { ...event, data: {} },
          { ...event, data: Object.fromEntries(Object.entries(event.data).map(([key, value]) => [key, typeof value === "string" ? 42 : "x"])) },
        ];
        for (const variant of variants) {
          expect(fromBundle.validateEnvelope(variant)).toEqual(compiling.validateEnvelope(variant));
          expect(fromBundle.validateEventData(type, version, variant.data)).toEqual(compiling.validateEventData(type, version, variant.data));
          judged++;
        }
        expect(fromBundle.validateEventData(type, version, event.data)).toEqual([]);
      }
      expect(judged).toBeGreaterThanOrEqual(36);
      // And an invalid message is refused with the same issues.
      const message = { meta: { channel: "sms" }, to: "12", body: "", segments: { encoding: "GSM-8", count: 0 } };
      expect(fromBundle.validateMessage("sms", 1, message)).toEqual(compiling.validateMessage("sms", 1, message));
      expect(compiling.validateMessage("sms", 1, message).length).toBeGreaterThan(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names a channel module by convention and says so when one is missing", () => {
    expect(conventionalSource("email")).toEqual({ file: "handlers/channels/email.ts", exportName: "email" });
    expect(() => conventionalSource("in-app")).toThrow(/channel "in-app" has no module at handlers\/channels\/in-app.ts/);
  });
});

describe("GCP function bundles", { timeout: 60_000 }, () => {
  it("leave the Google client libraries to the deploy's npm install, at the pinned versions, and carry only their own channel", () => {
    const manifest = JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> };
    const rules = bundleRules("gcp");
    const sms = bundleChannel("gcp", "sms");
    expect(rules.dependencies).toEqual({ "@google-cloud/firestore": manifest.dependencies["@google-cloud/firestore"], "@google-cloud/pubsub": manifest.dependencies["@google-cloud/pubsub"] });
    expect(rules.code).toMatch(/require\("@google-cloud\/pubsub"\)/);
    expect(sms.code).not.toMatch(/nodemailer/);
    for (const bundle of [rules, sms, bundleChannel("gcp", "email"), bundleShim("gcp", "unsubscribe")]) expect(bundle.bytes).toBeLessThan(1024 * 1024);
    // AWS bundles install nothing: the runtime has the SDK.
    expect(bundleRules("aws").dependencies).toEqual({});
  });
});
