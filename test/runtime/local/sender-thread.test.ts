import { readFileSync } from "node:fs";
import webpush from "web-push";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelRegistry } from "../../../handlers/channels";
import { ConfigError, PermanentError, TransientError } from "../../../handlers/core/errors";
import { compileRules, evaluateEvent } from "../../../handlers/core/evaluate";
import { InMemoryDirectory } from "../../../handlers/core/in-memory-directory";
import { InMemoryFrequencyLimiter } from "../../../handlers/core/policies";
import type { ChannelMessage, Logger } from "../../../handlers/core/ports";
import { SchemaRegistry } from "../../../handlers/core/schema-registry";
import { startSendersInWorker, type SenderThread } from "../../../handlers/runtime/local/senders/sender-thread";
import { sinkChannelEnv, startSinksInWorker, type WorkerSinks } from "../../../handlers/runtime/local/sinks/sink-worker";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import { rules } from "../../../handlers/rules";
import { schemaSet } from "../../../schemas/generated/schema-set";

const example = JSON.parse(readFileSync("schemas/events/herald.test_notification/examples/v1-email-and-sms.json", "utf8"));

describe("senders in a worker thread", () => {
  let sinks: WorkerSinks;
  let thread: SenderThread;
  const delivered: SinkDelivery[] = [];
  const logged: Array<{ level: string; message: string }> = [];
  const logger: Logger = {
    debug: (_f, message) => logged.push({ level: "debug", message }),
    info: (_f, message) => logged.push({ level: "info", message }),
    warn: (_f, message) => logged.push({ level: "warn", message }),
    error: (_f, message) => logged.push({ level: "error", message }),
  };
  let messages: Map<string, ChannelMessage>;

  beforeAll(async () => {
    const vapid = webpush.generateVAPIDKeys();
    sinks = await startSinksInWorker({ vapidPublicKey: vapid.publicKey, smtp: true, twilio: true, onDelivery: (d) => void delivered.push(d) });
    thread = await startSendersInWorker({
      channels: ["email", "push", "sms", "pager"],
      env: sinkChannelEnv(sinks, vapid),
      logger,
      debug: true,
    });
    const context = {
      registry: new SchemaRegistry(schemaSet),
      rules: compileRules(rules, channelRegistry()),
      directory: new InMemoryDirectory([]),
      limiter: new InMemoryFrequencyLimiter(),
    };
    const result = await evaluateEvent(example, context);
    if (!result.accepted) throw new Error(`example rejected: ${result.message}`);
    messages = new Map(result.messages.map((message) => [message.meta.channel, message]));
  });
  afterAll(async () => {
    await thread?.close();
    await sinks?.close();
  });

  it("sends through the real channel code to the sinks and returns the provider's answer", async () => {
    const result = await thread.senders.get("email")!.send(messages.get("email")!);
    expect(typeof result.providerMessageId).toBe("string");
    expect(delivered.some((d) => d.channel === "email" && d.address === (messages.get("email") as unknown as { to: string }).to)).toBe(true);
  });

  it("keeps the error's class and fields across the thread: a 550 is permanent and suppresses", async () => {
    await sinks.smtp!.failNext(550);
    const error = await thread.senders.get("email")!.send(messages.get("email")!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).suppress).toBe("hard-bounce");
    await sinks.smtp!.failNext(451);
    expect(await thread.senders.get("email")!.send(messages.get("email")!).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
  });

  it("reports a channel whose config the module refused, and fails its sends with that ConfigError", async () => {
    // No HERALD_SMS_FROM: the sms module refuses its config.
    const unconfigured = await startSendersInWorker({ channels: ["sms"], env: { TWILIO_ACCOUNT_SID: `AC${"0".repeat(32)}`, TWILIO_AUTH_TOKEN: "t" }, logger });
    try {
      expect(unconfigured.unconfigured.get("sms")).toBeInstanceOf(ConfigError);
      expect(unconfigured.unconfigured.get("sms")!.message).toMatch(/HERALD_SMS_FROM/);
      expect(await unconfigured.senders.get("sms")!.send(messages.get("sms")!).catch((e: unknown) => e)).toBeInstanceOf(ConfigError);
    } finally {
      await unconfigured.close();
    }
    // A channel the registry does not have is refused the same way.
    expect(thread.unconfigured.get("pager")).toBeInstanceOf(ConfigError);
  });

  it("aborts a send in the thread when the caller's signal fires", async () => {
    await sinks.twilio!.setLatency(10_000);
    try {
      const controller = new AbortController();
      const started = Date.now();
      const sending = thread.senders.get("sms")!.send(messages.get("sms")!, controller.signal);
      setTimeout(() => controller.abort(new TransientError("timeout", "send took longer than the test allows")), 100);
      const error = await sending.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await sinks.twilio!.setLatency(0);
    }
  });

  it("forwards the senders' log lines to the parent's logger", () => {
    expect(logged.some((line) => line.level === "debug")).toBe(true);
  });
});
