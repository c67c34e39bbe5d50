import { existsSync } from "node:fs";
import * as path from "node:path";
import { inspect } from "node:util";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import metaSchema from "../../schemas/messages/meta/v1.schema.json";
import smsSchema from "../../schemas/messages/sms/v1.schema.json";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SmsConfig, type SmsMessage, sms } from "../../handlers/channels/sms";
import { ConfigError, type DeliveryError, PermanentError, TransientError } from "../../handlers/core/errors";
import type { ChannelSender, Logger } from "../../handlers/core/ports";
import { freePort } from "../support/ports";
import { type PrismPeer, type TwilioPeer, startPrism, startTwilioPeer, twilioError } from "../support/twilio-peers";

const ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN = "7f3c9a1e5b2d48f6a0c4e8b1d3f5a7c9";
const FROM = "+14155550100";
const MESSAGING_SERVICE_SID = "MG0123456789abcdef0123456789abcdef";
const TO = "+14155552671";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, HERALD_SMS_FROM: FROM, ...overrides };
}

function message(overrides: Partial<Omit<SmsMessage, "meta">> = {}): SmsMessage {
  return {
    meta: {
      idempotencyKey: "a".repeat(64),
      channel: "sms",
      eventId: "evt-1",
      eventSource: "urn:herald:test",
      eventType: "order.shipped",
      eventVersion: 1,
      rule: "order-shipped",
      recipientId: "user-1",
      category: "transactional",
      critical: false,
      locale: "en-US",
      createdAt: "2025-01-01T00:00:00Z",
    },
    to: TO,
    body: "Your order has shipped.",
    segments: { encoding: "GSM-7", count: 1 },
    ...overrides,
  };
}

/** Runs `promise`, which must reject, and returns what it rejected with. */
async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    return error as DeliveryError;
  }
  throw new Error("expected the send to fail, but it succeeded");
}

describe("sms channel: module opening", () => {
  it("names itself, its message schema and its defaults, and addresses the message's number", () => {
    expect(sms.name).toBe("sms");
    expect(sms.messageSchemaVersion).toBe(1);
    expect(existsSync(path.resolve(__dirname, `../../schemas/messages/${sms.name}/v${sms.messageSchemaVersion}.schema.json`))).toBe(true);
    expect(sms.defaults).toEqual({ concurrency: 5, maxAttempts: 8, timeoutMs: 15_000, batchSize: 10 });
    expect(sms.addressOf(message({ to: "+447911123456" }))).toBe("+447911123456");
  });

  it("types a message that the JSON schema accepts, and the schema refuses what the type would not", () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(metaSchema);
    const validate = ajv.compile(smsSchema);
    expect(validate(message()), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...message(), to: "07911123456" })).toBe(false);
    expect(validate({ ...message(), segments: { encoding: "UTF-8", count: 1 } })).toBe(false);
  });
});

describe("sms channel: readConfig", () => {
  it("reads a complete configuration", () => {
    const config = sms.readConfig(
      env({
        HERALD_TWILIO_API_BASE: "http://127.0.0.1:4010/",
        HERALD_SMS_ALLOWED_COUNTRIES: "us, gb,DE",
        HERALD_SMS_STATUS_CALLBACK: "https://hooks.example.com/twilio/status",
        HERALD_SMS_MAX_SEGMENTS: "6",
      }),
    );
    expect(config).toEqual({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      sender: { from: FROM },
      apiBase: "http://127.0.0.1:4010",
      allowedCountries: ["US", "GB", "DE"],
      statusCallback: "https://hooks.example.com/twilio/status",
      maxSegments: 6,
      timeoutMs: 15_000,
    });
  });

  it("defaults to every country, four segments and api.twilio.com, and accepts a Messaging Service SID", () => {
    const config = sms.readConfig(env({ HERALD_SMS_FROM: MESSAGING_SERVICE_SID, HERALD_SMS_ALLOWED_COUNTRIES: "" }));
    expect(config.sender).toEqual({ messagingServiceSid: MESSAGING_SERVICE_SID });
    expect(config.allowedCountries).toBeUndefined();
    expect(config.apiBase).toBeUndefined();
    expect(config.statusCallback).toBeUndefined();
    expect(config.maxSegments).toBe(4);
  });

  it.each([
    ["TWILIO_ACCOUNT_SID", undefined, "config-missing"],
    ["TWILIO_ACCOUNT_SID", "AC123", "config-invalid"],
    ["TWILIO_ACCOUNT_SID", "SK0123456789abcdef0123456789abcdef", "config-invalid"],
    ["TWILIO_AUTH_TOKEN", undefined, "config-missing"],
    ["TWILIO_AUTH_TOKEN", "  ", "config-missing"],
    ["TWILIO_AUTH_TOKEN", "abc def", "config-invalid"],
    ["HERALD_SMS_FROM", undefined, "config-missing"],
    ["HERALD_SMS_FROM", "4155550100", "config-invalid"],
    ["HERALD_SMS_FROM", "MG123", "config-invalid"],
    ["HERALD_TWILIO_API_BASE", "127.0.0.1:4010", "config-invalid"],
    ["HERALD_TWILIO_API_BASE", "ftp://127.0.0.1", "config-invalid"],
    ["HERALD_TWILIO_API_BASE", "http://user:pw@127.0.0.1:4010", "config-invalid"],
    ["HERALD_SMS_ALLOWED_COUNTRIES", "US,XX", "config-invalid"],
    ["HERALD_SMS_ALLOWED_COUNTRIES", "USA", "config-invalid"],
    ["HERALD_SMS_ALLOWED_COUNTRIES", "US,,GB", "config-invalid"],
    ["HERALD_SMS_STATUS_CALLBACK", "http://hooks.example.com/status", "config-invalid"],
    ["HERALD_SMS_STATUS_CALLBACK", "not a url", "config-invalid"],
    ["HERALD_SMS_MAX_SEGMENTS", "0", "config-invalid"],
    ["HERALD_SMS_MAX_SEGMENTS", "11", "config-invalid"],
    ["HERALD_SMS_MAX_SEGMENTS", "2.5", "config-invalid"],
    ["HERALD_SMS_MAX_SEGMENTS", "four", "config-invalid"],
  ])("refuses %s = %j with a ConfigError naming the key", (key, value, code) => {
    let thrown: unknown;
    try {
      sms.readConfig(env({ [key]: value }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).code).toBe(code);
    expect((thrown as ConfigError).message).toContain(key);
  });

  it("never puts the auth token into an error, even when it is pasted into the wrong variable", () => {
    const messages: string[] = [];
    for (const source of [
      env({ TWILIO_ACCOUNT_SID: AUTH_TOKEN }),
      env({ HERALD_SMS_FROM: AUTH_TOKEN }),
      env({ HERALD_TWILIO_API_BASE: AUTH_TOKEN }),
      env({ HERALD_SMS_STATUS_CALLBACK: AUTH_TOKEN }),
      env({ HERALD_SMS_MAX_SEGMENTS: AUTH_TOKEN }),
      env({ HERALD_SMS_ALLOWED_COUNTRIES: AUTH_TOKEN }),
      env({ TWILIO_AUTH_TOKEN: `${AUTH_TOKEN} x` }),
    ]) {
      try {
        sms.readConfig(source);
      } catch (error) {
        messages.push(inspect(error));
      }
    }
    expect(messages).toHaveLength(7);
    for (const text of messages) expect(text).not.toContain(AUTH_TOKEN);
  });
});

describe("sms channel: against Prism serving Twilio's own OpenAPI spec", () => {
  let prism: PrismPeer;
  const senders: ChannelSender<SmsMessage>[] = [];

  beforeAll(async () => {
    prism = await startPrism();
  });
  afterAll(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await prism?.stop();
  });

  function senderFor(config: SmsConfig): ChannelSender<SmsMessage> {
    const sender = sms.createSender(config, { logger: silent });
    senders.push(sender);
    return sender;
  }

  it("accepts our messages.create request from a number and from a Messaging Service", async () => {
    const base = sms.readConfig(
      env({ HERALD_TWILIO_API_BASE: prism.baseUrl, HERALD_SMS_STATUS_CALLBACK: "https://hooks.example.com/twilio/status" }),
    );
    const logged = prism.requestLog().length;
    const fromNumber = await senderFor(base).send(message({ body: "Your code is 123456 😀" }));
    expect(fromNumber.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/i);

    const fromService = await senderFor({ ...base, sender: { messagingServiceSid: MESSAGING_SERVICE_SID } }).send(message());
    expect(fromService.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/i);
    // Prism's own validator says so, not just a 201 that a lenient mock would give anyway.
    const log = prism.requestLog().slice(logged);
    expect(log.filter((l) => l.includes(`post /2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`))).toHaveLength(2);
    expect(log.filter((l) => l.includes("[VALIDATOR]") && l.includes("passed the validation rules"))).toHaveLength(2);
  });

  it("rejects a malformed request, so the acceptance above means something", async () => {
    // Built by hand past readConfig's checks: each breaks one rule of Twilio's spec.
    const base = sms.readConfig(env({ HERALD_TWILIO_API_BASE: prism.baseUrl }));
    const badService = await failure(senderFor({ ...base, sender: { messagingServiceSid: "MG-not-a-sid" } }).send(message()));
    expect(badService).toBeInstanceOf(PermanentError);
    expect(badService.code).toBe("http-422");
    expect((badService as PermanentError).suppress).toBeUndefined();

    const badCallback = await failure(senderFor({ ...base, statusCallback: "not a uri" }).send(message()));
    expect(badCallback.code).toBe("http-422");

    const badAccount = await failure(senderFor({ ...base, accountSid: "AC0123" }).send(message()));
    expect(badAccount.code).toBe("http-422");
    expect(prism.requestLog().join("\n")).toContain("must match pattern \"^MG[0-9a-fA-F]{32}$\"");
  });
});

describe("sms channel: Twilio replies from a scripted local peer", () => {
  let peer: TwilioPeer;
  let sender: ChannelSender<SmsMessage>;
  let config: SmsConfig;

  beforeAll(async () => {
    peer = await startTwilioPeer();
    config = sms.readConfig(env({ HERALD_TWILIO_API_BASE: peer.baseUrl, HERALD_SMS_STATUS_CALLBACK: "https://hooks.example.com/s" }));
    sender = sms.createSender(config, { logger: silent });
  });
  afterEach(() => peer.reset());
  afterAll(async () => {
    await sender?.close();
    await peer?.stop();
  });

  it("sends the form Twilio expects, with basic auth, to the configured base, and returns the SID", async () => {
    const result = await sender.send(message({ body: "Café €5 [ok]" }));
    expect(result.providerMessageId).toBe(`SM${"1".padStart(32, "0")}`);
    expect(peer.requests).toHaveLength(1);
    const [request] = peer.requests;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(request?.contentType).toBe("application/x-www-form-urlencoded");
    expect(request?.authorization).toBe(`Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString("base64")}`);
    expect(request?.form).toEqual({ To: TO, From: FROM, Body: "Café €5 [ok]", StatusCallback: "https://hooks.example.com/s" });
  });

  it("keeps a path prefix of the API base and sends MessagingServiceSid instead of From", async () => {
    const prefixed = sms.createSender(
      { ...config, apiBase: `${peer.baseUrl}/twilio`, sender: { messagingServiceSid: MESSAGING_SERVICE_SID } },
      { logger: silent },
    );
    try {
      await prefixed.send(message());
    } finally {
      await prefixed.close();
    }
    expect(peer.requests.map((r) => r.url)).toEqual([`/twilio/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`]);
    expect(peer.requests[0]?.form.MessagingServiceSid).toBe(MESSAGING_SERVICE_SID);
    expect(peer.requests[0]?.form.From).toBeUndefined();
  });

  it.each([
    { code: 21211, status: 400, kind: PermanentError, suppress: "invalid-address" },
    { code: 21614, status: 400, kind: PermanentError, suppress: "invalid-address" },
    { code: 21635, status: 400, kind: PermanentError, suppress: "invalid-address" },
    { code: 21610, status: 400, kind: PermanentError, suppress: "opt-out" },
    { code: 21602, status: 400, kind: PermanentError, suppress: undefined },
    { code: 20003, status: 401, kind: ConfigError, suppress: undefined },
    { code: 21606, status: 400, kind: ConfigError, suppress: undefined },
    { code: 21608, status: 400, kind: ConfigError, suppress: undefined },
    { code: 20500, status: 500, kind: TransientError, suppress: undefined },
    { code: 20503, status: 503, kind: TransientError, suppress: undefined },
  ])("classifies Twilio error $code (HTTP $status) as $kind.name", async ({ code, status, kind, suppress }) => {
    peer.reply(twilioError(status, code, "scripted failure"));
    const error = await failure(sender.send(message()));
    expect(peer.requests).toHaveLength(1);
    expect(error).toBeInstanceOf(kind);
    expect(error.code).toBe(`twilio-${code}`);
    expect("suppress" in error ? error.suppress : undefined).toBe(suppress);
    expect(error.cause).toMatchObject({ status, code });
  });

  it("classifies 429 / 20429 as transient and carries Retry-After", async () => {
    peer.reply({ ...twilioError(429, 20429, "Too Many Requests"), headers: { "Retry-After": "7" } });
    const seconds = await failure(sender.send(message()));
    expect(seconds).toBeInstanceOf(TransientError);
    expect(seconds.code).toBe("twilio-20429");
    expect((seconds as TransientError).retryAfterMs).toBe(7_000);

    const at = new Date(Date.now() + 60_000).toUTCString();
    peer.reply({ status: 429, body: "<html>slow down</html>", headers: { "Retry-After": at } });
    const date = await failure(sender.send(message()));
    expect(date).toBeInstanceOf(TransientError);
    expect(date.code).toBe("http-429");
    expect((date as TransientError).retryAfterMs).toBeGreaterThan(55_000);
    expect((date as TransientError).retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it("classifies a 5xx without a Twilio body as transient, and other 4xx without a code as permanent", async () => {
    peer.reply({ status: 502, body: "<html>bad gateway</html>" }, { status: 404, body: "<html>not found</html>" });
    const gateway = await failure(sender.send(message()));
    expect(gateway).toBeInstanceOf(TransientError);
    expect(gateway.code).toBe("http-502");
    expect((gateway as TransientError).retryAfterMs).toBeUndefined();
    const missing = await failure(sender.send(message()));
    expect(missing).toBeInstanceOf(PermanentError);
    expect(missing.code).toBe("http-404");
  });

  it("classifies an RFC 9457 problem body by its Twilio code too", async () => {
    peer.reply({
      status: 400,
      body: { type: "https://www.twilio.com/docs/errors/21610", title: "Unsubscribed recipient", status: 400, code: 21610 },
    });
    const error = await failure(sender.send(message()));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.code).toBe("twilio-21610");
    expect((error as PermanentError).suppress).toBe("opt-out");
  });

  it("classifies a refused connection as transient without leaking credentials through its cause", async () => {
    const closed = sms.createSender({ ...config, apiBase: `http://127.0.0.1:${await freePort()}` }, { logger: silent });
    try {
      const error = await failure(closed.send(message()));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.code).toBe("ECONNREFUSED");
      const printed = inspect(error, { depth: 10 }) + JSON.stringify(error);
      expect(printed).not.toContain(AUTH_TOKEN);
      expect(printed).not.toContain(Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString("base64"));
    } finally {
      await closed.close();
    }
  });

  it("gives up after timeoutMs when Twilio does not answer", async () => {
    const impatient = sms.createSender({ ...config, timeoutMs: 300 }, { logger: silent });
    peer.reply({ hang: true });
    const started = Date.now();
    try {
      const error = await failure(impatient.send(message()));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.code).toBe("ETIMEDOUT");
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await impatient.close();
    }
    expect(peer.requests).toHaveLength(1);
  });

  it("honours the caller's AbortSignal, before and during the request", async () => {
    const early = await failure(sender.send(message(), AbortSignal.abort()));
    expect(early).toBeInstanceOf(TransientError);
    expect(early.code).toBe("aborted");
    expect(peer.requests).toHaveLength(0);

    peer.reply({ hang: true });
    const controller = new AbortController();
    const pending = sender.send(message(), controller.signal);
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const late = await failure(pending);
    expect(late).toBeInstanceOf(TransientError);
    expect(late.code).toBe("aborted");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(peer.requests).toHaveLength(1);
  });

  it("classify() keeps delivery errors, reads network codes, and calls anything else transient", () => {
    const permanent = new PermanentError("x", "already classified");
    expect(sms.classify(permanent)).toBe(permanent);
    const reset = sms.classify(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    expect(reset).toBeInstanceOf(TransientError);
    expect(reset.code).toBe("ECONNRESET");
    const nested = sms.classify(new TypeError("fetch failed", { cause: Object.assign(new Error("t"), { code: "ETIMEDOUT" }) }));
    expect(nested.code).toBe("ETIMEDOUT");
    const unknown = sms.classify(new Error("something odd"));
    expect(unknown).toBeInstanceOf(TransientError);
    expect(unknown.code).toBe("unknown");
    expect(sms.classify({ status: 401 })).toBeInstanceOf(ConfigError);
    expect(sms.classify({ status: 503, code: 0, headers: { "retry-after": "3" } })).toMatchObject({ code: "http-503", retryAfterMs: 3_000 });
  });
});

describe("sms channel: refused before any request reaches Twilio", () => {
  let peer: TwilioPeer;
  let config: SmsConfig;
  const senders: ChannelSender<SmsMessage>[] = [];

  beforeAll(async () => {
    peer = await startTwilioPeer();
    config = sms.readConfig(env({ HERALD_TWILIO_API_BASE: peer.baseUrl }));
  });
  afterEach(() => peer.reset());
  afterAll(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await peer?.stop();
  });

  function senderWith(overrides: Partial<SmsConfig> = {}): ChannelSender<SmsMessage> {
    const sender = sms.createSender({ ...config, ...overrides }, { logger: silent });
    senders.push(sender);
    return sender;
  }

  it.each(["14155552671", "+1 415 555 2671", "+0123456789", "+1415", "+44", "+999123456789", "tel:+14155552671", ""])(
    "refuses %j as an invalid address and suppresses it",
    async (to) => {
      const error = await failure(senderWith().send(message({ to })));
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.code).toBe("invalid-address");
      expect((error as PermanentError).suppress).toBe("invalid-address");
      expect(peer.requests).toHaveLength(0);
    },
  );

  // Countries outside the allowlist and premium-rate numbers: test/security/sms-destinations.test.ts.

  it("refuses a body over the segment limit, counting it again rather than trusting the message", async () => {
    const sender = senderWith();
    const claimsOne = { encoding: "GSM-7", count: 1 } as const;
    for (const body of ["a".repeat(613), "€".repeat(307), "😀".repeat(135)]) {
      const error = await failure(sender.send(message({ body, segments: claimsOne })));
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.code).toBe("too-many-segments");
    }
    const strict = await failure(senderWith({ maxSegments: 1 }).send(message({ body: "a".repeat(161) })));
    expect(strict.code).toBe("too-many-segments");
    expect(peer.requests).toHaveLength(0);

    await sender.send(message({ body: "a".repeat(612) }));
    await sender.send(message({ body: "😀".repeat(132) }));
    expect(peer.requests).toHaveLength(2);
  });
});
