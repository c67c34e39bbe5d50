import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bundleChannel, bundleRules, bundleShim, clearBundleCache, conventionalSource } from "../../infra/bundle";

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
      // The AWS SDK comes from the nodejs22.x runtime.
      expect(bundle.code).toMatch(/require\("@aws-sdk\/client-sqs"\)/);
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
