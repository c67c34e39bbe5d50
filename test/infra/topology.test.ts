import { describe, expect, it } from "vitest";
import { channels } from "../../handlers/channels";
import { readStackConfig, StackConfigError } from "../../infra/config";
import { deriveTopology, RULES_DEFAULTS } from "../../infra/topology";

const config = (values: Record<string, string> = {}) => readStackConfig((key) => ({ cloud: "aws", ...values })[key]);

describe("deriveTopology", () => {
  it("has the rules consumer and one consumer per registered channel, from the modules' defaults", () => {
    const topology = deriveTopology(channels, config());
    expect(topology.rules).toMatchObject({ name: "rules", kind: "rules", ...RULES_DEFAULTS, secretKeys: [] });
    expect(topology.channels.map((c) => c.name)).toEqual(channels.map((c) => c.name));
    for (const consumer of topology.channels) {
      const adapter = channels.find((c) => c.name === consumer.name)!;
      expect(consumer).toMatchObject({ ...adapter.defaults, secretKeys: adapter.secretConfigKeys ?? [] });
    }
  });

  it("sizes a channel function for a whole batch of sequential sends, and the visibility at six times that", () => {
    const sms = deriveTopology(channels, config({ channels: JSON.stringify({ sms: { timeoutMs: 9_500, batchSize: 4 } }) })).channels.find((c) => c.name === "sms")!;
    expect(sms.functionTimeoutSeconds).toBe(10 * 4 + 10);
    expect(sms.visibilityTimeoutSeconds).toBe(6 * 50);
    const rules = deriveTopology(channels, config({ rules: JSON.stringify({ timeoutMs: 20_000 }) })).rules;
    expect(rules.functionTimeoutSeconds).toBe(30);
  });

  it("refuses a batch that cannot finish within the longest function run, naming the key", () => {
    expect(() => deriveTopology(channels, config({ channels: JSON.stringify({ email: { timeoutMs: 60_000, batchSize: 15 } }) }))).toThrow(StackConfigError);
    expect(() => deriveTopology(channels, config({ channels: JSON.stringify({ email: { timeoutMs: 60_000, batchSize: 15 } }) }))).toThrow(/^herald:channels\.email\.batchSize: /);
  });
});
