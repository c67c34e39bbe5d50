import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import type { AddressObject } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { email } from "../../handlers/channels/email";
import type { EmailConfig, EmailMessage } from "../../handlers/channels/email";
import { ConfigError, PermanentError, TransientError } from "../../handlers/core/errors";
import type { ChannelSender, ConfigSource, Logger, MessageMeta } from "../../handlers/core/ports";
import { freePort } from "../support/ports";
import { rawHeader, startSmtpPeer, verifyDkim } from "../support/smtp-peer";
import type { SmtpPeer } from "../support/smtp-peer";

const USER = "herald";
// Characters that must survive percent-decoding of the URL userinfo.
const PASSWORD = "p@ss:w0rd/!Sekr1t";
const FROM = "Herald Notifications <no-reply@example.com>";

const logger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function keyFor(label: string): string {
  return createHash("sha256").update(label).digest("hex");
}

function message(overrides: Partial<Omit<EmailMessage, "meta">> & { meta?: Partial<MessageMeta> } = {}): EmailMessage {
  const { meta, ...rest } = overrides;
  return {
    meta: {
      idempotencyKey: keyFor(JSON.stringify(overrides)),
      channel: "email",
      eventId: "evt-1",
      eventSource: "billing",
      eventType: "invoice.paid",
      eventVersion: 1,
      rule: "invoice-paid-receipt",
      recipientId: "user-1",
      category: "receipts",
      critical: false,
      locale: "en",
      createdAt: "2026-11-26T00:00:00.000Z",
      ...meta,
    },
    to: "alice@example.org",
    subject: "Your receipt",
    html: "<p>Thanks for paying <b>invoice 42</b>.</p>",
    text: "Thanks for paying invoice 42.",
    unsubscribeUrl: "https://example.com/unsubscribe?t=abc123",
    ...rest,
  };
}

function env(port: number, extra: ConfigSource = {}, credentials = `${USER}:${encodeURIComponent(PASSWORD)}@`): ConfigSource {
  return { HERALD_SMTP_URL: `smtp://${credentials}127.0.0.1:${port}`, HERALD_EMAIL_FROM: FROM, ...extra };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

function firstAddress(value: AddressObject | AddressObject[] | undefined) {
  const object = Array.isArray(value) ? value[0] : value;
  return object?.value;
}

const senders: ChannelSender<EmailMessage>[] = [];
const peers: SmtpPeer[] = [];

function sender(config: EmailConfig): ChannelSender<EmailMessage> {
  const created = email.createSender(config, { logger });
  senders.push(created);
  return created;
}

afterAll(async () => {
  await Promise.all(senders.map((s) => s.close()));
  await Promise.all(peers.map((p) => p.close()));
});

describe("email adapter opening", () => {
  it("names the channel, its message schema and sane defaults", () => {
    expect(email.name).toBe("email");
    expect(email.messageSchemaVersion).toBe(1);
    const schemaPath = join(__dirname, "../../schemas/messages/email", `v${email.messageSchemaVersion}.schema.json`);
    expect(existsSync(schemaPath)).toBe(true);
    const schema = JSON.parse(readFileSync(schemaPath, "utf8")) as { required: string[]; properties: Record<string, unknown> };
    // EmailMessage is written by hand: keep its fields the schema's fields.
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(message()).sort());
    expect(email.defaults).toEqual({ concurrency: 10, maxAttempts: 8, timeoutMs: 30_000, batchSize: 10 });
    expect(email.addressOf(message({ to: "bob@example.net" }))).toBe("bob@example.net");
  });
});

describe("email.readConfig", () => {
  it("reads URL, credentials, sender, pool size and DKIM", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const config = email.readConfig({
      HERALD_SMTP_URL: `smtps://${USER}:${encodeURIComponent(PASSWORD)}@smtp.example.com`,
      HERALD_EMAIL_FROM: '"Herald, Inc." <no-reply@example.com>',
      HERALD_SMTP_POOL_SIZE: "3",
      HERALD_DKIM_DOMAIN: "example.com",
      HERALD_DKIM_SELECTOR: "herald2026",
      // One-line PEM with literal \n, as secret stores tend to hold it.
      HERALD_DKIM_PRIVATE_KEY: pem.replace(/\n/g, "\\n"),
    });
    expect(config.smtp).toEqual({ host: "smtp.example.com", port: 465, secure: true, auth: { user: USER, pass: PASSWORD } });
    expect(config.from).toEqual({ name: "Herald, Inc.", address: "no-reply@example.com" });
    expect(config.poolSize).toBe(3);
    expect(config.dkim).toEqual({ domainName: "example.com", keySelector: "herald2026", privateKey: pem });

    const plain = email.readConfig({ HERALD_SMTP_URL: "smtp://mail.internal:2525", HERALD_EMAIL_FROM: "ops@example.com" });
    expect(plain.smtp).toEqual({ host: "mail.internal", port: 2525, secure: false });
    expect(plain.from).toEqual({ address: "ops@example.com" });
    expect(plain.dkim).toBeUndefined();
    expect(plain.poolSize).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ["HERALD_SMTP_URL", "config-missing", { HERALD_EMAIL_FROM: FROM }],
    ["HERALD_SMTP_URL", "config-missing", { HERALD_SMTP_URL: "  ", HERALD_EMAIL_FROM: FROM }],
    ["HERALD_EMAIL_FROM", "config-missing", { HERALD_SMTP_URL: "smtp://h.example.com" }],
    ["HERALD_EMAIL_FROM", "config-invalid", { HERALD_SMTP_URL: "smtp://h.example.com", HERALD_EMAIL_FROM: "a@b.com, c@d.com" }],
    ["HERALD_EMAIL_FROM", "config-invalid", { HERALD_SMTP_URL: "smtp://h.example.com", HERALD_EMAIL_FROM: "Eve <a@b.com>\r\nBcc: x@y.com" }],
    ["HERALD_SMTP_URL", "config-invalid", { HERALD_SMTP_URL: "http://h.example.com", HERALD_EMAIL_FROM: FROM }],
    ["HERALD_SMTP_URL", "config-invalid", { HERALD_SMTP_URL: "smtp://h.example.com/?pool=true", HERALD_EMAIL_FROM: FROM }],
    ["HERALD_SMTP_POOL_SIZE", "config-invalid", { HERALD_SMTP_URL: "smtp://h.example.com", HERALD_EMAIL_FROM: FROM, HERALD_SMTP_POOL_SIZE: "0" }],
    ["HERALD_SMTP_POOL_SIZE", "config-invalid", { HERALD_SMTP_URL: "smtp://h.example.com", HERALD_EMAIL_FROM: FROM, HERALD_SMTP_POOL_SIZE: "2.5" }],
  ])("names %s (%s)", (key, code, source) => {
    const error = (() => {
      try {
        email.readConfig(source);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe(code);
    expect((error as ConfigError).message).toContain(key);
  });

  it("never puts the password or the DKIM key into an error, message or cause", () => {
    const secret = "hunter2-DoNotLeak";
    const attempts: ConfigSource[] = [
      // Unparseable URLs: Node's URL error carries the input, which must not end up as cause.
      { HERALD_SMTP_URL: `smtp://user:${secret}@exa mple.com:99999`, HERALD_EMAIL_FROM: FROM },
      { HERALD_SMTP_URL: `ftp://user:${secret}@example.com`, HERALD_EMAIL_FROM: FROM },
      { HERALD_SMTP_URL: `smtp://:${secret}@example.com`, HERALD_EMAIL_FROM: FROM },
      { HERALD_SMTP_URL: `smtp://user:${secret}%ZZ@example.com`, HERALD_EMAIL_FROM: FROM },
      {
        HERALD_SMTP_URL: `smtp://user:${secret}@example.com`,
        HERALD_EMAIL_FROM: FROM,
        HERALD_DKIM_DOMAIN: "example.com",
        HERALD_DKIM_SELECTOR: "s1",
        HERALD_DKIM_PRIVATE_KEY: `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----`,
      },
      { HERALD_SMTP_URL: `smtp://user:${secret}@example.com`, HERALD_EMAIL_FROM: FROM, HERALD_DKIM_PRIVATE_KEY: secret },
    ];
    for (const source of attempts) {
      let caught: unknown;
      try {
        email.readConfig(source);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(Object.keys(source))).toBeInstanceOf(ConfigError);
      expect(inspect(caught, { depth: 10 })).not.toContain(secret);
      expect(JSON.stringify(caught)).not.toContain(secret);
    }
  });

  it("wants all three DKIM settings or none, and names the missing ones", () => {
    const error = (() => {
      try {
        email.readConfig({ HERALD_SMTP_URL: "smtp://h.example.com", HERALD_EMAIL_FROM: FROM, HERALD_DKIM_DOMAIN: "example.com" });
      } catch (caught) {
        return caught as ConfigError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toContain("HERALD_DKIM_SELECTOR");
    expect(error?.message).toContain("HERALD_DKIM_PRIVATE_KEY");
  });
});

describe("email.classify", () => {
  const nodemailerError = (fields: Record<string, unknown>) => Object.assign(new Error("from nodemailer"), fields);

  it.each([
    [{ code: "EENVELOPE", responseCode: 550, command: "RCPT TO" }, PermanentError, "smtp-550", "hard-bounce"],
    [{ code: "EENVELOPE", responseCode: 551, command: "RCPT TO" }, PermanentError, "smtp-551", "hard-bounce"],
    [{ code: "EENVELOPE", responseCode: 553, command: "RCPT TO" }, PermanentError, "smtp-553", "hard-bounce"],
    [{ code: "EENVELOPE", responseCode: 552, command: "RCPT TO" }, PermanentError, "smtp-552", undefined],
    [{ code: "EMESSAGE", responseCode: 554, command: "DATA" }, PermanentError, "smtp-554", undefined],
    [{ code: "EENVELOPE", responseCode: 550, command: "MAIL FROM" }, PermanentError, "smtp-550", undefined],
    [{ code: "EENVELOPE", command: "API" }, PermanentError, "EENVELOPE", undefined],
    [{ code: "EENVELOPE", responseCode: 451, command: "RCPT TO" }, TransientError, "smtp-451", undefined],
    [{ code: "EPROTOCOL", responseCode: 421, command: "CONN" }, TransientError, "smtp-421", undefined],
    [{ code: "EENVELOPE", responseCode: 503, command: "RCPT TO" }, TransientError, "smtp-503", undefined],
    [{ code: "EAUTH", responseCode: 535, command: "AUTH PLAIN" }, ConfigError, "EAUTH", undefined],
    [{ code: "EENVELOPE", responseCode: 530, command: "MAIL FROM" }, ConfigError, "smtp-530", undefined],
    [{ code: "ENOAUTH" }, ConfigError, "ENOAUTH", undefined],
    [{ code: "ECONFIG" }, ConfigError, "ECONFIG", undefined],
    [{ code: "ECONNECTION" }, TransientError, "ECONNECTION", undefined],
    [{ code: "ETIMEDOUT" }, TransientError, "ETIMEDOUT", undefined],
    [{ code: "ESOCKET", originalCode: "ECONNREFUSED" }, TransientError, "ESOCKET", undefined],
    [{ code: "EDNS" }, TransientError, "EDNS", undefined],
    [{ code: "ECONNREFUSED" }, TransientError, "ECONNREFUSED", undefined],
    [{ code: "ECONNRESET" }, TransientError, "ECONNRESET", undefined],
    [{ code: "EABORT", name: "AbortError" }, TransientError, "timeout", undefined],
    [{}, TransientError, "unknown", undefined],
  ] as const)("%o -> %s %s", (fields, expectedClass, code, suppress) => {
    const cause = nodemailerError(fields);
    const classified = email.classify(cause);
    expect(classified).toBeInstanceOf(expectedClass);
    expect(classified.code).toBe(code);
    expect(classified.cause).toBe(cause);
    if (classified instanceof PermanentError) expect(classified.suppress).toBe(suppress);
  });

  it("passes classified errors through and copes with non-Error throws", () => {
    const permanent = new PermanentError("invalid-address", "bad", { suppress: "invalid-address" });
    const config = new ConfigError("EAUTH", "bad credentials");
    const transient = new TransientError("timeout", "slow", { retryAfterMs: 10 });
    expect(email.classify(permanent)).toBe(permanent);
    expect(email.classify(config)).toBe(config);
    expect(email.classify(transient)).toBe(transient);
    expect(email.classify("boom")).toBeInstanceOf(TransientError);
    expect(email.classify(undefined)).toBeInstanceOf(TransientError);
    // Text that reads like a hard bounce must not be treated as one: only codes count.
    expect(email.classify(new Error("550 5.1.1 user unknown"))).toBeInstanceOf(TransientError);
  });
});

describe("email sender against a real SMTP peer", () => {
  let peer: SmtpPeer;
  let send: ChannelSender<EmailMessage>;

  beforeAll(async () => {
    peer = await startSmtpPeer({
      credentials: { user: USER, pass: PASSWORD },
      onRcpt: (address) => {
        const local = address.slice(0, address.indexOf("@"));
        if (local === "bounce") return { reply: 550 };
        if (local === "policy") return { reply: 554 };
        if (local === "defer") return { reply: 451 };
        if (local === "slow") return { delayMs: 5_000 };
        return undefined;
      },
    });
    peers.push(peer);
    send = sender(email.readConfig(env(peer.port)));
  });

  it("delivers a non-critical message with its parts, sender and one-click unsubscribe headers", async () => {
    const msg = message({ to: "alice@example.org", subject: "Your receipt for März" });
    const before = peer.received.length;
    const result = await send.send(msg);

    expect(peer.received.length).toBe(before + 1);
    const got = peer.received[peer.received.length - 1]!;
    expect(got.envelope).toEqual({ from: "no-reply@example.com", to: ["alice@example.org"] });
    expect(firstAddress(got.parsed.from)).toEqual([{ address: "no-reply@example.com", name: "Herald Notifications" }]);
    expect(firstAddress(got.parsed.to)).toEqual([{ address: "alice@example.org", name: "" }]);
    expect(got.parsed.subject).toBe("Your receipt for März");
    expect(got.parsed.html).toBe(msg.html);
    expect(got.parsed.text?.trim()).toBe(msg.text);
    expect(rawHeader(got.raw, "List-Unsubscribe")).toBe("<https://example.com/unsubscribe?t=abc123>");
    expect(rawHeader(got.raw, "List-Unsubscribe-Post")).toBe("List-Unsubscribe=One-Click");
    expect(got.parsed.messageId).toBe(`<${msg.meta.idempotencyKey}@example.com>`);
    expect(rawHeader(got.raw, "X-Herald-Idempotency-Key")).toBe(msg.meta.idempotencyKey);
    expect(rawHeader(got.raw, "Bcc")).toBeUndefined();
    expect(result.providerMessageId).toContain(got.queueId);
  });

  it("authenticates with AUTH PLAIN using the URL's credentials", async () => {
    await send.send(message({ subject: "auth check" }));
    expect(peer.logins).toContainEqual({ method: "PLAIN", ok: true });
    expect(peer.logins.filter((login) => !login.ok)).toEqual([]);
    expect(peer.received[peer.received.length - 1]!.user).toBe(USER);
  });

  it("leaves List-Unsubscribe off critical mail even when a URL is given", async () => {
    const msg = message({ meta: { critical: true, category: "security" }, subject: "New sign-in" });
    await send.send(msg);
    const got = peer.received[peer.received.length - 1]!;
    expect(got.parsed.subject).toBe("New sign-in");
    expect(rawHeader(got.raw, "List-Unsubscribe")).toBeUndefined();
    expect(rawHeader(got.raw, "List-Unsubscribe-Post")).toBeUndefined();
    expect(got.parsed.messageId).toBe(`<${msg.meta.idempotencyKey}@example.com>`);
  });

  it("leaves List-Unsubscribe off non-critical mail without a URL", async () => {
    await send.send(message({ unsubscribeUrl: undefined, subject: "no list" }));
    const got = peer.received[peer.received.length - 1]!;
    expect(got.parsed.subject).toBe("no list");
    expect(rawHeader(got.raw, "List-Unsubscribe")).toBeUndefined();
    expect(rawHeader(got.raw, "List-Unsubscribe-Post")).toBeUndefined();
  });

  it("gives a resend the same Message-ID, so a provider-side duplicate is recognisable", async () => {
    const msg = message({ subject: "twice" });
    await send.send(msg);
    await send.send(msg);
    const [first, second] = peer.received.slice(-2);
    expect(first!.parsed.messageId).toBe(`<${msg.meta.idempotencyKey}@example.com>`);
    expect(second!.parsed.messageId).toBe(first!.parsed.messageId);
    const other = message({ subject: "twice", meta: { idempotencyKey: keyFor("other") } });
    await send.send(other);
    expect(peer.received[peer.received.length - 1]!.parsed.messageId).not.toBe(first!.parsed.messageId);
  });

  it("turns 550 on RCPT into a PermanentError that suppresses the address as a hard bounce", async () => {
    const before = peer.received.length;
    const error = await failure(send.send(message({ to: "bounce@example.org" })));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe("smtp-550");
    expect((error as PermanentError).suppress).toBe("hard-bounce");
    expect(((error as PermanentError).cause as { responseCode?: number }).responseCode).toBe(550);
    // The address stays out of the message text, which ends up in logs.
    expect((error as Error).message).not.toContain("bounce@example.org");
    expect(peer.received.length).toBe(before);
  });

  it("turns 554 on RCPT into a PermanentError without suppression", async () => {
    const error = await failure(send.send(message({ to: "policy@example.org" })));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe("smtp-554");
    expect((error as PermanentError).suppress).toBeUndefined();
  });

  it("turns 451 on RCPT into a TransientError", async () => {
    const before = peer.received.length;
    const error = await failure(send.send(message({ to: "defer@example.org" })));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).code).toBe("smtp-451");
    expect(peer.received.length).toBe(before);
  });

  it("turns an abort mid-transaction into a TransientError 'timeout' promptly", async () => {
    const before = peer.received.length;
    const started = Date.now();
    const error = await failure(send.send(message({ to: "slow@example.org" }), AbortSignal.timeout(150)));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(peer.rcptAttempts).toContain("slow@example.org");
    expect(peer.received.length).toBe(before);
    // The pool recovers: the next message still goes out.
    await send.send(message({ subject: "after abort" }));
    expect(peer.received[peer.received.length - 1]!.parsed.subject).toBe("after abort");
  });

  it("turns wrong credentials into a ConfigError and sends nothing", async () => {
    const before = peer.received.length;
    const wrong = sender(email.readConfig(env(peer.port, {}, `${USER}:not-the-password@`)));
    const error = await failure(wrong.send(message({ subject: "wrong creds" })));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("EAUTH");
    expect(peer.logins).toContainEqual({ method: "PLAIN", ok: false });
    expect(peer.received.length).toBe(before);
  });
});

describe("email sender failures without a working peer", () => {
  it("turns a refused connection into a TransientError", async () => {
    const port = await freePort();
    const refused = sender(email.readConfig(env(port)));
    const error = await failure(refused.send(message()));
    expect(error).toBeInstanceOf(TransientError);
    expect(["ESOCKET", "ECONNECTION", "ECONNREFUSED"]).toContain((error as TransientError).code);
    expect(((error as TransientError).cause as { originalCode?: string; code?: string }).originalCode ?? (error as TransientError).code).toBe("ECONNREFUSED");
  });

  describe("refuses header injection before anything reaches the wire", () => {
    let quiet: SmtpPeer;
    let send: ChannelSender<EmailMessage>;

    beforeAll(async () => {
      quiet = await startSmtpPeer({ credentials: { user: USER, pass: PASSWORD } });
      peers.push(quiet);
      send = sender(email.readConfig(env(quiet.port)));
    });

    it.each([
      ["CRLF in subject", { subject: "Hello\r\nBcc: x@y.com" }, "invalid-header", undefined],
      ["bare LF in subject", { subject: "Hello\nBcc: x@y.com" }, "invalid-header", undefined],
      ["CRLF + Bcc in to", { to: "a@b.com\r\nBcc: x@y.com" }, "invalid-address", "invalid-address"],
      ["two addresses in to", { to: "a@b.com, c@d.com" }, "invalid-address", "invalid-address"],
      ["semicolon list in to", { to: "a@b.com;c@d.com" }, "invalid-address", "invalid-address"],
      ["display name in to", { to: "Eve <a@b.com>" }, "invalid-address", "invalid-address"],
      ["angle brackets in to", { to: "<a@b.com>" }, "invalid-address", "invalid-address"],
      ["CRLF in unsubscribeUrl", { unsubscribeUrl: "https://example.com/u\r\nBcc: x@y.com" }, "invalid-header", undefined],
      ["bracket break-out in unsubscribeUrl", { unsubscribeUrl: "https://example.com/u>,<mailto:evil@x.com" }, "invalid-header", undefined],
      ["non-http unsubscribeUrl", { unsubscribeUrl: "javascript:alert(1)" }, "invalid-header", undefined],
    ] as const)("%s", async (_label, overrides, code, suppress) => {
      const error = await failure(send.send(message(overrides)));
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as PermanentError).code).toBe(code);
      expect((error as PermanentError).suppress).toBe(suppress);
      expect(quiet.connections()).toBe(0);
      expect(quiet.rcptAttempts).toEqual([]);
      expect(quiet.received).toEqual([]);
    });

    it("a send whose signal is already aborted never connects", async () => {
      const controller = new AbortController();
      controller.abort();
      const error = await failure(send.send(message(), controller.signal));
      expect(error).toBeInstanceOf(TransientError);
      expect((error as TransientError).code).toBe("timeout");
      // Give a stray connection attempt time to show up before asserting there was none.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(quiet.connections()).toBe(0);
    });

    it("the same sender still delivers a clean message (the refusals were not vacuous)", async () => {
      await send.send(message({ subject: "clean" }));
      expect(quiet.received.map((m) => m.parsed.subject)).toEqual(["clean"]);
    });
  });
});

describe("email DKIM signing", () => {
  it("signs with the configured key; the signature verifies against the public key", async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const signed = sender(
      email.readConfig(
        env(peer.port, {
          HERALD_DKIM_DOMAIN: "example.com",
          HERALD_DKIM_SELECTOR: "herald2026",
          HERALD_DKIM_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        }, ""),
      ),
    );
    await signed.send(message({ subject: "signed" }));
    const got = peer.received[0]!;
    expect(rawHeader(got.raw, "DKIM-Signature")).toBeDefined();
    const { valid, bodyHashOk, tags } = verifyDkim(got.raw, publicKey.export({ type: "spki", format: "pem" }).toString());
    expect(tags.d).toBe("example.com");
    expect(tags.s).toBe("herald2026");
    expect(tags.a).toBe("rsa-sha256");
    const signedHeaders = (tags.h ?? "").toLowerCase().split(":");
    expect(signedHeaders).toEqual(expect.arrayContaining(["from", "subject", "message-id", "list-unsubscribe", "list-unsubscribe-post"]));
    expect(bodyHashOk).toBe(true);
    expect(valid).toBe(true);
    // The verifier is not vacuous: a changed signed header breaks the signature.
    const tampered = Buffer.from(got.raw.toString("latin1").replace("Subject: signed", "Subject: signeD"), "latin1");
    expect(verifyDkim(tampered, publicKey.export({ type: "spki", format: "pem" }).toString()).valid).toBe(false);
  });
});
