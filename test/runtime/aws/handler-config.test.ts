/**
 * The Lambda shims check their environment (the contract in handlers/runtime/aws/env.ts)
 * when they are built, so a stack that forgot a variable fails at cold start with the
 * variable named, not on every record later. Nothing here talks to AWS.
 */
import { describe, expect, it } from "vitest";
import { sms } from "../../../handlers/channels/sms";
import { ConfigError } from "../../../handlers/core/errors";
import { createChannelHandler } from "../../../handlers/runtime/aws/channel-handler";
import { AWS_ENV, channelQueueUrlVariable } from "../../../handlers/runtime/aws/env";
import { createRulesHandler } from "../../../handlers/runtime/aws/rules-handler";

const queues = { [channelQueueUrlVariable("email")]: "q-email", [channelQueueUrlVariable("push")]: "q-push", [channelQueueUrlVariable("sms")]: "q-sms" };
const tables = { [AWS_ENV.idempotencyTable]: "idempotency", [AWS_ENV.recipientsTable]: "recipients" };

function thrown(build: () => unknown): ConfigError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("AWS shim configuration", () => {
  it("names the variables of the contract", () => {
    expect(channelQueueUrlVariable("web-push")).toBe("HERALD_QUEUE_URL_WEB_PUSH");
    expect(AWS_ENV.channelTimeoutMs).toBe("HERALD_CHANNEL_TIMEOUT_MS");
  });

  it("refuses a rules function without every channel's queue URL, naming each", () => {
    const error = thrown(() => createRulesHandler({ env: { [channelQueueUrlVariable("email")]: "q", ...tables, [AWS_ENV.rulesDlqUrl]: "dlq" } }));
    expect(error.message).toContain("HERALD_QUEUE_URL_PUSH");
    expect(error.message).toContain("HERALD_QUEUE_URL_SMS");
    expect(error.message).not.toContain("HERALD_QUEUE_URL_EMAIL");
  });

  it("refuses a rules function without its DLQ or its tables", () => {
    expect(thrown(() => createRulesHandler({ env: { ...queues, ...tables } })).message).toContain(AWS_ENV.rulesDlqUrl);
    expect(thrown(() => createRulesHandler({ env: { ...queues, [AWS_ENV.rulesDlqUrl]: "dlq" } })).message).toContain(AWS_ENV.recipientsTable);
  });

  it("refuses a channel function without its tables or with a malformed timeout", () => {
    expect(thrown(() => createChannelHandler(sms, { env: { [AWS_ENV.recipientsTable]: "r" } })).message).toContain(AWS_ENV.idempotencyTable);
    expect(thrown(() => createChannelHandler(sms, { env: { ...tables, [AWS_ENV.channelTimeoutMs]: "soon" } })).message).toContain(AWS_ENV.channelTimeoutMs);
  });
});
