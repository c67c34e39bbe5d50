/**
 * The local delivery sinks, each driven by the real channel module over the real
 * protocol: email -> nodemailer -> SMTP -> smtp-sink; push -> web-push (VAPID, aes128gcm)
 * -> HTTP -> push-sink (verifies, decrypts); sms -> twilio client -> HTTP -> twilio-sink.
 * Everything listens and connects on 127.0.0.1 only.
 */
import { createHash, createPrivateKey, randomBytes, sign } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import nodemailer from "nodemailer";
import webpush from "web-push";
import { email, type EmailMessage } from "../../../handlers/channels/email";
import { push, PushHttpError, type PushMessage } from "../../../handlers/channels/push";
import { sms, type SmsMessage } from "../../../handlers/channels/sms";
import { ConfigError, PermanentError, TransientError, type DeliveryError } from "../../../handlers/core/errors";
import type { ChannelSender, Logger, MessageMeta } from "../../../handlers/core/ports";
import type { PushSubscriptionJson } from "../../../handlers/core/recipients";
import { startPushSink, PUSH_SINK_MAX_BODY_BYTES, type PushSink } from "../../../handlers/runtime/local/sinks/push-sink";
import { startSmtpSink, type SmtpSink } from "../../../handlers/runtime/local/sinks/smtp-sink";
import { startTwilioSink, type TwilioSink } from "../../../handlers/runtime/local/sinks/twilio-sink";
import type {
  EmailSinkContent,
  PushSinkContent,
  SinkDelivery,
  SmsSinkContent,
} from "../../../handlers/runtime/local/sinks/types";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function meta(channel: string, seed: string, overrides: Partial<MessageMeta> = {}): MessageMeta {
  return {
    idempotencyKey: createHash("sha256").update(seed).digest("hex"),
    channel,
    eventId: `evt-${seed}`,
    eventSource: "urn:herald:test",
    eventType: "order.shipped",
    eventVersion: 1,
    rule: "order-shipped",
    recipientId: "user-7",
    category: "orders",
    critical: false,
    locale: "en-GB",
    createdAt: "2025-05-01T12:00:00Z",
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

function built<M>(result: { ok: true; message: M } | { ok: false; reason: string; detail: string }): M {
  if (!result.ok) throw new Error(`buildMessage refused: ${result.reason}: ${result.detail}`);
  return result.message;
}

// ---------------------------------------------------------------------------
// SMTP

describe("smtp sink, reached by the email module", () => {
  let sink: SmtpSink;
  const deliveries: SinkDelivery[] = [];
  let throwOnDelivery = false;
  const senders: ChannelSender<EmailMessage>[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink({
      host: "127.0.0.1",
      port: 0,
      onDelivery: (delivery) => {
        if (throwOnDelivery) throw new Error("mailbox full");
        deliveries.push(delivery);
      },
    });
  });
  afterEach(async () => {
    deliveries.length = 0;
    throwOnDelivery = false;
    await Promise.all(senders.splice(0).map((s) => s.close()));
  });
  afterAll(() => sink.close());

  function sender(smtpUrl = sink.url): ChannelSender<EmailMessage> {
    const config = email.readConfig({ HERALD_SMTP_URL: smtpUrl, HERALD_EMAIL_FROM: "Herald Shop <noreply@herald.example>" });
    const created = email.createSender(config, { logger: quiet });
    senders.push(created);
    return created;
  }

  function mail(seed: string, overrides: { critical?: boolean } = {}): EmailMessage {
    return built(
      email.buildMessage({
        meta: meta("email", seed, { critical: overrides.critical ?? false }),
        target: "ada@example.com",
        parts: { subject: "Your order 42 has shipped\n", html: "<p>Order <b>42</b> is on its way.</p>", text: "Order 42 is on its way." },
        unsubscribeUrl: "https://herald.example/unsubscribe?t=abc123",
        options: {},
      }),
    );
  }

  it("hands out a URL with generated credentials, on 127.0.0.1", () => {
    const url = new URL(sink.url);
    expect(url.protocol).toBe("smtp:");
    expect(url.hostname).toBe("127.0.0.1");
    expect(Number(url.port)).toBe(sink.port);
    expect(url.username).toMatch(/^herald-[0-9a-f]{8}$/);
    expect(url.password.length).toBeGreaterThanOrEqual(24);
  });

  it("receives the message the email module sends, with its parts and list headers", async () => {
    const message = mail("smtp-happy");
    const result = await sender().send(message);

    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0]!;
    const content = delivery.content as EmailSinkContent;
    expect(delivery.channel).toBe("email");
    expect(delivery.address).toBe("ada@example.com");
    expect(delivery.summary).toBe("Your order 42 has shipped");
    expect(Number.isNaN(Date.parse(delivery.receivedAt))).toBe(false);
    expect(content.envelope).toEqual({ from: "noreply@herald.example", to: ["ada@example.com"] });
    expect(content.from).toContain("noreply@herald.example");
    expect(content.from).toContain("Herald Shop");
    expect(content.to).toBe("ada@example.com");
    expect(content.subject).toBe("Your order 42 has shipped");
    expect(content.html?.trim()).toBe("<p>Order <b>42</b> is on its way.</p>");
    expect(content.text?.trim()).toBe("Order 42 is on its way.");
    expect(content.headers["list-unsubscribe"]).toBe("<https://herald.example/unsubscribe?t=abc123>");
    expect(content.headers["list-unsubscribe-post"]).toBe("List-Unsubscribe=One-Click");
    expect(content.headers["message-id"]).toBe(`<${message.meta.idempotencyKey}@herald.example>`);
    expect(content.headers["x-herald-idempotency-key"]).toBe(message.meta.idempotencyKey);
    expect(content.authenticatedUser).toBe(decodeURIComponent(new URL(sink.url).username));
    expect(result.providerMessageId).toContain(content.queueId);
  });

  it("leaves list headers off critical mail", async () => {
    await sender().send(mail("smtp-critical", { critical: true }));
    const content = deliveries[0]!.content as EmailSinkContent;
    expect(content.headers["list-unsubscribe"]).toBeUndefined();
    expect(content.headers["list-unsubscribe-post"]).toBeUndefined();
    expect(content.headers["x-herald-idempotency-key"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("requires AUTH: no credentials is a ConfigError (530), a wrong password too (EAUTH)", async () => {
    const url = new URL(sink.url);
    const anonymous = await failure(sender(`smtp://127.0.0.1:${url.port}`).send(mail("smtp-anon")));
    expect(anonymous).toBeInstanceOf(ConfigError);
    expect(anonymous.code).toBe("smtp-530");

    url.password = "not-the-password";
    const wrong = await failure(sender(url.href).send(mail("smtp-wrong-pass")));
    expect(wrong).toBeInstanceOf(ConfigError);
    expect(wrong.code).toBe("EAUTH");
    expect(deliveries).toHaveLength(0);
  });

  it("takes given credentials, percent-encoded into the URL", async () => {
    const custom = await startSmtpSink({ host: "127.0.0.1", port: 0, onDelivery: (d) => deliveries.push(d), username: "ops@local", password: "p@ss:w/rd%" });
    try {
      expect(custom.url).toBe(`smtp://ops%40local:p%40ss%3Aw%2Frd%25@127.0.0.1:${custom.port}`);
      const channel = sender(custom.url);
      await channel.send(mail("smtp-custom-creds"));
      expect((deliveries[0]!.content as EmailSinkContent).authenticatedUser).toBe("ops@local");
      await channel.close();
    } finally {
      await custom.close();
    }
  });

  it("failNext(451) makes the send a TransientError, once", async () => {
    const channel = sender();
    sink.failNext(451);
    const error = await failure(channel.send(mail("smtp-451")));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.code).toBe("smtp-451");
    expect(deliveries).toHaveLength(0);

    await channel.send(mail("smtp-451"));
    expect(deliveries).toHaveLength(1);
  });

  it("failNext(550, 2) makes two sends PermanentErrors that suppress the address as a hard bounce", async () => {
    const channel = sender();
    sink.failNext(550, 2);
    for (const seed of ["smtp-550-a", "smtp-550-b"]) {
      const error = await failure(channel.send(mail(seed)));
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.code).toBe("smtp-550");
      expect((error as PermanentError).suppress).toBe("hard-bounce");
    }
    expect(deliveries).toHaveLength(0);
    await channel.send(mail("smtp-550-c"));
    expect(deliveries).toHaveLength(1);
  });

  it("answers 451 when the delivery cannot be recorded, so the sender retries", async () => {
    throwOnDelivery = true;
    const error = await failure(sender().send(mail("smtp-record-fails")));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.code).toBe("smtp-451");
  });

  it("refuses a message over 10 MB with 552 and records nothing", async () => {
    const transport = nodemailer.createTransport({ url: sink.url } as Parameters<typeof nodemailer.createTransport>[0]);
    try {
      const error = (await failure(
        transport.sendMail({
          from: "noreply@herald.example",
          to: "ada@example.com",
          subject: "big",
          text: "x".repeat(11 * 1024 * 1024),
        }),
      )) as unknown as { responseCode?: number };
      expect(error.responseCode).toBe(552);
      expect(deliveries).toHaveLength(0);
    } finally {
      transport.close();
    }
  });

  it("listens on 127.0.0.1 only", async () => {
    await expect(
      startSmtpSink({ host: "0.0.0.0" as "127.0.0.1", port: 0, onDelivery: () => {} }),
    ).rejects.toThrow(/127\.0\.0\.1/);
  });
});

// ---------------------------------------------------------------------------
// Web push

/** A compact ES256 JWS signed with a web-push style key pair (base64url raw keys). */
function signJwt(keys: { publicKey: string; privateKey: string }, claims: Record<string, unknown>, header: Record<string, unknown> = { typ: "JWT", alg: "ES256" }): string {
  const pub = Buffer.from(keys.publicKey, "base64url");
  const key = createPrivateKey({
    key: { kty: "EC", crv: "P-256", d: keys.privateKey, x: pub.subarray(1, 33).toString("base64url"), y: pub.subarray(33).toString("base64url") },
    format: "jwk",
  });
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

describe("push sink, reached by the push module", () => {
  const SUBJECT = "mailto:ops@herald.example";
  const vapid = webpush.generateVAPIDKeys();
  const otherVapid = webpush.generateVAPIDKeys();
  let sink: PushSink;
  const deliveries: SinkDelivery[] = [];
  const senders: ChannelSender<PushMessage>[] = [];

  beforeAll(async () => {
    sink = await startPushSink({ port: 0, onDelivery: (d) => deliveries.push(d), vapidPublicKey: vapid.publicKey });
  });
  afterEach(async () => {
    deliveries.length = 0;
    await Promise.all(senders.splice(0).map((s) => s.close()));
  });
  afterAll(() => sink.close());

  function sender(keys = vapid): ChannelSender<PushMessage> {
    const config = push.readConfig({
      HERALD_VAPID_PUBLIC_KEY: keys.publicKey,
      HERALD_VAPID_PRIVATE_KEY: keys.privateKey,
      HERALD_VAPID_SUBJECT: SUBJECT,
      HERALD_PUSH_ALLOW_HOSTS: `127.0.0.1:${sink.port}`,
    });
    const created = push.createSender(config, { logger: quiet });
    senders.push(created);
    return created;
  }

  function notification(subscription: PushSubscriptionJson, seed: string): PushMessage {
    return built(
      push.buildMessage({
        meta: meta("push", seed),
        target: subscription,
        parts: { title: "Order 42 shipped", body: "It arrives on Thursday — track it.", url: "https://shop.example/orders/42" },
        options: { ttlSeconds: 600, urgency: "high", topic: "order-42", tag: "orders" },
      }),
    );
  }

  /** A well-formed push to `subscription` as web-push builds it, for protocol checks. */
  function requestDetails(subscription: PushSubscriptionJson, payload = '{"title":"hi","body":"there"}') {
    const details = webpush.generateRequestDetails(subscription, payload, {
      TTL: 60,
      contentEncoding: "aes128gcm",
      vapidDetails: { subject: SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    });
    return { headers: { ...(details.headers as Record<string, string | number>) }, body: details.body as Buffer };
  }

  async function post(endpoint: string, headers: Record<string, string | number>, body: Buffer): Promise<Response> {
    const plain: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) plain[name] = String(value);
    return fetch(endpoint, { method: "POST", headers: plain, body });
  }

  it("makes browser-like subscriptions on 127.0.0.1", () => {
    const subscription = sink.createSubscription();
    const endpoint = new URL(subscription.endpoint);
    expect(endpoint.origin).toBe(sink.origin);
    expect(endpoint.hostname).toBe("127.0.0.1");
    expect(endpoint.pathname).toMatch(/^\/push\/[A-Za-z0-9_-]{20,}$/);
    const p256dh = Buffer.from(subscription.keys.p256dh, "base64url");
    expect(p256dh).toHaveLength(65);
    expect(p256dh[0]).toBe(0x04);
    expect(Buffer.from(subscription.keys.auth, "base64url")).toHaveLength(16);
    expect(sink.createSubscription().endpoint).not.toBe(subscription.endpoint);
  });

  it("verifies VAPID, decrypts the payload, and records exactly what was sent", async () => {
    const subscription = sink.createSubscription();
    const message = notification(subscription, "push-happy");
    const result = await sender().send(message);

    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0]!;
    const content = delivery.content as PushSinkContent;
    expect(delivery.channel).toBe("push");
    expect(delivery.address).toBe(subscription.endpoint);
    expect(delivery.summary).toBe("Order 42 shipped");
    expect(content.payload).toEqual(message.payload);
    expect(content.payload).toEqual({
      title: "Order 42 shipped",
      body: "It arrives on Thursday — track it.",
      url: "https://shop.example/orders/42",
      tag: "orders",
    });
    expect(content.ttl).toBe(600);
    expect(content.urgency).toBe("high");
    expect(content.topic).toBe("order-42");
    expect(content.vapid.sub).toBe(SUBJECT);
    expect(content.vapid.aud).toBe(sink.origin);
    expect(content.endpointId).toBe(subscription.endpoint.split("/").pop());
    expect(result.providerMessageId).toBe(`${subscription.endpoint}/messages/${content.messageId}`);

    const listed = (await (await fetch(`${subscription.endpoint}/messages`)).json()) as { messages: PushSinkContent[] };
    expect(listed.messages.map((m) => m.payload)).toEqual([message.payload]);
    const one = await fetch(result.providerMessageId!);
    expect(one.status).toBe(200);
    expect(((await one.json()) as PushSinkContent).messageId).toBe(content.messageId);
  });

  it("answers a push signed with another VAPID key 403, which the push module reports as a ConfigError", async () => {
    const subscription = sink.createSubscription();
    const error = await failure(sender(otherVapid).send(notification(subscription, "push-wrong-key")));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe("push-vapid-rejected");
    expect((error.cause as PushHttpError).statusCode).toBe(403);
    expect(deliveries).toHaveLength(0);
  });

  it("answers an expired subscription 410: PermanentError suppressing subscription-gone", async () => {
    const subscription = sink.createSubscription();
    const channel = sender();
    await channel.send(notification(subscription, "push-before-expiry"));
    expect(deliveries).toHaveLength(1);

    sink.expire(subscription.endpoint);
    const error = await failure(channel.send(notification(subscription, "push-after-expiry")));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).suppress).toBe("subscription-gone");
    expect((error.cause as PushHttpError).statusCode).toBe(410);
    expect(deliveries).toHaveLength(1);
  });

  it("answers an unknown subscription 404: PermanentError suppressing subscription-gone", async () => {
    const known = sink.createSubscription();
    const unknown = { ...known, endpoint: `${sink.origin}/push/${randomBytes(18).toString("base64url")}` };
    const error = await failure(sender().send(notification(unknown, "push-unknown")));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).suppress).toBe("subscription-gone");
    expect((error.cause as PushHttpError).statusCode).toBe(404);
  });

  it("refuses a payload encrypted for other keys (400): it really decrypts", async () => {
    const target = sink.createSubscription();
    const other = sink.createSubscription();
    const mismatched = { ...target, keys: other.keys };
    const error = await failure(sender().send(notification(mismatched, "push-other-keys")));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error.cause as PushHttpError).statusCode).toBe(400);
    expect(deliveries).toHaveLength(0);
  });

  describe("protocol checks on a hand-built request", () => {
    let subscription: PushSubscriptionJson;
    beforeEach(() => {
      subscription = sink.createSubscription();
    });
    const now = () => Math.floor(Date.now() / 1000);
    const claims = (overrides: Record<string, unknown> = {}) => ({ aud: sink.origin, exp: now() + 3600, sub: SUBJECT, ...overrides });
    const vapidHeader = (token: string, key = vapid.publicKey) => `vapid t=${token}, k=${key}`;

    it("accepts the unmodified request (the control for the cases below)", async () => {
      const { headers, body } = requestDetails(subscription);
      headers.Authorization = vapidHeader(signJwt(vapid, claims()));
      const response = await post(subscription.endpoint, headers, body);
      expect(response.status).toBe(201);
      expect(response.headers.get("location")).toMatch(new RegExp(`^${subscription.endpoint}/messages/`));
      expect((deliveries[0]!.content as PushSinkContent).payload).toEqual({ title: "hi", body: "there" });
    });

    const cases: { name: string; status: number; mutate: (h: Record<string, string | number>) => void }[] = [
      { name: "no Authorization", status: 401, mutate: (h) => void delete h.Authorization },
      { name: "a token signed by another key but claiming ours", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(otherVapid, claims()))) },
      { name: "a tampered claim", status: 401, mutate: (h) => {
          const [head, , sig] = signJwt(vapid, claims()).split(".");
          const forged = Buffer.from(JSON.stringify(claims({ sub: "mailto:evil@example.com" }))).toString("base64url");
          h.Authorization = vapidHeader(`${head}.${forged}.${sig}`);
        } },
      { name: "alg other than ES256", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, claims(), { typ: "JWT", alg: "ES384" }))) },
      { name: "a wrong audience", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, claims({ aud: "https://push.example.net" })))) },
      { name: "an expired token", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, claims({ exp: now() - 10 })))) },
      { name: "exp more than 24 h ahead", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, claims({ exp: now() + 25 * 3600 })))) },
      { name: "no sub", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, { aud: sink.origin, exp: now() + 60 }))) },
      { name: "a sub that is not mailto: or https:", status: 401, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(vapid, claims({ sub: "http://herald.example" })))) },
      { name: "a valid token from a key the subscription was not made for", status: 403, mutate: (h) => void (h.Authorization = vapidHeader(signJwt(otherVapid, claims()), otherVapid.publicKey)) },
      { name: "no TTL", status: 400, mutate: (h) => void delete h.TTL },
      { name: "Content-Encoding aesgcm", status: 400, mutate: (h) => void (h["Content-Encoding"] = "aesgcm") },
      { name: "an unknown Urgency", status: 400, mutate: (h) => void (h.Urgency = "urgent") },
      { name: "a Topic over 32 characters", status: 400, mutate: (h) => void (h.Topic = "t".repeat(33)) },
    ];

    it.each(cases)("answers $status for $name", async ({ status, mutate }) => {
      const { headers, body } = requestDetails(subscription);
      headers.Authorization = vapidHeader(signJwt(vapid, claims()));
      mutate(headers);
      const response = await post(subscription.endpoint, headers, body);
      expect(response.status).toBe(status);
      const json = (await response.json()) as { code: number; message: string };
      expect(json.code).toBe(status);
      expect(deliveries).toHaveLength(0);
    });

    it("re-checks a token it verified before: reused with another k it is 401, reused after exp it is 401", async () => {
      const token = signJwt(vapid, claims());
      const send = async (authorization: string) => {
        const { headers, body } = requestDetails(subscription);
        headers.Authorization = authorization;
        return (await post(subscription.endpoint, headers, body)).status;
      };
      expect(await send(vapidHeader(token))).toBe(201);
      expect(await send(vapidHeader(token, otherVapid.publicKey))).toBe(401);
      const later = Date.now() + 2 * 3600_000;
      const clock = vi.spyOn(Date, "now").mockImplementation(() => later);
      try {
        expect(await send(vapidHeader(token))).toBe(401);
      } finally {
        clock.mockRestore();
      }
      expect(await send(vapidHeader(token))).toBe(201);
      expect(deliveries).toHaveLength(2);
    });

    it("answers 413 for a body over 4096 bytes", async () => {
      const { headers } = requestDetails(subscription);
      const body = randomBytes(PUSH_SINK_MAX_BODY_BYTES + 1);
      headers["Content-Length"] = body.length;
      const response = await post(subscription.endpoint, headers, body);
      expect(response.status).toBe(413);
      expect(deliveries).toHaveLength(0);
    });

    it("answers 404 for paths that are not push endpoints", async () => {
      expect((await fetch(`${sink.origin}/push/${randomBytes(9).toString("base64url")}/messages`)).status).toBe(404);
      expect((await fetch(`${sink.origin}/nothing`)).status).toBe(404);
      expect((await fetch(subscription.endpoint)).status).toBe(405);
    });
  });

  it("refuses a vapidPublicKey that is not a P-256 public key", async () => {
    await expect(startPushSink({ port: 0, onDelivery: () => {}, vapidPublicKey: vapid.privateKey })).rejects.toThrow(/vapidPublicKey/);
  });
});

// ---------------------------------------------------------------------------
// Twilio

describe("twilio sink, reached by the sms module", () => {
  const FROM = "+14155550100";
  const TO = "+14155552671";
  const MESSAGING_SERVICE_SID = "MG0123456789abcdef0123456789abcdef";
  let sink: TwilioSink;
  const deliveries: SinkDelivery[] = [];
  const senders: ChannelSender<SmsMessage>[] = [];

  beforeAll(async () => {
    sink = await startTwilioSink({ port: 0, onDelivery: (d) => deliveries.push(d) });
  });
  afterEach(async () => {
    deliveries.length = 0;
    await Promise.all(senders.splice(0).map((s) => s.close()));
  });
  afterAll(() => sink.close());

  function sender(overrides: Record<string, string> = {}): ChannelSender<SmsMessage> {
    const config = sms.readConfig({
      TWILIO_ACCOUNT_SID: sink.accountSid,
      TWILIO_AUTH_TOKEN: sink.authToken,
      HERALD_SMS_FROM: FROM,
      HERALD_TWILIO_API_BASE: sink.apiBase,
      ...overrides,
    });
    const created = sms.createSender(config, { logger: quiet });
    senders.push(created);
    return created;
  }

  function text(body: string, seed: string): SmsMessage {
    return built(sms.buildMessage({ meta: meta("sms", seed), target: TO, parts: { body }, options: { maxSegments: 4 } }));
  }

  function basic(user: string, pass: string): string {
    return `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
  }

  async function create(form: Record<string, string>, auth = basic(sink.accountSid, sink.authToken)) {
    const response = await fetch(`${sink.apiBase}/2010-04-01/Accounts/${sink.accountSid}/Messages.json`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it("generates an account SID and token, and serves on 127.0.0.1", () => {
    expect(sink.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(sink.authToken).toMatch(/^[0-9a-f]{32}$/);
    expect(new URL(sink.apiBase).hostname).toBe("127.0.0.1");
  });

  it("takes a two-segment GSM-7 text from the sms module and records it", async () => {
    const body = "Your order 42 has shipped and should arrive on Thursday. ".repeat(3).trim();
    expect(body.length).toBeGreaterThan(160);
    const result = await sender({ HERALD_SMS_STATUS_CALLBACK: "https://herald.example/sms/status" }).send(text(body, "sms-happy"));

    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0]!;
    const content = delivery.content as SmsSinkContent;
    expect(delivery.channel).toBe("sms");
    expect(delivery.address).toBe(TO);
    expect(content.body).toBe(body);
    expect(content.numSegments).toBe(2);
    expect(content.encoding).toBe("GSM-7");
    expect(content.to).toBe(TO);
    expect(content.from).toBe(FROM);
    expect(content.messagingServiceSid).toBeNull();
    expect(content.statusCallback).toBe("https://herald.example/sms/status");
    expect(content.accountSid).toBe(sink.accountSid);
    expect(content.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(result.providerMessageId).toBe(content.sid);

    const fetched = await fetch(`${sink.apiBase}/2010-04-01/Accounts/${sink.accountSid}/Messages/${content.sid}.json`, {
      headers: { authorization: basic(sink.accountSid, sink.authToken) },
    });
    expect(fetched.status).toBe(200);
    expect(((await fetched.json()) as { body: string }).body).toBe(body);
  });

  it("counts UCS-2 segments for text outside GSM-7", async () => {
    const body = "Ваш заказ 42 отправлен и прибудет в четверг. Спасибо, что выбрали наш магазин! 🚚";
    expect(body.length).toBeGreaterThan(70); // UTF-16 units: one UCS-2 SMS holds 70
    await sender().send(text(body, "sms-ucs2"));
    const content = deliveries[0]!.content as SmsSinkContent;
    expect(content.encoding).toBe("UCS-2");
    expect(content.numSegments).toBe(2);
    expect(content.body).toBe(body);
  });

  it("records a Messaging Service sender as Twilio does: no from, status accepted", async () => {
    await sender({ HERALD_SMS_FROM: MESSAGING_SERVICE_SID }).send(text("Code 123456", "sms-mg"));
    const content = deliveries[0]!.content as SmsSinkContent;
    expect(content.from).toBeNull();
    expect(content.messagingServiceSid).toBe(MESSAGING_SERVICE_SID);
    expect(content.status).toBe("accepted");
  });

  it("answers a wrong auth token 401/20003, which the sms module reports as a ConfigError", async () => {
    const error = await failure(sender({ TWILIO_AUTH_TOKEN: "0".repeat(32) }).send(text("hello", "sms-bad-token")));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe("twilio-20003");
    expect(deliveries).toHaveLength(0);

    const { status, json } = await create({ To: TO, From: FROM, Body: "hi" }, basic(sink.accountSid, "wrong"));
    expect(status).toBe(401);
    expect(json).toEqual({ code: 20003, message: "Authenticate", more_info: "https://www.twilio.com/docs/errors/20003", status: 401 });
  });

  it("refuses another account's SID in the path even with valid credentials", async () => {
    const other = `AC${"1".repeat(32)}`;
    const response = await fetch(`${sink.apiBase}/2010-04-01/Accounts/${other}/Messages.json`, {
      method: "POST",
      headers: { authorization: basic(sink.accountSid, sink.authToken), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ To: TO, From: FROM, Body: "hi" }).toString(),
    });
    expect(response.status).toBe(401);
    expect(deliveries).toHaveLength(0);
  });

  it("failNext(20429, 429) is a TransientError; failNext(21610, 400) a PermanentError suppressing opt-out", async () => {
    const channel = sender();
    sink.failNext(20429, 429);
    const throttled = await failure(channel.send(text("one", "sms-429")));
    expect(throttled).toBeInstanceOf(TransientError);
    expect(throttled.code).toBe("twilio-20429");

    sink.failNext(21610, 400);
    const optedOut = await failure(channel.send(text("two", "sms-21610")));
    expect(optedOut).toBeInstanceOf(PermanentError);
    expect((optedOut as PermanentError).suppress).toBe("opt-out");
    expect(deliveries).toHaveLength(0);

    await channel.send(text("three", "sms-after"));
    expect(deliveries).toHaveLength(1);
  });

  it("answers 201 with a Twilio-shaped message resource", async () => {
    const { status, json } = await create({ To: TO, From: FROM, Body: "Hello from the sink" });
    expect(status).toBe(201);
    expect(json).toMatchObject({
      account_sid: sink.accountSid,
      api_version: "2010-04-01",
      body: "Hello from the sink",
      direction: "outbound-api",
      error_code: null,
      from: FROM,
      messaging_service_sid: null,
      num_media: "0",
      num_segments: "1",
      status: "queued",
      to: TO,
    });
    const sid = json.sid as string;
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(json.uri).toBe(`/2010-04-01/Accounts/${sink.accountSid}/Messages/${sid}.json`);
    expect(json.date_created).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(Date.parse(json.date_created as string) - Date.now())).toBeLessThan(60_000);
  });

  it.each<{ name: string; form: Record<string, string>; code: number }>([
    { name: "To not in E.164", form: { To: "4155552671", From: "+14155550100", Body: "x" }, code: 21211 },
    { name: "no To", form: { From: "+14155550100", Body: "x" }, code: 21604 },
    { name: "neither From nor MessagingServiceSid", form: { To: "+14155552671", Body: "x" }, code: 21603 },
    { name: "no Body", form: { To: "+14155552671", From: "+14155550100" }, code: 21602 },
    { name: "a Body over 1600 characters", form: { To: "+14155552671", From: "+14155550100", Body: "x".repeat(1601) }, code: 21617 },
  ])("answers 400/$code for $name", async ({ form, code }) => {
    const { status, json } = await create(form);
    expect(status).toBe(400);
    expect(json.code).toBe(code);
    expect(json.more_info).toBe(`https://www.twilio.com/docs/errors/${code}`);
    expect(deliveries).toHaveLength(0);
  });
});
