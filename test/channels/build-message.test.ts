/**
 * The rules-side half of each channel module: template parts, addresses from contacts,
 * and buildMessage, whose output must satisfy the channel's message schema (checked with
 * the same Ajv 2020 registry the rules function uses) or come back as a refusal.
 */
import { createECDH, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { schemaSet } from "../../schemas/generated/schema-set";
import { email } from "../../handlers/channels/email";
import { push } from "../../handlers/channels/push";
import { sms } from "../../handlers/channels/sms";
import type { BuildMessageInput, BuildMessageResult, ChannelAdapter, ChannelMessage, MessageMeta } from "../../handlers/core/ports";
import { PUSH_MAX_PAYLOAD_BYTES } from "../../handlers/core/push-limits";
import type { Contacts, PushSubscriptionJson } from "../../handlers/core/recipients";
import { SchemaRegistry } from "../../handlers/core/schema-registry";

const registry = new SchemaRegistry(schemaSet);

function meta(channel: string, overrides: Partial<MessageMeta> = {}): MessageMeta {
  return {
    idempotencyKey: "0123456789abcdef".repeat(4),
    channel,
    eventId: "evt-1",
    eventSource: "urn:herald:test",
    eventType: "order.shipped",
    eventVersion: 1,
    rule: "order-shipped",
    recipientId: "user-1",
    category: "orders",
    critical: false,
    locale: "en-GB",
    createdAt: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}

/** The built message, after checking it against the channel's message schema. */
function valid<M extends ChannelMessage>(adapter: Pick<ChannelAdapter, "name" | "messageSchemaVersion">, result: BuildMessageResult<M>): M {
  if (!result.ok) throw new Error(`expected a message, got a refusal: ${result.reason} (${result.detail})`);
  expect(registry.validateMessage(adapter.name, adapter.messageSchemaVersion, result.message)).toEqual([]);
  return result.message;
}

/** The refusal's reason, after checking that its detail says something. */
function refusal(result: BuildMessageResult<unknown>): string {
  if (result.ok) throw new Error(`expected a refusal, got a message: ${JSON.stringify(result.message)}`);
  expect(result.detail.length).toBeGreaterThan(0);
  return result.reason;
}

function browserSubscription(endpoint = "https://push.example.net/send/abc:def-123"): PushSubscriptionJson {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return {
    endpoint,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") },
  };
}

describe("channel modules: opening", () => {
  it.each([email, push, sms] as ChannelAdapter[])("$name keeps the shared opening order", (adapter) => {
    // Optional members (carriesUnsubscribeLink, secretConfigKeys) may sit anywhere; the required members keep their order.
    expect(Object.keys(adapter).filter((key) => key !== "carriesUnsubscribeLink" && key !== "secretConfigKeys")).toEqual([
      "name",
      "messageSchemaVersion",
      "defaults",
      "templateParts",
      "addressesOf",
      "buildMessage",
      "readConfig",
      "createSender",
      "classify",
      "addressOf",
    ]);
  });

  it("declares each channel's template parts", () => {
    expect(email.templateParts).toEqual([
      { name: "subject", format: "text" },
      { name: "html", format: "html" },
      { name: "text", format: "text" },
    ]);
    expect(push.templateParts).toEqual([
      { name: "title", format: "text" },
      { name: "body", format: "text" },
      { name: "url", format: "text", optional: true },
    ]);
    expect(sms.templateParts).toEqual([{ name: "body", format: "text" }]);
  });

  it("shares template parts that no caller can change", () => {
    for (const adapter of [email, push, sms] as ChannelAdapter[]) {
      expect(Object.isFrozen(adapter.templateParts)).toBe(true);
      for (const part of adapter.templateParts) expect(Object.isFrozen(part)).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------
// email

describe("email: addressesOf", () => {
  it("gives the e-mail as both address and target", () => {
    expect(email.addressesOf({ email: "alice@example.org" })).toEqual([{ address: "alice@example.org", target: "alice@example.org" }]);
  });

  it.each<[string, Contacts]>([
    ["no contacts", {}],
    ["a phone only", { phone: "+14155552671" }],
    ["a number", { email: 42 } as unknown as Contacts],
    ["null", { email: null } as unknown as Contacts],
    ["a list", { email: ["alice@example.org"] } as unknown as Contacts],
  ])("gives nothing for %s", (_label, contacts) => {
    expect(email.addressesOf(contacts)).toEqual([]);
  });

  it("passes a string that is not an address on, for buildMessage to refuse by name", () => {
    const [address] = email.addressesOf({ email: "not an address" });
    expect(address).toEqual({ address: "not an address", target: "not an address" });
    expect(refusal(email.buildMessage({ meta: meta("email"), target: address!.target, parts: parts(), options: {} }))).toBe("invalid-address");
  });
});

function parts(overrides: Record<string, string> = {}): Record<string, string> {
  return { subject: "Your order shipped", html: "<p>Parcel <b>4711</b> is on its way.</p>", text: "Parcel 4711 is on its way.", ...overrides };
}

function emailInput(overrides: Partial<BuildMessageInput<string>> = {}): BuildMessageInput<string> {
  return { meta: meta("email"), target: "alice@example.org", parts: parts(), options: {}, ...overrides };
}

describe("email: buildMessage", () => {
  it("builds the schema's message from the rendered parts", () => {
    const input = emailInput({ unsubscribeUrl: "https://example.com/unsubscribe?t=abc123" });
    expect(valid(email, email.buildMessage(input))).toEqual({
      meta: input.meta,
      to: "alice@example.org",
      subject: "Your order shipped",
      html: "<p>Parcel <b>4711</b> is on its way.</p>",
      text: "Parcel 4711 is on its way.",
      unsubscribeUrl: "https://example.com/unsubscribe?t=abc123",
    });
  });

  it("trims the subject, so a template's trailing newline is not a refusal", () => {
    expect(valid(email, email.buildMessage(emailInput({ parts: parts({ subject: "  Your order shipped \n" }) }))).subject).toBe(
      "Your order shipped",
    );
  });

  it("leaves html and text as rendered", () => {
    const message = valid(email, email.buildMessage(emailInput({ parts: parts({ html: "", text: " spaced \n" }) })));
    expect([message.html, message.text]).toEqual(["", " spaced \n"]);
  });

  it("carries the unsubscribe link on non-critical mail only", () => {
    const unsubscribeUrl = "https://example.com/u/abc";
    const normal = valid(email, email.buildMessage(emailInput({ unsubscribeUrl })));
    expect(normal.unsubscribeUrl).toBe(unsubscribeUrl);
    const critical = valid(email, email.buildMessage(emailInput({ meta: meta("email", { critical: true }), unsubscribeUrl })));
    expect(critical).not.toHaveProperty("unsubscribeUrl");
    const without = valid(email, email.buildMessage(emailInput()));
    expect(without).not.toHaveProperty("unsubscribeUrl");
  });

  it.each([
    ["a javascript: link", "javascript:alert(1)"],
    ["a relative link", "/unsubscribe?t=1"],
    ["an upper-case scheme the schema's pattern refuses", "HTTPS://example.com/u"],
    ["whitespace", "https://example.com/u nsubscribe"],
    ["an angle bracket that would end List-Unsubscribe", "https://example.com/u>x"],
    ["a header break", "https://example.com/u\r\nBcc: eve@example.org"],
    ["non-ASCII the schema's uri format refuses", "https://example.com/désabonner"],
    ["an unparseable port", "https://example.com:99999/u"],
  ])("refuses an unsubscribe link with %s", (_label, unsubscribeUrl) => {
    expect(refusal(email.buildMessage(emailInput({ unsubscribeUrl })))).toBe("invalid-unsubscribe-url");
  });

  it("ignores even a bad unsubscribe link on critical mail, since it is left off", () => {
    valid(email, email.buildMessage(emailInput({ meta: meta("email", { critical: true }), unsubscribeUrl: "javascript:alert(1)" })));
  });

  it.each([
    ["CRLF header injection", "Receipt\r\nBcc: eve@example.org"],
    ["a bare LF inside", "Line one\nLine two"],
    ["a bare CR inside", "Line one\rLine two"],
    ["another control character", "Bell\u0007"],
    ["nothing", ""],
    ["only whitespace", "  \n\t "],
    ["999 characters", "s".repeat(999)],
  ])("refuses a subject with %s", (_label, subject) => {
    expect(refusal(email.buildMessage(emailInput({ parts: parts({ subject }) })))).toBe("invalid-subject");
  });

  it("takes a subject of exactly 998 characters, and a tab inside one", () => {
    valid(email, email.buildMessage(emailInput({ parts: parts({ subject: "s".repeat(998) }) })));
    valid(email, email.buildMessage(emailInput({ parts: parts({ subject: "Order\t4711" }) })));
  });

  it("refuses when the subject part is missing", () => {
    const { subject: _subject, ...rest } = parts();
    expect(refusal(email.buildMessage(emailInput({ parts: rest })))).toBe("invalid-subject");
  });

  it.each(["html", "text"])("refuses when the %s part is missing", (name) => {
    const rest = { ...parts() };
    delete rest[name];
    expect(refusal(email.buildMessage(emailInput({ parts: rest })))).toBe("missing-part");
  });

  it("refuses a body longer than the schema's 1,000,000 characters, and takes one at the limit", () => {
    valid(email, email.buildMessage(emailInput({ parts: parts({ text: "x".repeat(1_000_000) }) })));
    expect(refusal(email.buildMessage(emailInput({ parts: parts({ html: "x".repeat(1_000_001) }) })))).toBe("content-too-large");
  });

  it.each([
    ["a display name", "Alice <alice@example.org>"],
    ["two recipients", "alice@example.org, eve@example.org"],
    ["a header break", "alice@example.org\r\nBcc: eve@example.org"],
    ["no domain", "alice@"],
    ["no @", "alice.example.org"],
    ["a local part over 64 characters", `${"a".repeat(65)}@example.org`],
    ["the empty string", ""],
  ])("refuses a recipient address with %s", (_label, target) => {
    expect(refusal(email.buildMessage(emailInput({ target })))).toBe("invalid-address");
  });

  it("refuses a target that is not a string at all", () => {
    expect(refusal(email.buildMessage(emailInput({ target: undefined as unknown as string })))).toBe("invalid-address");
  });
});

// ---------------------------------------------------------------------------------------
// push

describe("push: addressesOf", () => {
  it("gives one address per subscription, keyed by endpoint", () => {
    const first = browserSubscription("https://fcm.googleapis.com/fcm/send/aaa");
    const second = browserSubscription("https://updates.push.services.mozilla.com/wpush/v2/bbb");
    expect(push.addressesOf({ push: [first, second] })).toEqual([
      { address: first.endpoint, target: first },
      { address: second.endpoint, target: second },
    ]);
  });

  it.each<[string, Contacts]>([
    ["no contacts", {}],
    ["an empty list", { push: [] }],
    ["one subscription not in a list", { push: browserSubscription() } as unknown as Contacts],
    ["a string", { push: "https://push.example.net/x" } as unknown as Contacts],
  ])("gives nothing for %s", (_label, contacts) => {
    expect(push.addressesOf(contacts)).toEqual([]);
  });

  it("skips malformed entries and keeps the good ones", () => {
    const good = browserSubscription();
    const entries: unknown[] = [
      null,
      "https://push.example.net/x",
      42,
      { endpoint: 42, keys: good.keys },
      { endpoint: "", keys: good.keys },
      { endpoint: "https://push.example.net/no-keys" },
      { endpoint: "https://push.example.net/null-keys", keys: null },
      { endpoint: "https://push.example.net/bad-keys", keys: { p256dh: 1, auth: good.keys.auth } },
      { endpoint: "https://push.example.net/no-auth", keys: { p256dh: good.keys.p256dh } },
      good,
    ];
    expect(push.addressesOf({ push: entries as PushSubscriptionJson[] })).toEqual([{ address: good.endpoint, target: good }]);
  });

  it("lists an endpoint held twice once", () => {
    const subscription = browserSubscription();
    expect(push.addressesOf({ push: [subscription, { ...subscription }] })).toHaveLength(1);
  });

  it("copies only the schema's fields, so extra properties cannot make the message invalid", () => {
    const subscription = browserSubscription();
    const stored = { ...subscription, expirationTime: "soon", userAgent: "Firefox", keys: { ...subscription.keys, extra: "x" } };
    const [address] = push.addressesOf({ push: [stored as unknown as PushSubscriptionJson] });
    expect(address!.target).toEqual({ endpoint: subscription.endpoint, keys: subscription.keys });
    valid(push, push.buildMessage(pushInput({ target: address!.target })));
  });

  it("keeps a numeric expirationTime", () => {
    const subscription = { ...browserSubscription(), expirationTime: 1_900_000_000_000 };
    expect(push.addressesOf({ push: [subscription] })[0]!.target.expirationTime).toBe(1_900_000_000_000);
  });
});

const SUBSCRIPTION = browserSubscription();

function pushInput(overrides: Partial<BuildMessageInput<PushSubscriptionJson>> = {}): BuildMessageInput<PushSubscriptionJson> {
  return {
    meta: meta("push"),
    target: SUBSCRIPTION,
    parts: { title: "Your order shipped", body: "Parcel 4711 is on its way ✈️", url: "https://shop.example/orders/4711" },
    options: {},
    ...overrides,
  };
}

describe("push: buildMessage", () => {
  it("builds the schema's message with a day's TTL and normal urgency by default", () => {
    const input = pushInput();
    expect(valid(push, push.buildMessage(input))).toEqual({
      meta: input.meta,
      subscription: SUBSCRIPTION,
      payload: { title: "Your order shipped", body: "Parcel 4711 is on its way ✈️", url: "https://shop.example/orders/4711" },
      ttlSeconds: 86_400,
      urgency: "normal",
    });
  });

  it("sends critical messages with high urgency unless the rule says otherwise", () => {
    const critical = meta("push", { critical: true });
    expect(valid(push, push.buildMessage(pushInput({ meta: critical }))).urgency).toBe("high");
    expect(valid(push, push.buildMessage(pushInput({ meta: critical, options: { urgency: "low" } }))).urgency).toBe("low");
  });

  it("takes ttlSeconds, urgency, topic and tag from the rule's options", () => {
    const message = valid(push, push.buildMessage(pushInput({ options: { ttlSeconds: 0, urgency: "very-low", topic: "order_4711", tag: "order-4711" } })));
    expect(message).toMatchObject({ ttlSeconds: 0, urgency: "very-low", topic: "order_4711", payload: { tag: "order-4711" } });
    expect(valid(push, push.buildMessage(pushInput({ options: { ttlSeconds: 2_419_200 } }))).ttlSeconds).toBe(2_419_200);
  });

  it.each([
    ["too long", "t".repeat(33)],
    ["with a space", "order 4711"],
    ["empty", ""],
    ["not a string", 4711],
  ])("leaves out a topic that is %s", (_label, topic) => {
    expect(valid(push, push.buildMessage(pushInput({ options: { topic } })))).not.toHaveProperty("topic");
  });

  it("leaves out a tag that is empty, too long or not a string", () => {
    for (const tag of ["", "t".repeat(129), 7]) {
      expect(valid(push, push.buildMessage(pushInput({ options: { tag } }))).payload).not.toHaveProperty("tag");
    }
    expect(valid(push, push.buildMessage(pushInput({ options: { tag: "t".repeat(128) } }))).payload.tag).toHaveLength(128);
  });

  it("leaves out the optional url when it is missing or renders to nothing, and trims title and body", () => {
    const { url: _url, ...noUrl } = pushInput().parts;
    expect(valid(push, push.buildMessage(pushInput({ parts: noUrl }))).payload).not.toHaveProperty("url");
    const blank = valid(push, push.buildMessage(pushInput({ parts: { title: " Hi \n", body: "\n", url: " \n" } })));
    expect(blank.payload).toEqual({ title: "Hi", body: "" });
  });

  it("refuses the payload one byte over the limit, and takes it at the limit exactly", () => {
    const overhead = Buffer.byteLength(JSON.stringify({ title: "t", body: "" }));
    // Three-byte characters: 2048 ASCII characters (the schema's body limit) cannot reach 3993 bytes.
    const fill = (bytes: number) => "€".repeat(Math.floor(bytes / 3)) + "x".repeat(bytes % 3);
    const atLimit = { title: "t", body: fill(PUSH_MAX_PAYLOAD_BYTES - overhead) };
    expect(Buffer.byteLength(JSON.stringify(atLimit))).toBe(PUSH_MAX_PAYLOAD_BYTES);
    expect(valid(push, push.buildMessage(pushInput({ parts: atLimit }))).payload).toEqual(atLimit);
    const over = { title: "t", body: fill(PUSH_MAX_PAYLOAD_BYTES - overhead + 1) };
    const result = push.buildMessage(pushInput({ parts: over }));
    expect(refusal(result)).toBe("push-payload-too-large");
    expect(result.ok === false && result.detail).toContain(String(PUSH_MAX_PAYLOAD_BYTES + 1));
  });

  it("counts url, tag and JSON escaping toward the payload limit", () => {
    const base = { title: "t", body: "" };
    const overhead = Buffer.byteLength(JSON.stringify({ ...base, url: "https://a.example/", tag: "x" }));
    // Each quote is escaped to two bytes.
    const body = '"'.repeat(Math.floor((PUSH_MAX_PAYLOAD_BYTES - overhead) / 2));
    const fits = pushInput({ parts: { ...base, body, url: "https://a.example/" }, options: { tag: "x" } });
    valid(push, push.buildMessage(fits));
    const tooBig = pushInput({ parts: { ...base, body, url: "https://a.example/" }, options: { tag: "xyz" } });
    expect(refusal(push.buildMessage(tooBig))).toBe("push-payload-too-large");
  });

  it.each([
    ["an empty title", { title: "  \n" }],
    ["a missing title", { title: undefined }],
    ["a 257-character title", { title: "t".repeat(257) }],
  ])("refuses %s as invalid-title", (_label, override) => {
    const input = pushInput();
    const rendered: Record<string, string> = { ...input.parts, ...override } as Record<string, string>;
    if (override.title === undefined) delete rendered.title;
    expect(refusal(push.buildMessage({ ...input, parts: rendered }))).toBe("invalid-title");
  });

  it("takes a 256-character title", () => {
    valid(push, push.buildMessage(pushInput({ parts: { title: "t".repeat(256), body: "" } })));
  });

  it("refuses a missing body part, and a body over 2048 characters", () => {
    expect(refusal(push.buildMessage(pushInput({ parts: { title: "t" } })))).toBe("missing-part");
    valid(push, push.buildMessage(pushInput({ parts: { title: "t", body: "b".repeat(2048) } })));
    expect(refusal(push.buildMessage(pushInput({ parts: { title: "t", body: "b".repeat(2049) } })))).toBe("body-too-long");
  });

  it.each([
    ["a javascript: url", "javascript:alert(1)"],
    ["a relative url", "/orders/4711"],
    ["a url with spaces", "https://shop.example/orders/47 11"],
    ["a non-ASCII url", "https://shop.example/bestellungen/übersicht"],
  ])("refuses %s", (_label, url) => {
    expect(refusal(push.buildMessage(pushInput({ parts: { title: "t", body: "b", url } })))).toBe("invalid-url");
  });

  it.each<[string, Record<string, unknown>]>([
    ["a negative ttl", { ttlSeconds: -1 }],
    ["a fractional ttl", { ttlSeconds: 1.5 }],
    ["a ttl as text", { ttlSeconds: "60" }],
    ["a ttl over 28 days", { ttlSeconds: 2_419_201 }],
    ["an unknown urgency", { urgency: "urgent" }],
  ])("refuses %s as invalid-options", (_label, options) => {
    expect(refusal(push.buildMessage(pushInput({ options })))).toBe("invalid-options");
  });

  it.each<[string, unknown]>([
    ["an endpoint that is not a URL", { ...SUBSCRIPTION, endpoint: "not a url" }],
    ["a non-http endpoint", { ...SUBSCRIPTION, endpoint: "ftp://push.example.net/x" }],
    ["an endpoint over 2048 characters", { ...SUBSCRIPTION, endpoint: `https://push.example.net/${"x".repeat(2048)}` }],
    ["a short p256dh", { ...SUBSCRIPTION, keys: { ...SUBSCRIPTION.keys, p256dh: "BCD" } }],
    ["an auth secret with bad characters", { ...SUBSCRIPTION, keys: { ...SUBSCRIPTION.keys, auth: "!!!!!!!!!!!!!!!!!!!!!!" } }],
    ["no keys", { endpoint: SUBSCRIPTION.endpoint }],
    ["no subscription at all", undefined],
  ])("refuses %s as invalid-address", (_label, target) => {
    expect(refusal(push.buildMessage(pushInput({ target: target as PushSubscriptionJson })))).toBe("invalid-address");
  });
});

// ---------------------------------------------------------------------------------------
// sms

describe("sms: addressesOf", () => {
  it("gives the phone number as both address and target", () => {
    expect(sms.addressesOf({ phone: "+14155552671" })).toEqual([{ address: "+14155552671", target: "+14155552671" }]);
  });

  it.each<[string, Contacts]>([
    ["no contacts", {}],
    ["an e-mail only", { email: "alice@example.org" }],
    ["a number type", { phone: 14155552671 } as unknown as Contacts],
    ["a list", { phone: ["+14155552671"] } as unknown as Contacts],
  ])("gives nothing for %s", (_label, contacts) => {
    expect(sms.addressesOf(contacts)).toEqual([]);
  });

  it("passes a string that is not E.164 on, for buildMessage to refuse by name", () => {
    const [address] = sms.addressesOf({ phone: "07911 123456" });
    expect(refusal(sms.buildMessage(smsInput({ target: address!.target })))).toBe("invalid-address");
  });
});

function smsInput(overrides: Partial<BuildMessageInput<string>> = {}): BuildMessageInput<string> {
  return { meta: meta("sms"), target: "+14155552671", parts: { body: "Your order shipped." }, options: {}, ...overrides };
}

const gsm = (n: number) => "a".repeat(n);
const ucs = (n: number) => "中".repeat(n);

describe("sms: buildMessage", () => {
  it("builds the schema's message with the segment count", () => {
    const input = smsInput({ parts: { body: "Your order shipped.\n" } });
    expect(valid(sms, sms.buildMessage(input))).toEqual({
      meta: input.meta,
      to: "+14155552671",
      body: "Your order shipped.",
      segments: { encoding: "GSM-7", count: 1 },
    });
    expect(valid(sms, sms.buildMessage(smsInput({ parts: { body: "Ihre Bestellung ist unterwegs 🚚" } }))).segments).toEqual({
      encoding: "UCS-2",
      count: 1,
    });
  });

  it("with maxSegments 1 takes 160 GSM-7 characters and refuses 161", () => {
    const options = { maxSegments: 1 };
    expect(valid(sms, sms.buildMessage(smsInput({ options, parts: { body: gsm(160) } }))).segments).toEqual({ encoding: "GSM-7", count: 1 });
    const result = sms.buildMessage(smsInput({ options, parts: { body: gsm(161) } }));
    expect(refusal(result)).toBe("too-many-segments");
    expect(result.ok === false && result.detail).toMatch(/2 GSM-7 segments, more than the 1 allowed/);
  });

  it("with maxSegments 1 takes 70 UCS-2 characters and refuses 71", () => {
    const options = { maxSegments: 1 };
    expect(valid(sms, sms.buildMessage(smsInput({ options, parts: { body: ucs(70) } }))).segments).toEqual({ encoding: "UCS-2", count: 1 });
    const result = sms.buildMessage(smsInput({ options, parts: { body: ucs(71) } }));
    expect(refusal(result)).toBe("too-many-segments");
    expect(result.ok === false && result.detail).toMatch(/2 UCS-2 segments, more than the 1 allowed/);
  });

  it("defaults to 4 segments: 612 GSM-7 characters fit, 613 do not", () => {
    expect(valid(sms, sms.buildMessage(smsInput({ parts: { body: gsm(612) } }))).segments.count).toBe(4);
    expect(refusal(sms.buildMessage(smsInput({ parts: { body: gsm(613) } })))).toBe("too-many-segments");
  });

  it("allows up to the schema's 10 segments", () => {
    expect(valid(sms, sms.buildMessage(smsInput({ options: { maxSegments: 10 }, parts: { body: gsm(1530) } }))).segments.count).toBe(10);
    expect(refusal(sms.buildMessage(smsInput({ options: { maxSegments: 10 }, parts: { body: gsm(1531) } })))).toBe("too-many-segments");
  });

  it.each([
    ["empty", ""],
    ["whitespace only", "  \n\t"],
  ])("refuses a body that is %s", (_label, body) => {
    expect(refusal(sms.buildMessage(smsInput({ parts: { body } })))).toBe("empty-body");
  });

  it("refuses a missing body part as empty", () => {
    expect(refusal(sms.buildMessage(smsInput({ parts: {} })))).toBe("empty-body");
  });

  it.each<[string, unknown]>([
    ["zero", 0],
    ["eleven (over the schema's 10)", 11],
    ["a fraction", 2.5],
    ["text", "2"],
  ])("refuses maxSegments of %s as invalid-options", (_label, maxSegments) => {
    expect(refusal(sms.buildMessage(smsInput({ options: { maxSegments } })))).toBe("invalid-options");
  });

  it.each(["07911123456", "+0123456789", "+1 415 555 2671", "+1415", ""])("refuses %j as invalid-address", (target) => {
    expect(refusal(sms.buildMessage(smsInput({ target })))).toBe("invalid-address");
  });
});

// ---------------------------------------------------------------------------------------
// Whatever the rendered content, a built message is schema-valid

describe("buildMessage: a message is schema-valid or a named refusal", () => {
  const text = fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), fc.string({ unit: "grapheme-ascii", maxLength: 300 }));
  const link = fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ maxLength: 60 }));
  const critical = fc.boolean();
  const runs = { numRuns: 300 };

  it("email", () => {
    const reasons = new Set(["invalid-address", "invalid-subject", "missing-part", "content-too-large", "invalid-unsubscribe-url"]);
    const target = fc.oneof(fc.emailAddress(), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(target, text, text, text, fc.option(link, { nil: undefined }), critical, (to, subject, html, plain, unsubscribeUrl, isCritical) => {
        const result = email.buildMessage({
          meta: meta("email", { critical: isCritical }),
          target: to,
          parts: { subject, html, text: plain },
          options: {},
          ...(unsubscribeUrl !== undefined ? { unsubscribeUrl } : {}),
        });
        if (result.ok) expect(registry.validateMessage("email", 1, result.message)).toEqual([]);
        else expect(reasons).toContain(result.reason);
      }),
      runs,
    );
  });

  it("push", () => {
    const reasons = new Set(["invalid-address", "invalid-title", "missing-part", "body-too-long", "invalid-url", "invalid-options", "push-payload-too-large"]);
    const options = fc.record(
      {
        ttlSeconds: fc.oneof(fc.integer({ min: -10, max: 2_500_000 }), fc.double()),
        urgency: fc.constantFrom("very-low", "low", "normal", "high", "urgent"),
        topic: fc.string({ maxLength: 40 }),
        tag: fc.string({ maxLength: 140 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(text, fc.oneof(text, fc.string({ unit: "binary", minLength: 1000, maxLength: 2100 })), fc.option(link, { nil: undefined }), options, critical, (title, body, url, opts, isCritical) => {
        const result = push.buildMessage({
          meta: meta("push", { critical: isCritical }),
          target: SUBSCRIPTION,
          parts: url === undefined ? { title, body } : { title, body, url },
          options: opts,
        });
        if (result.ok) expect(registry.validateMessage("push", 1, result.message)).toEqual([]);
        else expect(reasons).toContain(result.reason);
      }),
      runs,
    );
  });

  it("sms", () => {
    const reasons = new Set(["invalid-address", "empty-body", "too-many-segments", "invalid-options"]);
    const target = fc.oneof(fc.stringMatching(/^\+[1-9][0-9]{6,14}$/), fc.string({ maxLength: 20 }));
    const body = fc.oneof(text, fc.string({ unit: "grapheme-ascii", minLength: 600, maxLength: 1700 }));
    const maxSegments = fc.option(fc.oneof(fc.integer({ min: -1, max: 12 }), fc.double()), { nil: undefined });
    fc.assert(
      fc.property(target, body, maxSegments, (to, rendered, max) => {
        const result = sms.buildMessage({ meta: meta("sms"), target: to, parts: { body: rendered }, options: max === undefined ? {} : { maxSegments: max } });
        if (result.ok) expect(registry.validateMessage("sms", 1, result.message)).toEqual([]);
        else expect(reasons).toContain(result.reason);
      }),
      runs,
    );
  });
});
