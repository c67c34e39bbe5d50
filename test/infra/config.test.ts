import { describe, expect, it } from "vitest";
import { readStackConfig, StackConfigError } from "../../infra/config";

const from = (values: Record<string, string>) => (key: string) => values[key];

describe("readStackConfig", () => {
  it("reads cloud, alarm e-mail and per-channel overrides", () => {
    const config = readStackConfig(
      from({ cloud: "gcp", alarmEmail: "ops@example.com", channels: JSON.stringify({ email: { concurrency: 3, maxAttempts: 5 } }) }),
    );
    expect(config).toEqual({ cloud: "gcp", alarmEmail: "ops@example.com", channels: { email: { concurrency: 3, maxAttempts: 5 } } });
  });

  it.each([
    [{}, "herald:cloud"],
    [{ cloud: "digitalocean" }, "herald:cloud"],
    [{ cloud: "aws", alarmEmail: "not-an-address" }, "herald:alarmEmail"],
    [{ cloud: "aws", channels: "[1,2]" }, "herald:channels"],
    [{ cloud: "aws", channels: JSON.stringify({ sms: { concurency: 2 } }) }, "herald:channels.sms.concurency"],
    [{ cloud: "aws", channels: JSON.stringify({ sms: { concurrency: 0 } }) }, "herald:channels.sms.concurrency"],
  ])("rejects %j naming %s", (values, key) => {
    try {
      readStackConfig(from(values as Record<string, string>));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StackConfigError);
      expect((error as StackConfigError).key).toBe(key);
      expect((error as Error).message.startsWith(`${key}: `)).toBe(true);
    }
  });
});
