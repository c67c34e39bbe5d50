/**
 * E-mail over SMTP (nodemailer, pooled). Opens like every channel module: name, message
 * schema version, defaults, template parts, addresses, message building, config, sender,
 * classification, address.
 *
 * nodemailer is loaded inside `createSender`, never at the top: the rules function
 * imports this module to build messages and must not carry (or load) the SMTP stack.
 */
import { createPrivateKey } from "node:crypto";
import type { SendMailOptions } from "nodemailer";
import { ConfigError, PermanentError, TransientError, isDeliveryError } from "../core/errors";
import type { DeliveryError } from "../core/errors";
import type {
  BuildMessageInput,
  BuildMessageResult,
  ChannelAdapter,
  ChannelAddress,
  ChannelDefaults,
  ChannelMessage,
  ChannelSender,
  ConfigSource,
  Logger,
  SendResult,
  TemplatePart,
} from "../core/ports";
import type { Contacts } from "../core/recipients";
import { isPlainHttpUri } from "../core/http-uri";

/** A rendered e-mail for one recipient; mirrors `schemas/messages/email/v1.schema.json`. */
export interface EmailMessage extends ChannelMessage {
  /** One bare address (`user@example.com`); display names and lists are refused. */
  readonly to: string;
  /** One line: CR and LF are refused. */
  readonly subject: string;
  readonly html: string;
  readonly text: string;
  /** One-click unsubscribe target (RFC 8058); ignored on critical mail. */
  readonly unsubscribeUrl?: string;
}

/** Settings read by {@link email}.readConfig. Holds secrets: do not log it. */
export interface EmailConfig {
  readonly smtp: {
    readonly host: string;
    readonly port: number;
    /** Implicit TLS (smtps://); plain smtp:// still upgrades with STARTTLS when offered. */
    readonly secure: boolean;
    readonly auth?: { readonly user: string; readonly pass: string };
  };
  readonly from: { readonly name?: string; readonly address: string };
  readonly dkim?: { readonly domainName: string; readonly keySelector: string; readonly privateKey: string };
  /** Pooled SMTP connections per process. */
  readonly poolSize: number;
}

/** Configuration keys this channel reads. */
const EMAIL_CONFIG_KEYS = {
  smtpUrl: "HERALD_SMTP_URL",
  from: "HERALD_EMAIL_FROM",
  dkimDomain: "HERALD_DKIM_DOMAIN",
  dkimSelector: "HERALD_DKIM_SELECTOR",
  dkimPrivateKey: "HERALD_DKIM_PRIVATE_KEY",
  poolSize: "HERALD_SMTP_POOL_SIZE",
} as const;

const DEFAULT_POOL_SIZE = 5;
const MAX_POOL_SIZE = 100;

// Deliberately narrower than RFC 5321 (no quoted local parts, no address literals, ASCII
// only), matching the schema's `format: email`. Anything this refuses could carry header
// or envelope syntax, which is exactly what must never reach nodemailer's address parser.
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DKIM_SELECTOR = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$/;
const IDEMPOTENCY_KEY = /^[0-9a-f]{64}$/;
// Any C0 control or DEL: CR/LF split headers, the others have no business in a header.
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_EXCEPT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function isAddress(value: string): boolean {
  if (value.length > 254 || !ADDRESS.test(value)) return false;
  return value.indexOf("@") <= 64;
}

function configValue(source: ConfigSource, key: string): string | undefined {
  const value = source[key]?.trim();
  return value ? value : undefined;
}

function required(source: ConfigSource, key: string): string {
  const value = configValue(source, key);
  if (value === undefined) throw new ConfigError("config-missing", `${key} is not set`);
  return value;
}

// No `cause` on purpose: URL and crypto errors echo their input, which holds the password
// or the private key, and a cause is logged along with the error.
function invalid(key: string, why: string): ConfigError {
  return new ConfigError("config-invalid", `${key} ${why}`);
}

function readSmtp(source: ConfigSource): EmailConfig["smtp"] {
  const key = EMAIL_CONFIG_KEYS.smtpUrl;
  let url: URL;
  try {
    url = new URL(required(source, key));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw invalid(key, "is not a valid URL (expected smtp://[user:pass@]host[:port] or smtps://...)");
  }
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw invalid(key, "must use the smtp:// or smtps:// scheme");
  }
  if (!url.hostname) throw invalid(key, "has no host");
  // Query options would be silently ignored here; refuse them rather than run with
  // settings the operator did not get.
  if (url.search || url.hash || (url.pathname !== "" && url.pathname !== "/")) {
    throw invalid(key, "must not have a path, query or fragment");
  }
  const secure = url.protocol === "smtps:";
  const port = url.port ? Number(url.port) : secure ? 465 : 587;
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    throw invalid(key, "has badly percent-encoded credentials");
  }
  if (Boolean(user) !== Boolean(pass)) throw invalid(key, "must carry both a user and a password, or neither");
  // IPv6 hosts come back bracketed from WHATWG URL; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return user ? { host, port, secure, auth: { user, pass } } : { host, port, secure };
}

function readFrom(source: ConfigSource): EmailConfig["from"] {
  const key = EMAIL_CONFIG_KEYS.from;
  const value = required(source, key);
  if (CONTROL.test(value)) throw invalid(key, "must not contain control characters");
  const named = /^(.*?)\s*<([^<>]*)>$/.exec(value);
  const address = named ? named[2]!.trim() : value;
  if (!isAddress(address)) throw invalid(key, 'must be an address, optionally as "Name <address>"');
  if (!named) return { address };
  let name = named[1]!.trim();
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"')) name = name.slice(1, -1).replace(/\\(.)/g, "$1");
  if (/[<>]/.test(name)) throw invalid(key, "has angle brackets in its display name");
  return name ? { name, address } : { address };
}

function readDkim(source: ConfigSource): EmailConfig["dkim"] {
  const keys = [EMAIL_CONFIG_KEYS.dkimDomain, EMAIL_CONFIG_KEYS.dkimSelector, EMAIL_CONFIG_KEYS.dkimPrivateKey] as const;
  const [domainName, keySelector, rawKey] = keys.map((key) => configValue(source, key));
  if (domainName === undefined && keySelector === undefined && rawKey === undefined) return undefined;
  if (domainName === undefined || keySelector === undefined || rawKey === undefined) {
    const missing = keys.filter((key) => configValue(source, key) === undefined);
    throw new ConfigError("config-missing", `DKIM needs ${keys.join(", ")} together; missing ${missing.join(", ")}`);
  }
  if (!HOSTNAME.test(domainName)) throw invalid(EMAIL_CONFIG_KEYS.dkimDomain, "is not a domain name");
  if (!DKIM_SELECTOR.test(keySelector)) throw invalid(EMAIL_CONFIG_KEYS.dkimSelector, "is not a valid selector");
  // Secret stores and .env files often hold a PEM on one line with literal "\n".
  const privateKey = rawKey.includes("\\n") ? rawKey.replace(/(?:\\r)?\\n/g, "\n") : rawKey;
  try {
    const key = createPrivateKey(privateKey);
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "ed25519") throw new Error("unsupported key type");
  } catch {
    throw invalid(EMAIL_CONFIG_KEYS.dkimPrivateKey, "is not a PEM-encoded RSA or Ed25519 private key");
  }
  return { domainName, keySelector, privateKey };
}

function readPoolSize(source: ConfigSource): number {
  const key = EMAIL_CONFIG_KEYS.poolSize;
  const value = configValue(source, key);
  if (value === undefined) return DEFAULT_POOL_SIZE;
  const size = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(size) || size < 1 || size > MAX_POOL_SIZE) {
    throw invalid(key, `must be a whole number from 1 to ${MAX_POOL_SIZE}`);
  }
  return size;
}

/** The message's problems that no retry can fix, found before anything touches the wire. */
function checkMessage(message: EmailMessage): void {
  if (typeof message.to !== "string" || !isAddress(message.to)) {
    throw new PermanentError("invalid-address", "`to` must be exactly one bare address", { suppress: "invalid-address" });
  }
  if (typeof message.subject !== "string" || CONTROL_EXCEPT_TAB.test(message.subject)) {
    throw new PermanentError("invalid-header", "`subject` must be one line without control characters");
  }
  if (!IDEMPOTENCY_KEY.test(message.meta.idempotencyKey)) {
    throw new PermanentError("invalid-header", "`meta.idempotencyKey` must be 64 lowercase hex digits");
  }
  if (message.unsubscribeUrl !== undefined && !isUnsubscribeUrl(message.unsubscribeUrl)) {
    throw new PermanentError("invalid-header", "`unsubscribeUrl` must be an http(s) URL without whitespace, controls or angle brackets");
  }
}

function isUnsubscribeUrl(value: string): boolean {
  // It goes between angle brackets in List-Unsubscribe: whitespace or brackets would end it.
  if (typeof value !== "string" || CONTROL.test(value) || /[\s<>]/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

type Nodemailer = typeof import("nodemailer");

/** nodemailer, loaded on first use (see the module comment). */
function loadNodemailer(): Nodemailer {
  // A literal require: esbuild still bundles it into the email function, and the rules
  // bundle marks it external.
  return require("nodemailer") as Nodemailer;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

/** Fields nodemailer puts on its errors; read defensively since anything can be thrown. */
function smtpFields(error: unknown): { code?: string; responseCode?: number; command?: string; name?: string } {
  if (typeof error !== "object" || error === null) return {};
  const { code, responseCode, command, name } = error as Record<string, unknown>;
  return {
    ...(typeof code === "string" ? { code } : {}),
    ...(typeof responseCode === "number" ? { responseCode } : {}),
    ...(typeof command === "string" ? { command } : {}),
    ...(typeof name === "string" ? { name } : {}),
  };
}

const CONFIG_CODES: ReadonlySet<string> = new Set(["EAUTH", "ENOAUTH", "ECONFIG"]);
// RFC 4954 / 3207 replies that say our credentials or TLS set-up are wrong, whatever the
// command: retrying the message will not help, fixing the configuration will.
const CONFIG_REPLIES: ReadonlySet<number> = new Set([530, 534, 535, 538]);
// Reply codes to RCPT that mean this mailbox does not exist or will never take mail.
const HARD_BOUNCE_REPLIES: ReadonlySet<number> = new Set([550, 551, 553]);
// Deterministic failures without a reply: an envelope nodemailer refused to build, a
// message the server's SIZE limit excludes.
const PERMANENT_CODES: ReadonlySet<string> = new Set(["EENVELOPE", "EMESSAGE"]);

function classifyError(error: unknown): DeliveryError {
  if (isDeliveryError(error)) return error;
  const { code, responseCode, command, name } = smtpFields(error);
  const what = command ? `SMTP ${command}` : "SMTP";
  if ((code !== undefined && CONFIG_CODES.has(code)) || (responseCode !== undefined && CONFIG_REPLIES.has(responseCode))) {
    const configCode = code !== undefined && CONFIG_CODES.has(code) ? code : `smtp-${responseCode}`;
    const reply = responseCode !== undefined ? ` (${responseCode})` : "";
    return new ConfigError(configCode, `${what} failed: credentials or server settings rejected${reply}`, { cause: error });
  }
  // An abort is our own deadline (or the caller's), never the server's verdict. The server
  // may still have taken the message: the fixed Message-ID lets a retry be recognised.
  if (code === "EABORT" || name === "AbortError" || name === "TimeoutError") {
    return new TransientError("timeout", "SMTP send aborted before the server confirmed it", { cause: error });
  }
  // The reply code outranks nodemailer's own code: a RCPT refused with 451 arrives as
  // EENVELOPE, yet it is a deferral.
  if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
    return new TransientError(`smtp-${responseCode}`, `${what} deferred with ${responseCode}`, { cause: error });
  }
  // 503 is "bad sequence of commands": a session-state problem (RFC 5321 4.2.4), not a
  // refusal of this message, so a new connection may well succeed. nodemailer's own
  // err.permanent makes the same exception.
  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600 && responseCode !== 503) {
    const hardBounce = command === "RCPT TO" && HARD_BOUNCE_REPLIES.has(responseCode);
    return new PermanentError(`smtp-${responseCode}`, `${what} refused with ${responseCode}`, {
      cause: error,
      ...(hardBounce ? { suppress: "hard-bounce" as const } : {}),
    });
  }
  if (code !== undefined && PERMANENT_CODES.has(code) && responseCode === undefined) {
    return new PermanentError(code, `${what} refused the message before sending (${code})`, { cause: error });
  }
  // Connection trouble (ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, ECONNREFUSED, ECONNRESET, 503)
  // and anything unrecognised: retry, bounded by maxAttempts and the DLQ.
  const transientCode = responseCode !== undefined ? `smtp-${responseCode}` : (code ?? "unknown");
  return new TransientError(transientCode, `${what} failed (${transientCode})`, { cause: error });
}

// ---------------------------------------------------------------------------
// Building: the rules side. Pure and allocation-light, since it runs once per recipient.

/** Longest subject: RFC 5322's 998-character line, as the message schema says. */
const MAX_SUBJECT_LENGTH = 998;
/** Longest html or text body, as the message schema says. */
const MAX_BODY_LENGTH = 1_000_000;

const TEMPLATE_PARTS: readonly TemplatePart[] = Object.freeze([
  Object.freeze({ name: "subject", format: "text" } as const),
  Object.freeze({ name: "html", format: "html" } as const),
  Object.freeze({ name: "text", format: "text" } as const),
]);

function refuse(reason: string, detail: string): BuildMessageResult<EmailMessage> {
  return { ok: false, reason, detail };
}

function addressesOf(contacts: Contacts): readonly ChannelAddress<string>[] {
  const value = contacts?.email;
  // A string that is not an address still comes back: buildMessage refuses it as
  // `invalid-address`, which says more than "no e-mail contact".
  return typeof value === "string" ? [{ address: value, target: value }] : [];
}

function buildMessage(input: BuildMessageInput<string>): BuildMessageResult<EmailMessage> {
  const { meta, target, parts } = input;
  if (typeof target !== "string" || !isAddress(target)) {
    return refuse("invalid-address", "the recipient's e-mail is not one bare address (user@example.com)");
  }
  // Templates usually end in a newline; only a line break inside the subject is an error.
  const subject = typeof parts.subject === "string" ? parts.subject.trim() : "";
  if (subject === "") return refuse("invalid-subject", "the subject is empty");
  if (CONTROL_EXCEPT_TAB.test(subject)) return refuse("invalid-subject", "the subject has a line break or control character");
  if (subject.length > MAX_SUBJECT_LENGTH) {
    return refuse("invalid-subject", `the subject is ${subject.length} characters, more than ${MAX_SUBJECT_LENGTH}`);
  }
  const { html, text } = parts;
  if (typeof html !== "string") return refuse("missing-part", "no rendered `html` part");
  if (typeof text !== "string") return refuse("missing-part", "no rendered `text` part");
  if (html.length > MAX_BODY_LENGTH || text.length > MAX_BODY_LENGTH) {
    return refuse("content-too-large", `the html or text body is longer than ${MAX_BODY_LENGTH} characters`);
  }
  const unsubscribeUrl = meta.critical ? undefined : input.unsubscribeUrl;
  if (unsubscribeUrl === undefined) return { ok: true, message: { meta, to: target, subject, html, text } };
  // Refused rather than dropped: bulk-sender rules require the link on non-critical mail.
  // A plain http(s) URI has no whitespace, controls or brackets: safe in List-Unsubscribe.
  if (!isPlainHttpUri(unsubscribeUrl)) {
    return refuse("invalid-unsubscribe-url", "the unsubscribe link is not an absolute http(s) URL of plain URI characters");
  }
  return { ok: true, message: { meta, to: target, subject, html, text, unsubscribeUrl } };
}

const defaults: ChannelDefaults = {
  // Per deployment; a relay or ESP usually caps concurrent sessions per account around here.
  concurrency: 10,
  maxAttempts: 8,
  timeoutMs: 30_000,
  batchSize: 10,
};

/**
 * The SMTP e-mail channel.
 *
 * Classification (`classify`), first match wins:
 *
 * | failure | class | code |
 * |---|---|---|
 * | already a `DeliveryError` | unchanged | unchanged |
 * | EAUTH, ENOAUTH, ECONFIG; reply 530/534/535/538 | `ConfigError` | nodemailer code |
 * | EABORT / AbortError (deadline or caller abort) | `TransientError` | `timeout` |
 * | 4xx reply (any command) | `TransientError` | `smtp-4xx` |
 * | 5xx reply except 503 | `PermanentError`; 550/551/553 on RCPT suppress `hard-bounce` | `smtp-5xx` |
 * | EENVELOPE, EMESSAGE without a reply | `PermanentError` | nodemailer code |
 * | 503, ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, ECONNREFUSED, ECONNRESET, unknown | `TransientError` | error code or `unknown` |
 */
export const email: ChannelAdapter<EmailMessage, EmailConfig, string> = {
  name: "email",
  messageSchemaVersion: 1,
  defaults,
  /** `subject` (one line, trimmed), `html` (escaped output) and `text`. */
  templateParts: TEMPLATE_PARTS,
  carriesUnsubscribeLink: true,
  // The SMTP URL carries the relay password.
  secretConfigKeys: [EMAIL_CONFIG_KEYS.smtpUrl, EMAIL_CONFIG_KEYS.dkimPrivateKey],
  /** `contacts.email` when it is a string; the address is also the target. */
  addressesOf,
  /**
   * `{ meta, to, subject, html, text, unsubscribeUrl? }`; the unsubscribe link is left
   * off critical mail. Refusals: `invalid-address`, `invalid-subject` (empty after
   * trimming, a line break or control character, over 998 characters), `missing-part`,
   * `content-too-large`, `invalid-unsubscribe-url`.
   */
  buildMessage,

  readConfig(source: ConfigSource): EmailConfig {
    const smtp = readSmtp(source);
    const from = readFrom(source);
    const dkim = readDkim(source);
    const poolSize = readPoolSize(source);
    return dkim ? { smtp, from, dkim, poolSize } : { smtp, from, poolSize };
  },

  createSender(config: EmailConfig, deps: { logger: Logger }): ChannelSender<EmailMessage> {
    const { createTransport } = loadNodemailer();
    const transport = createTransport({
      pool: true,
      maxConnections: config.poolSize,
      host: config.smtp.host,
      port: config.smtp.port,
      secure: config.smtp.secure,
      ...(config.smtp.auth ? { auth: { user: config.smtp.auth.user, pass: config.smtp.auth.pass } } : {}),
      // Connecting and the greeting share one budget (nodemailer counts the greeting
      // against connectionTimeout), leaving most of the send's time for the transaction.
      connectionTimeout: Math.round(defaults.timeoutMs / 3),
      greetingTimeout: Math.round(defaults.timeoutMs / 3),
      socketTimeout: defaults.timeoutMs,
      // Message content comes from templates; it must never make us read files or fetch URLs.
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
      ...(config.dkim ? { dkim: { ...config.dkim } } : {}),
    });
    const fromDomain = domainOf(config.from.address);

    return {
      async send(message: EmailMessage, signal?: AbortSignal): Promise<SendResult> {
        checkMessage(message);
        const key = message.meta.idempotencyKey;
        const listHeaders = !message.meta.critical && message.unsubscribeUrl !== undefined;
        const mail: SendMailOptions = {
          from: config.from.name ? { name: config.from.name, address: config.from.address } : config.from.address,
          to: message.to,
          // Pin the envelope too, so nothing nodemailer derives from headers can add a recipient.
          envelope: { from: config.from.address, to: [message.to] },
          subject: message.subject,
          html: message.html,
          text: message.text,
          // Same key, same Message-ID: a resend after a lost reply is recognisable downstream.
          messageId: `<${key}@${fromDomain}>`,
          headers: {
            "X-Herald-Idempotency-Key": key,
            ...(listHeaders ? { "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" } : {}),
          },
          ...(listHeaders ? { list: { unsubscribe: message.unsubscribeUrl! } } : {}),
          // Our own deadline as well as the caller's: the queue lease is sized from timeoutMs.
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(defaults.timeoutMs)]) : AbortSignal.timeout(defaults.timeoutMs),
        };
        try {
          const info = await transport.sendMail(mail);
          const providerMessageId = info.serverMessageId ?? info.response;
          deps.logger.debug({ channel: "email", idempotencyKey: key, providerMessageId }, "smtp accepted message");
          return providerMessageId ? { providerMessageId } : {};
        } catch (error) {
          throw classifyError(error);
        }
      },

      async close(): Promise<void> {
        transport.close();
      },
    };
  },

  classify: classifyError,

  addressOf(message: EmailMessage): string {
    return message.to;
  },
};
