/**
 * Threat: e-mail header injection. Every value that reaches a header (To and the SMTP
 * envelope, Subject, From and its display name, Message-ID / X-Herald-Idempotency-Key,
 * List-Unsubscribe) can come from an event, a recipient record or configuration. A line
 * break in any of them would let an attacker add Bcc recipients or rewrite the message.
 *
 * The sender-level refusals of CR/LF and lists in `to`, `subject` and `unsubscribeUrl`
 * are in test/channels/email.test.ts ("refuses header injection before anything reaches
 * the wire"); this file covers the remaining fields, Unicode line separators, and the
 * whole path from hostile event data through the local runtime to a real SMTP peer.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { email, type EmailMessage } from "../../handlers/channels/email";
import { ConfigError, PermanentError } from "../../handlers/core/errors";
import type { ChannelSender, Logger } from "../../handlers/core/ports";
import { startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { startSmtpPeer, type ReceivedMail, type SmtpPeer } from "../support/smtp-peer";
import { messageMeta, testNotification } from "./fixtures";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const VICTIM = "victim@example.com";
const EVIL = "evil@attacker.example";

/** Line terminators other than CR/LF that some parsers and clients honour. */
const UNICODE_BREAKS = [
  ["U+2028 LINE SEPARATOR", "\u2028"],
  ["U+2029 PARAGRAPH SEPARATOR", "\u2029"],
  ["U+0085 NEXT LINE", "\u0085"],
] as const;

/** The header block of a raw message, unfolded, one entry per header line. */
function headerLines(mail: ReceivedMail): string[] {
  const raw = mail.raw.toString("latin1");
  return raw.slice(0, raw.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ").split("\r\n");
}

/** Asserts that nothing injected survived: one of each header, no Bcc/Cc, one recipient. */
function expectNoInjection(mail: ReceivedMail, to: string): void {
  const lines = headerLines(mail);
  const named = (name: string) => lines.filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  expect(named("Bcc")).toEqual([]);
  expect(named("Cc")).toEqual([]);
  expect(named("Subject")).toHaveLength(1);
  expect(named("From")).toHaveLength(1);
  expect(named("To")).toHaveLength(1);
  expect(mail.envelope.to).toEqual([to]);
  expect(mail.parsed.bcc).toBeUndefined();
  expect(mail.parsed.cc).toBeUndefined();
  expect(JSON.stringify(mail.parsed.to)).not.toContain(EVIL);
  // Raw bytes: the attacker's address appears in no header at all (body text may quote it).
  expect(lines.some((line) => line.includes(EVIL) && !/^subject:/i.test(line))).toBe(false);
}

function emailMessage(overrides: Partial<EmailMessage> & { idempotencyKey?: string } = {}): EmailMessage {
  const { idempotencyKey, ...rest } = overrides;
  return { meta: messageMeta("email", idempotencyKey), to: VICTIM, subject: "Hello", html: "<p>hi</p>", text: "hi", ...rest };
}

describe("the e-mail sender and its config, against a real SMTP peer", () => {
  let peer: SmtpPeer;
  const senders: ChannelSender<EmailMessage>[] = [];

  beforeAll(async () => {
    peer = await startSmtpPeer();
  });
  afterAll(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await peer?.close();
  });

  function senderWith(from = "herald <herald@example.com>"): ChannelSender<EmailMessage> {
    const sender = email.createSender(email.readConfig({ HERALD_SMTP_URL: `smtp://127.0.0.1:${peer.port}`, HERALD_EMAIL_FROM: from }), { logger: silent });
    senders.push(sender);
    return sender;
  }

  it.each([
    ["CRLF + Bcc after the address", `herald@example.com\r\nBcc: ${EVIL}`],
    ["bare LF + Bcc after a display name", `herald <herald@example.com>\nBcc: ${EVIL}`],
    ["CR in the display name", `her\rald <herald@example.com>`],
    ["a second address hidden in the display name", `"${EVIL}>, <herald" <herald@example.com>`],
    ["angle brackets in the display name", `a<b <herald@example.com>`],
    ["an address list", `herald@example.com, ${EVIL}`],
  ])("HERALD_EMAIL_FROM with %s is refused at config time, naming the key", (_label, from) => {
    let error: unknown;
    try {
      email.readConfig({ HERALD_SMTP_URL: `smtp://127.0.0.1:${peer.port}`, HERALD_EMAIL_FROM: from });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("HERALD_EMAIL_FROM");
  });

  it.each([
    ["HERALD_DKIM_DOMAIN", { HERALD_DKIM_DOMAIN: `example.com\r\nBcc: ${EVIL}` }],
    ["HERALD_DKIM_SELECTOR", { HERALD_DKIM_SELECTOR: "s1;\r\nh=from" }],
  ])("%s with a line break (it goes into the DKIM-Signature header) is refused at config time", (key, override) => {
    const dkim = { HERALD_DKIM_DOMAIN: "example.com", HERALD_DKIM_SELECTOR: "s1", HERALD_DKIM_PRIVATE_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
    const base = { HERALD_SMTP_URL: `smtp://127.0.0.1:${peer.port}`, HERALD_EMAIL_FROM: "herald@example.com" };
    expect(() => email.readConfig({ ...base, ...dkim })).not.toThrow();
    expect(() => email.readConfig({ ...base, ...dkim, ...override })).toThrow(ConfigError);
    expect(() => email.readConfig({ ...base, ...dkim, ...override })).toThrow(key);
  });

  it.each([
    ["CRLF + Bcc", `${"a".repeat(64)}\r\nBcc: ${EVIL}`],
    ["a header-ish value", "x>\r\nBcc: y"],
    ["uppercase hex (not what we generate)", "A".repeat(64)],
  ])("an idempotency key with %s (it becomes Message-ID and X-Herald-Idempotency-Key) is refused before connecting", async (_label, idempotencyKey) => {
    const connectionsBefore = peer.connections();
    const error = await senderWith().send(emailMessage({ idempotencyKey })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe("invalid-header");
    expect(peer.connections()).toBe(connectionsBefore);
  });

  it.each(UNICODE_BREAKS)("%s in `to` is refused as an invalid address", async (_label, sep) => {
    const connectionsBefore = peer.connections();
    const error = await senderWith().send(emailMessage({ to: `${VICTIM}${sep}Bcc: ${EVIL}` })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "invalid-address" });
    expect(peer.connections()).toBe(connectionsBefore);
    expect(peer.rcptAttempts).not.toContain(EVIL);
  });

  it.each(UNICODE_BREAKS)("%s in the subject is encoded into one Subject header, never a header break", async (_label, sep) => {
    const subject = `Hello${sep}Bcc: ${EVIL}`;
    const before = peer.received.length;
    await senderWith().send(emailMessage({ subject }));
    const mail = peer.received[before]!;
    expectNoInjection(mail, VICTIM);
    // Delivered as written: the separator is data inside one encoded Subject.
    expect(mail.parsed.subject).toBe(subject);
    expect(headerLines(mail).every((line) => /^[\x20-\x7e\t]*$/.test(line))).toBe(true);
  });

  it("Unicode line separators in the From display name: refused (U+2028, U+2029) or encoded (U+0085)", async () => {
    for (const sep of ["\u2028", "\u2029"]) {
      expect(() => email.readConfig({ HERALD_SMTP_URL: `smtp://127.0.0.1:${peer.port}`, HERALD_EMAIL_FROM: `Ops${sep}Bcc: x <herald@example.com>` })).toThrow(ConfigError);
    }
    const before = peer.received.length;
    await senderWith(`Ops\u0085Bcc: ${EVIL} <herald@example.com>`).send(emailMessage());
    const mail = peer.received[before]!;
    expectNoInjection(mail, VICTIM);
    expect(mail.parsed.from?.value).toEqual([{ name: `Ops\u0085Bcc: ${EVIL}`, address: "herald@example.com" }]);
    expect(headerLines(mail).every((line) => /^[\x20-\x7e\t]*$/.test(line))).toBe(true);
  });
});

describe("hostile event data through the local runtime to a real SMTP peer", () => {
  let peer: SmtpPeer;
  let runtime: TestRuntime;
  const source = "/security/email";

  beforeAll(async () => {
    peer = await startSmtpPeer();
    runtime = await startTestRuntime({ HERALD_SMTP_URL: `smtp://127.0.0.1:${peer.port}` });
  });
  afterAll(async () => {
    await runtime?.stop();
    await peer?.close();
  });

  async function emailOutcome(id: string): Promise<{ status: string; reason: string }> {
    return waitFor(async () => {
      const { outcomes } = await runtime.get(`/v1/outcomes?source=${encodeURIComponent(source)}&id=${id}`);
      const mine = (outcomes as Array<{ channel: string; status: string; reason: string }>).filter((o) => o.channel === "email");
      return mine.find((o) => o.status !== "accepted") ?? false;
    }, 10_000, `the e-mail outcome of ${id}`);
  }

  it.each([
    ["CRLF", "\r\n"],
    ["bare LF", "\n"],
    ["bare CR", "\r"],
  ])("a title (the Subject) with %s + Bcc: no mail is sent", async (_label, sep) => {
    const { id, event } = testNotification(source, { contacts: { email: VICTIM }, title: `Hi${sep}Bcc: ${EVIL}`, message: "m" });
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    expect(await emailOutcome(id)).toMatchObject({ status: "rejected", reason: "invalid-subject" });
    expect(peer.rcptAttempts).not.toContain(EVIL);
    expect(peer.received.filter((m) => m.raw.includes(id))).toEqual([]);
  });

  it("a title with a Unicode line separator + Bcc: delivered to the one recipient, injected text inert", async () => {
    const title = `Hi\u2028Bcc: ${EVIL}\u0085Cc: ${EVIL}`;
    const { id, event } = testNotification(source, { contacts: { email: VICTIM }, title, message: `body\r\nBcc: ${EVIL}` });
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    expect(await emailOutcome(id)).toMatchObject({ status: "sent" });
    const mail = peer.received.find((m) => m.parsed.text?.includes(id))!;
    expectNoInjection(mail, VICTIM);
    expect(mail.parsed.subject).toBe(title);
    expect(peer.rcptAttempts).not.toContain(EVIL);
  });

  it("a recipient id built to break out of List-Unsubscribe stays inside one bracketed, encoded URL", async () => {
    // Recipient ids may hold anything but whitespace; the id is part of the signed link.
    const hostileId = `m>,<mailto:${EVIL}>`;
    expect((await runtime.put(`/v1/recipients/${encodeURIComponent(hostileId)}`, { contacts: { email: VICTIM } })).status).toBe(200);
    const event = JSON.parse(readFileSync("schemas/events/order.shipped/examples/v1-standard.json", "utf8")) as Record<string, any>;
    const id = `mail-${randomBytes(6).toString("hex")}`;
    Object.assign(event, { id, source });
    event.data.customerId = hostileId;
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    expect(await emailOutcome(id)).toMatchObject({ status: "sent" });
    const mail = peer.received.find((m) => m.envelope.to[0] === VICTIM && headerLines(m).some((l) => /^list-unsubscribe:/i.test(l) && l.includes("m%3E")))!;
    expect(mail).toBeDefined();
    expectNoInjection(mail, VICTIM);
    const unsubscribe = headerLines(mail).filter((line) => /^list-unsubscribe:/i.test(line));
    expect(unsubscribe).toHaveLength(1);
    expect(unsubscribe[0]).toMatch(/^List-Unsubscribe: <https?:\/\/[^<>\s,]+>$/i);
    expect(peer.rcptAttempts).not.toContain(EVIL);
  });

  it.each([
    ["CRLF + Bcc", `${VICTIM}\r\nBcc: ${EVIL}`],
    ["a second address", `${VICTIM}, ${EVIL}`],
    ["a display name", `Victim <${VICTIM}>`],
    ["U+2028 + Bcc", `${VICTIM}\u2028Bcc: ${EVIL}`],
  ])("a contact address with %s is refused at ingest and in the recipient directory", async (_label, address) => {
    const { event } = testNotification(source, { contacts: { email: address }, message: "m" });
    const ingest = await runtime.post("/v1/events", event);
    expect(ingest.status).toBe(400);
    expect(JSON.stringify(ingest.body)).toContain("/data/contacts/email");
    const put = await runtime.put(`/v1/recipients/mallory-${randomBytes(3).toString("hex")}`, { contacts: { email: address } });
    expect(put.status).toBe(400);
    expect(peer.rcptAttempts).not.toContain(EVIL);
  });
});
