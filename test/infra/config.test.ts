import { describe, expect, it } from "vitest";
import { checkSecretKeys, readStackConfig, StackConfigError } from "../../infra/config";

const from = (values: Record<string, string>) => (key: string) => values[key];
const context = { channels: ["email", "push", "sms"], secretKeys: ["HERALD_SMTP_URL", "TWILIO_AUTH_TOKEN"] };

describe("readStackConfig", () => {
  it("reads cloud, alarm e-mail and per-channel overrides", () => {
    const config = readStackConfig(
      from({ cloud: "gcp", alarmEmail: "ops@example.com", channels: JSON.stringify({ email: { concurrency: 3, maxAttempts: 5 } }) }),
    );
    expect(config).toEqual({
      cloud: "gcp",
      alarmEmail: "ops@example.com",
      channels: { email: { concurrency: 3, maxAttempts: 5 } },
      rules: {},
      settings: {},
      logRetentionDays: 30,
      queueAgeAlarmSeconds: 900,
    });
  });

  it("reads region, rules overrides, plain settings, secret names and alarm thresholds", () => {
    const config = readStackConfig(
      from({
        cloud: "aws",
        region: "eu-west-1",
        rules: JSON.stringify({ concurrency: 4 }),
        channels: JSON.stringify({ sms: { secretName: "acme-twilio" } }),
        settings: JSON.stringify({ HERALD_EMAIL_FROM: "herald <n@example.com>" }),
        logRetentionDays: "14",
        queueAgeAlarmSeconds: "300",
      }),
      context,
    );
    expect(config).toMatchObject({
      region: "eu-west-1",
      rules: { concurrency: 4 },
      channels: { sms: { secretName: "acme-twilio" } },
      settings: { HERALD_EMAIL_FROM: "herald <n@example.com>" },
      logRetentionDays: 14,
      queueAgeAlarmSeconds: 300,
    });
  });

  it("accepts secret settings only for keys a channel declares secret", () => {
    expect(() => checkSecretKeys({ TWILIO_AUTH_TOKEN: "t" }, context)).not.toThrow();
    expect(() => checkSecretKeys({ TWILIO_AUTH_TOKN: "t" }, context)).toThrow(/^herald:secrets\.TWILIO_AUTH_TOKN: is not a secret/);
    expect(() => checkSecretKeys({ TWILIO_AUTH_TOKEN: "" }, context)).toThrow(/^herald:secrets\.TWILIO_AUTH_TOKEN: must be a non-empty string/);
  });

  it.each([
    [{}, "herald:cloud"],
    [{ cloud: "digitalocean" }, "herald:cloud"],
    [{ cloud: "aws", alarmEmail: "not-an-address" }, "herald:alarmEmail"],
    [{ cloud: "aws", channels: "[1,2]" }, "herald:channels"],
    [{ cloud: "aws", channels: JSON.stringify({ sms: { concurency: 2 } }) }, "herald:channels.sms.concurency"],
    [{ cloud: "aws", channels: JSON.stringify({ sms: { concurrency: 0 } }) }, "herald:channels.sms.concurrency"],
    [{ cloud: "aws", channels: JSON.stringify({ pagr: { concurrency: 2 } }) }, "herald:channels.pagr"],
    [{ cloud: "aws", channels: JSON.stringify({ sms: { secretName: "has spaces" } }) }, "herald:channels.sms.secretName"],
    [{ cloud: "aws", region: "Mars 1" }, "herald:region"],
    [{ cloud: "aws", rules: JSON.stringify({ secretName: "x" }) }, "herald:rules.secretName"],
    [{ cloud: "aws", settings: JSON.stringify({ TWILIO_AUTH_TOKEN: "t" }) }, "herald:settings.TWILIO_AUTH_TOKEN"],
    [{ cloud: "aws", settings: JSON.stringify({ "lower-case": "x" }) }, "herald:settings.lower-case"],
    [{ cloud: "aws", logRetentionDays: "10" }, "herald:logRetentionDays"],
    [{ cloud: "aws", queueAgeAlarmSeconds: "soon" }, "herald:queueAgeAlarmSeconds"],
  ])("rejects %j naming %s", (values, key) => {
    try {
      readStackConfig(from(values as Record<string, string>), context);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StackConfigError);
      expect((error as StackConfigError).key).toBe(key);
      expect((error as Error).message.startsWith(`${key}: `)).toBe(true);
    }
  });
});
