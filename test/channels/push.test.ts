import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createECDH, randomBytes } from "node:crypto";
import webpush from "web-push";
import { ConfigError, PermanentError, TransientError } from "../../handlers/core/errors";
import type { Logger } from "../../handlers/core/ports";
import {
  PushHttpError,
  PushTimeoutError,
  classifyPushError,
  parseRetryAfter,
  push,
  vapidAuthorizer,
  type PushConfig,
  type PushMessage,
  type PushPayload,
} from "../../handlers/channels/push";
import type { LookupFn } from "../../handlers/channels/push-address-guard";
import { PUSH_MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES } from "../../handlers/core/push-limits";
import {
  installLoopbackJail,
  startPushService,
  startScriptedServer,
  type LoopbackJail,
  type PushService,
  type ScriptedServer,
} from "../support/push-service";

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const vapid = webpush.generateVAPIDKeys();
const SUBJECT = "mailto:ops@herald.example";

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
    HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
    HERALD_VAPID_SUBJECT: SUBJECT,
    ...extra,
  };
}

function browserKeys(): { p256dh: string; auth: string } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") };
}

function message(
  endpoint: string,
  keys: { p256dh: string; auth: string },
  overrides: Partial<Pick<PushMessage, "payload" | "ttlSeconds" | "urgency" | "topic">> = {},
): PushMessage {
  return {
    meta: {
      idempotencyKey: "0123456789abcdef".repeat(4),
      channel: "push",
      eventId: "evt-42",
      eventSource: "urn:herald:test",
      eventType: "order.shipped",
      eventVersion: 1,
      rule: "order-shipped",
      recipientId: "user-7",
      category: "orders",
      critical: false,
      locale: "en-GB",
      createdAt: "2025-06-01T12:00:00Z",
    },
    subscription: { endpoint, expirationTime: null, keys },
    payload: { title: "Your order shipped", body: "Parcel 4711 is on its way ✈️", url: "https://shop.example/orders/4711", tag: "order-4711" },
    ttlSeconds: 3600,
    urgency: "high",
    ...overrides,
  };
}

describe("push adapter: opening and config", () => {
  it("opens like every channel module", () => {
    // The member order itself is checked for every channel in build-message.test.ts.
    expect(push.name).toBe("push");
    expect(push.messageSchemaVersion).toBe(1);
    expect(push.defaults).toEqual({ concurrency: 50, maxAttempts: 8, timeoutMs: 10_000, batchSize: 10 });
    const m = message("https://fcm.googleapis.com/fcm/send/abc", browserKeys());
    expect(push.addressOf(m)).toBe("https://fcm.googleapis.com/fcm/send/abc");
  });

  it("reads VAPID settings and the allow list", () => {
    const config = push.readConfig(env({ HERALD_PUSH_ALLOW_HOSTS: "127.0.0.1:8090, localhost ,[::1]:9000" }));
    expect(config.vapid.subject).toBe(SUBJECT);
    expect(config.vapid.publicKey).toBe(vapid.publicKey);
    expect(config.vapid.privateKey).toBe(vapid.privateKey);
    expect([...config.allowHosts].sort()).toEqual(["127.0.0.1:8090", "[::1]:9000", "localhost"]);
    expect(config.timeoutMs).toBe(10_000);
    expect(push.readConfig(env()).allowHosts.size).toBe(0);
  });

  it("never shows the private key when the config is serialised or inspected", async () => {
    const config = push.readConfig(env());
    expect(JSON.stringify(config)).not.toContain(vapid.privateKey);
    const { inspect } = await import("node:util");
    expect(inspect(config, { depth: 5 })).not.toContain(vapid.privateKey);
  });

  it.each(["HERALD_VAPID_PUBLIC_KEY", "HERALD_VAPID_PRIVATE_KEY", "HERALD_VAPID_SUBJECT"])("a missing %s is a ConfigError naming it", (key) => {
    const source = { ...env(), [key]: undefined };
    const error = (() => {
      try {
        push.readConfig(source);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(key);
  });

  it.each([
    ["HERALD_VAPID_PUBLIC_KEY", "not-a-key"],
    ["HERALD_VAPID_PUBLIC_KEY", webpush.generateVAPIDKeys().privateKey], // 32 bytes: a private key in the wrong place
    ["HERALD_VAPID_PRIVATE_KEY", "short"],
    ["HERALD_VAPID_PRIVATE_KEY", webpush.generateVAPIDKeys().privateKey], // valid, but of another pair
    ["HERALD_VAPID_SUBJECT", "ops@herald.example"],
    ["HERALD_VAPID_SUBJECT", "http://herald.example/contact"],
    ["HERALD_VAPID_SUBJECT", "https://localhost/contact"],
    ["HERALD_PUSH_ALLOW_HOSTS", "127.0.0.1:8090,http://oops/"],
  ])("a bad %s (%s) is a ConfigError naming the key, not the secret", (key, value) => {
    let error: unknown;
    try {
      push.readConfig(env({ [key]: value }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(key);
    expect((error as Error).message).not.toContain(vapid.privateKey);
    if (key === "HERALD_VAPID_PRIVATE_KEY") expect((error as Error).message).not.toContain(value);
  });
});

describe("classify", () => {
  const endpoint = "https://push.example/…";
  const http = (status: number, headers: Record<string, string> = {}) => classifyPushError(new PushHttpError(status, headers, "", endpoint));

  it.each([404, 410])("%i is permanent and suppresses the gone subscription", (status) => {
    const error = http(status);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: "push-subscription-gone", suppress: "subscription-gone" });
    expect(error.cause).toBeInstanceOf(PushHttpError);
  });

  it.each([
    [400, "push-bad-request"],
    [413, "push-payload-too-large"],
    [422, "push-rejected"],
  ])("%i is permanent without suppression", (status, code) => {
    const error = http(status);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code, suppress: undefined });
  });

  it.each([401, 403])("%i is a VAPID ConfigError", (status) => {
    expect(http(status)).toBeInstanceOf(ConfigError);
    expect(http(status).code).toBe("push-vapid-rejected");
  });

  it("429 is transient and carries Retry-After in seconds or as an HTTP-date", () => {
    const seconds = http(429, { "retry-after": "120" });
    expect(seconds).toBeInstanceOf(TransientError);
    expect(seconds).toMatchObject({ code: "push-throttled", retryAfterMs: 120_000 });
    const at = new Date(Date.now() + 90_000).toUTCString();
    const dated = http(429, { "retry-after": at }) as TransientError;
    expect(dated.retryAfterMs).toBeGreaterThan(85_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(90_000);
    expect((http(429) as TransientError).retryAfterMs).toBeUndefined();
  });

  it.each([500, 502, 503, 504, 408])("%i is transient", (status) => {
    expect(http(status)).toBeInstanceOf(TransientError);
  });

  it("timeouts, socket errors and aborts are transient; delivery errors pass through", () => {
    expect(classifyPushError(new PushTimeoutError(endpoint, 10))).toMatchObject({ code: "push-timeout" });
    expect(classifyPushError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toBeInstanceOf(TransientError);
    expect(classifyPushError(new DOMException("aborted", "AbortError"))).toMatchObject({ code: "push-aborted" });
    expect(classifyPushError("weird")).toBeInstanceOf(TransientError);
    const permanent = new PermanentError("x", "y");
    expect(classifyPushError(permanent)).toBe(permanent);
  });

  it("never branches on message text", () => {
    // Same wording as a 410, but it is a socket error: the class decides, not the words.
    const error = classifyPushError(Object.assign(new Error("410 Gone subscription expired"), { code: "EPIPE" }));
    expect(error).toBeInstanceOf(TransientError);
  });

  it("parses Retry-After", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter("5", now)).toBe(5000);
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Tue, 31 Dec 2024 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("push against web-push-testing (real VAPID + aes128gcm)", () => {
  let service: PushService;
  let jail: LoopbackJail;
  let config: PushConfig;

  beforeAll(async () => {
    jail = installLoopbackJail();
    service = await startPushService();
    config = push.readConfig(env({ HERALD_PUSH_ALLOW_HOSTS: service.hostPort }));
  });

  afterAll(async () => {
    await service.close();
    expect(jail.refused).toEqual([]);
    jail.uninstall();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("delivers an encrypted, VAPID-signed push that decrypts to what we sent", async () => {
    const subscription = await service.subscribe(vapid.publicKey);
    expect(subscription.endpoint.startsWith(`${service.origin}/notify/`)).toBe(true);
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      const m = message(subscription.endpoint, subscription.keys);
      await expect(sender.send(m)).resolves.toEqual({});
      const received = await service.notifications(subscription.clientHash);
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0]!) as PushPayload).toEqual(m.payload);
    } finally {
      await sender.close();
    }
  });

  it("delivers a payload of exactly the limit and refuses one byte more without sending", async () => {
    const subscription = await service.subscribe(vapid.publicKey);
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      const base = message(subscription.endpoint, subscription.keys, { payload: { title: "t", body: "" } });
      const overhead = Buffer.byteLength(JSON.stringify(base.payload));
      const fits: PushPayload = { title: "t", body: "x".repeat(MAX_PAYLOAD_BYTES - overhead) };
      expect(Buffer.byteLength(JSON.stringify(fits))).toBe(MAX_PAYLOAD_BYTES);
      await sender.send({ ...base, payload: fits });

      const tooBig: PushPayload = { title: "t", body: "x".repeat(MAX_PAYLOAD_BYTES - overhead + 1) };
      const error = await sender.send({ ...base, payload: tooBig }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: "push-payload-too-large" });

      const received = await service.notifications(subscription.clientHash);
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0]!)).toEqual(fits);
    } finally {
      await sender.close();
    }
  });

  it("an expired subscription (410) is permanent and suppresses the subscription", async () => {
    const subscription = await service.subscribe(vapid.publicKey);
    await service.expire(subscription.clientHash);
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      const error = await sender.send(message(subscription.endpoint, subscription.keys)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: "push-subscription-gone", suppress: "subscription-gone" });
      expect(((error as PermanentError).cause as PushHttpError).statusCode).toBe(410);
      expect((error as Error).message).not.toContain(subscription.clientHash);
    } finally {
      await sender.close();
    }
  });

  it("a VAPID key the subscription was not made for is rejected (web-push-testing says 400, not 401/403)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {}); // the service logs the JWT failure
    const subscription = await service.subscribe(vapid.publicKey);
    const other = webpush.generateVAPIDKeys();
    const wrong = push.readConfig({
      HERALD_VAPID_PUBLIC_KEY: other.publicKey,
      HERALD_VAPID_PRIVATE_KEY: other.privateKey,
      HERALD_VAPID_SUBJECT: SUBJECT,
      HERALD_PUSH_ALLOW_HOSTS: service.hostPort,
    });
    const sender = push.createSender(wrong, { logger: quietLogger });
    try {
      const error = await sender.send(message(subscription.endpoint, subscription.keys)).catch((e: unknown) => e);
      // Real services answer 401 (Mozilla) or 403 (FCM, Apple) -> ConfigError, tested below;
      // this one answers 400 for every validation failure, which DESIGN.md maps to permanent.
      expect(error).toBeInstanceOf(PermanentError);
      expect(((error as PermanentError).cause as PushHttpError).statusCode).toBe(400);
      expect(await service.notifications(subscription.clientHash)).toEqual([]);
    } finally {
      await sender.close();
    }
  });

  it("pins the connection to the checked address: DNS is asked once per send", async () => {
    const subscription = await service.subscribe(vapid.publicKey);
    const port = new URL(service.origin).port;
    const calls: string[] = [];
    // First answer loopback, later answers an address the jail refuses: a client that
    // resolved again at connect time would fail.
    const lookup: LookupFn = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? "127.0.0.1" : "10.9.9.9", family: 4 }];
    };
    const pinnedConfig: PushConfig = {
      ...push.readConfig(env({ HERALD_PUSH_ALLOW_HOSTS: `push.test.internal:${port}` })),
      lookup,
    };
    const sender = push.createSender(pinnedConfig, { logger: quietLogger });
    try {
      const endpoint = subscription.endpoint.replace("127.0.0.1", "push.test.internal");
      await sender.send(message(endpoint, subscription.keys));
      expect(calls).toEqual(["push.test.internal"]);
      expect(await service.notifications(subscription.clientHash)).toHaveLength(1);
    } finally {
      await sender.close();
    }
  });
});

describe("push against a scripted local service", () => {
  let server: ScriptedServer;
  let jail: LoopbackJail;
  let config: PushConfig;
  const keys = browserKeys();

  beforeAll(async () => {
    jail = installLoopbackJail();
    server = await startScriptedServer();
    config = { ...push.readConfig(env({ HERALD_PUSH_ALLOW_HOSTS: server.hostPort })), timeoutMs: 1500 };
  });

  afterAll(async () => {
    await server.close();
    expect(jail.refused).toEqual([]);
    jail.uninstall();
  });

  async function sendOnce(cfg: PushConfig = config, path = "/push/sub-1", signal?: AbortSignal): Promise<unknown> {
    const sender = push.createSender(cfg, { logger: quietLogger });
    try {
      return await sender.send(message(`${server.origin}${path}`, keys, { topic: "order-4711", urgency: "low", ttlSeconds: 120 }), signal);
    } catch (error) {
      return error;
    } finally {
      await sender.close();
    }
  }

  it("sends the Web Push headers and returns the message Location", async () => {
    server.respond((_req, res) => {
      res.writeHead(201, { location: `${server.origin}/message/m-1` });
      res.end();
    });
    const before = server.requests.length;
    expect(await sendOnce()).toEqual({ providerMessageId: `${server.origin}/message/m-1` });
    const req = server.requests[before]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/push/sub-1");
    expect(req.headers["content-encoding"]).toBe("aes128gcm");
    expect(req.headers["ttl"]).toBe("120");
    expect(req.headers["urgency"]).toBe("low");
    expect(req.headers["topic"]).toBe("order-4711");
    expect(req.headers["authorization"]).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${vapid.publicKey}$`));
    // The JWT audience is the origin we posted to.
    const jwt = /t=([^,]+)/.exec(req.headers["authorization"]!)![1]!;
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { aud: string; sub: string };
    expect(claims).toMatchObject({ aud: server.origin, sub: SUBJECT });
    expect(req.body.length).toBeGreaterThan(86 + 16);
    expect(req.body.toString("utf8")).not.toContain("Your order shipped"); // encrypted
  });

  it("the payload limit fills, and does not exceed, the 4096-byte encrypted body", async () => {
    server.respond((_req, res) => {
      res.writeHead(201);
      res.end();
    });
    const overhead = Buffer.byteLength(JSON.stringify({ title: "t", body: "" }));
    const atLimit: PushPayload = { title: "t", body: "x".repeat(MAX_PAYLOAD_BYTES - overhead) };
    const before = server.requests.length;
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      await sender.send(message(`${server.origin}/push/limit`, keys, { payload: atLimit }));
    } finally {
      await sender.close();
    }
    expect(server.requests[before]!.body.length).toBe(4096);
  });

  it("429 with Retry-After is transient with retryAfterMs", async () => {
    server.respond((_req, res) => {
      res.writeHead(429, { "retry-after": "7" });
      res.end("slow down");
    });
    const error = await sendOnce();
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: "push-throttled", retryAfterMs: 7000 });
  });

  it("429 with an HTTP-date Retry-After", async () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    server.respond((_req, res) => {
      res.writeHead(429, { "retry-after": at });
      res.end();
    });
    const error = (await sendOnce()) as TransientError;
    expect(error).toBeInstanceOf(TransientError);
    expect(error.retryAfterMs).toBeGreaterThan(55_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it("500 is transient; 503 with Retry-After carries it", async () => {
    server.respond((_req, res) => {
      res.writeHead(500);
      res.end("boom");
    });
    const e500 = await sendOnce();
    expect(e500).toBeInstanceOf(TransientError);
    expect(e500).toMatchObject({ code: "push-service-error", retryAfterMs: undefined });
    server.respond((_req, res) => {
      res.writeHead(503, { "retry-after": "30" });
      res.end();
    });
    expect(await sendOnce()).toMatchObject({ code: "push-service-error", retryAfterMs: 30_000 });
  });

  it.each([
    [401, ConfigError, "push-vapid-rejected"],
    [403, ConfigError, "push-vapid-rejected"],
    [404, PermanentError, "push-subscription-gone"],
    [400, PermanentError, "push-bad-request"],
    [413, PermanentError, "push-payload-too-large"],
  ] as const)("%i from the service", async (status, cls, code) => {
    server.respond((_req, res) => {
      res.writeHead(status);
      res.end(JSON.stringify({ reason: "whatever the provider says" }));
    });
    const error = await sendOnce();
    expect(error).toBeInstanceOf(cls);
    expect(error).toMatchObject({ code });
  });

  it("a service that never answers times out as a transient error", async () => {
    server.respond(() => {
      /* hang */
    });
    const started = Date.now();
    const error = await sendOnce({ ...config, timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: "push-timeout" });
  });

  it("a caller's abort is transient", async () => {
    server.respond(() => {
      /* hang */
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await sendOnce(config, "/push/sub-1", controller.signal);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: "push-aborted" });
  });

  it("a refused connection is transient", async () => {
    const closed = await startScriptedServer();
    const hostPort = closed.hostPort;
    await closed.close();
    const cfg: PushConfig = { ...push.readConfig(env({ HERALD_PUSH_ALLOW_HOSTS: hostPort })), timeoutMs: 1500 };
    const sender = push.createSender(cfg, { logger: quietLogger });
    try {
      const error = await sender.send(message(`http://${hostPort}/push/x`, keys)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).toMatchObject({ code: "push-network" });
    } finally {
      await sender.close();
    }
  });

  it("signs one VAPID token per push service and reuses it for the next messages", async () => {
    server.respond((_req, res) => {
      res.writeHead(201);
      res.end();
    });
    const before = server.requests.length;
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      await sender.send(message(`${server.origin}/push/sub-1`, keys));
      await sender.send(message(`${server.origin}/push/sub-2`, keys));
    } finally {
      await sender.close();
    }
    const [first, second] = server.requests.slice(before).map((r) => r.headers["authorization"]);
    expect(first).toBeDefined();
    expect(second).toBe(first);
    const jwt = /t=([^,]+)/.exec(first!)![1]!;
    const { exp } = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { exp: number };
    const hoursLeft = (exp - Date.now() / 1000) / 3600;
    expect(hoursLeft).toBeGreaterThan(11.9);
    expect(hoursLeft).toBeLessThanOrEqual(12);
  });

  it("renews a token an hour before it expires, per origin", () => {
    let now = Date.UTC(2026, 0, 1);
    const authorize = vapidAuthorizer(webpush, push.readConfig(env({})).vapid, () => now);
    const token = (header: string) => /t=([^,]+)/.exec(header)![1]!;
    const first = authorize("https://push-a.example");
    expect(authorize("https://push-a.example")).toBe(first);
    expect(token(authorize("https://push-b.example"))).not.toBe(token(first));
    now += 10.9 * 3600_000;
    expect(authorize("https://push-a.example")).toBe(first);
    now += 0.2 * 3600_000; // 11.1 h: inside the last hour of a 12-hour token
    const renewed = authorize("https://push-a.example");
    expect(renewed).not.toBe(first);
    const { exp } = JSON.parse(Buffer.from(token(renewed).split(".")[1]!, "base64url").toString()) as { exp: number };
    expect(exp).toBe(Math.floor(now / 1000) + 12 * 3600);
  });

  it("follows up to 3 redirects, re-signing for the new location", async () => {
    server.respond((req, res) => {
      const hop = Number(/\/hop\/(\d)/.exec(req.url)?.[1] ?? 0);
      if (hop < 3) {
        res.writeHead(307, { location: `/hop/${hop + 1}` });
        res.end();
      } else {
        res.writeHead(201);
        res.end();
      }
    });
    const before = server.requests.length;
    expect(await sendOnce(config, "/hop/0")).toEqual({});
    expect(server.requests.slice(before).map((r) => r.url)).toEqual(["/hop/0", "/hop/1", "/hop/2", "/hop/3"]);
    expect(server.requests.slice(before).every((r) => r.method === "POST" && r.body.length > 0)).toBe(true);
  });

  it("refuses a fourth redirect", async () => {
    server.respond((req, res) => {
      res.writeHead(302, { location: `/loop${req.url}` });
      res.end();
    });
    const before = server.requests.length;
    const error = await sendOnce();
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: "push-too-many-redirects" });
    expect(server.requests.length - before).toBe(4);
  });

  it("refuses malformed subscription keys before connecting", async () => {
    const before = server.connections;
    const sender = push.createSender(config, { logger: quietLogger });
    try {
      const error = await sender
        .send(message(`${server.origin}/push/x`, { p256dh: "A".repeat(87), auth: keys.auth }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: "push-invalid-subscription", suppress: "invalid-address" });
      expect(server.connections).toBe(before);
    } finally {
      await sender.close();
    }
  });
});
