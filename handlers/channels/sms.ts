/**
 * SMS channel: Twilio Programmable Messaging (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
 *
 * Before anything is sent the module refuses what would fail or cost money for nothing:
 * a recipient that is not a possible E.164 number, a country outside the allowlist,
 * premium-rate and shared-cost numbers, and texts longer than the segment limit.
 *
 * twilio and libphonenumber-js are loaded on first use by `readConfig` / `createSender`,
 * never at the top: the rules function imports this module to build messages, and
 * building needs neither (see `loadTwilio` and `loadPhoneNumbers`).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as http from "node:http";
// Types only: the modules themselves are required in loadTwilio / loadPhoneNumbers.
import type BaseTwilio from "twilio/lib/base/BaseTwilio";
import type RequestClient from "twilio/lib/base/RequestClient";
import type V2010 from "twilio/lib/rest/api/V2010";
import type { MessageListInstanceCreateOptions } from "twilio/lib/rest/api/v2010/account/message";
import { ConfigError, PermanentError, TransientError, isDeliveryError, type DeliveryError } from "../core/errors";
import type {
  BuildMessageInput,
  BuildMessageResult,
  ChannelAdapter,
  ChannelAddress,
  ChannelMessage,
  ConfigSource,
  TemplatePart,
} from "../core/ports";
import type { Contacts } from "../core/recipients";
import { countSegments, type SmsEncoding } from "../core/sms-segments";

/** An SMS for one recipient, as `schemas/messages/sms/v1.schema.json` describes it. */
export interface SmsMessage extends ChannelMessage {
  /** E.164 recipient number. */
  readonly to: string;
  /** Rendered text, 1..1600 characters. */
  readonly body: string;
  /** The segment count as rendered (the channel counts again before sending). */
  readonly segments: {
    readonly encoding: SmsEncoding;
    readonly count: number;
  };
}

/** Who the message is sent from: a Twilio number, or a Messaging Service that picks one. */
export type SmsSender = { readonly from: string } | { readonly messagingServiceSid: string };

/** Settings read from `TWILIO_*` and `HERALD_SMS_*`; holds the auth token, so never log it. */
export interface SmsConfig {
  readonly accountSid: string;
  readonly authToken: string;
  readonly sender: SmsSender;
  /** Origin (and optional path) every Twilio API request goes to instead of https://api.twilio.com. */
  readonly apiBase?: string;
  /** ISO 3166 alpha-2 codes recipients may be in; absent means every country. */
  readonly allowedCountries?: readonly string[];
  /** https URL Twilio posts delivery status to. */
  readonly statusCallback?: string;
  /** Longest text accepted, in segments. */
  readonly maxSegments: number;
  /** Longest one request to Twilio may take. */
  readonly timeoutMs: number;
}

const TWILIO_API_ORIGIN = "https://api.twilio.com";
const E164 = /^\+[1-9][0-9]{6,14}$/;
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
const COUNTRY = /^[A-Z]{2}$/;
const DEFAULT_MAX_SEGMENTS = 4;
/** The message schema caps a message at 10 segments; a larger limit could never apply. */
const MAX_SEGMENTS_CEILING = 10;

/** Twilio error codes, by what they mean for us (https://www.twilio.com/docs/api/errors). */
const TWILIO_CODES = {
  /** 21211 invalid To, 21614 not a mobile number, 21635 landline. */
  badRecipient: new Set([21211, 21614, 21635]),
  /** 21610: the recipient replied STOP. */
  optedOut: 21610,
  /** 20003 authentication, 21606 From cannot send here, 21608 trial account, unverified To. */
  ourConfig: new Set([20003, 21606, 21608]),
  tooManyRequests: 20429,
} as const;

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);

const TEMPLATE_PARTS: readonly TemplatePart[] = Object.freeze([Object.freeze({ name: "body", format: "text" } as const)]);

export const sms: ChannelAdapter<SmsMessage, SmsConfig, string> = {
  name: "sms",
  messageSchemaVersion: 1,
  defaults: { concurrency: 5, maxAttempts: 8, timeoutMs: 15_000, batchSize: 10 },
  secretConfigKeys: ["TWILIO_AUTH_TOKEN"],
  /** `body`, plain text. */
  templateParts: TEMPLATE_PARTS,

  /** `contacts.phone` when it is a string; the number is also the target. */
  addressesOf(contacts: Contacts): readonly ChannelAddress<string>[] {
    const phone = contacts?.phone;
    // A string that is not E.164 still comes back: buildMessage refuses it as
    // `invalid-address`, which says more than "no phone number".
    return typeof phone === "string" ? [{ address: phone, target: phone }] : [];
  },

  /**
   * `{ meta, to, body, segments: { encoding, count } }`, the body trimmed. Option
   * `maxSegments` (1 to 10, default 4). Refusals: `invalid-address` (not E.164),
   * `empty-body`, `too-many-segments`, `invalid-options`. The sender's own limit
   * (HERALD_SMS_MAX_SEGMENTS) still applies at send time.
   */
  buildMessage(input: BuildMessageInput<string>): BuildMessageResult<SmsMessage> {
    const { meta, target, parts, options } = input;
    if (typeof target !== "string" || !E164.test(target)) {
      return { ok: false, reason: "invalid-address", detail: "the recipient's phone number is not E.164 (+15551234567)" };
    }
    const body = typeof parts.body === "string" ? parts.body.trim() : "";
    if (body === "") return { ok: false, reason: "empty-body", detail: "the SMS body is blank" };
    const max = options.maxSegments ?? DEFAULT_MAX_SEGMENTS;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > MAX_SEGMENTS_CEILING) {
      return { ok: false, reason: "invalid-options", detail: `maxSegments must be an integer from 1 to ${MAX_SEGMENTS_CEILING}` };
    }
    const { encoding, count } = countSegments(body);
    if (count > max) {
      return {
        ok: false,
        reason: "too-many-segments",
        detail: `the SMS body is ${count} ${encoding} segments, more than the ${max} allowed`,
      };
    }
    return { ok: true, message: { meta, to: target, body, segments: { encoding, count } } };
  },

  readConfig(source: ConfigSource): SmsConfig {
    const accountSid = required(source, "TWILIO_ACCOUNT_SID");
    if (!ACCOUNT_SID.test(accountSid)) invalid("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits");
    const authToken = required(source, "TWILIO_AUTH_TOKEN");
    if (/[\s\u0000-\u001f]/.test(authToken)) invalid("TWILIO_AUTH_TOKEN", "must not contain spaces or control characters");

    const fromValue = required(source, "HERALD_SMS_FROM");
    let sender: SmsSender;
    if (E164.test(fromValue)) sender = { from: fromValue };
    else if (MESSAGING_SERVICE_SID.test(fromValue)) sender = { messagingServiceSid: fromValue };
    else invalid("HERALD_SMS_FROM", "must be an E.164 number (+15551234567) or a Messaging Service SID (MG + 32 hex digits)");

    const apiBase = optional(source, "HERALD_TWILIO_API_BASE");
    if (apiBase !== undefined) checkApiBase(apiBase);

    const countries = optional(source, "HERALD_SMS_ALLOWED_COUNTRIES");
    let allowedCountries: string[] | undefined;
    if (countries !== undefined) {
      allowedCountries = countries.split(",").map((c) => c.trim().toUpperCase());
      const { isSupportedCountry } = loadPhoneNumbers();
      for (const country of allowedCountries) {
        if (!COUNTRY.test(country) || !isSupportedCountry(country)) {
          invalid("HERALD_SMS_ALLOWED_COUNTRIES", "must be comma-separated ISO 3166 alpha-2 country codes (US,GB,DE)");
        }
      }
    }

    const statusCallback = optional(source, "HERALD_SMS_STATUS_CALLBACK");
    if (statusCallback !== undefined && parseUrl(statusCallback)?.protocol !== "https:") {
      invalid("HERALD_SMS_STATUS_CALLBACK", "must be an https URL");
    }

    const maxSegmentsValue = optional(source, "HERALD_SMS_MAX_SEGMENTS");
    const maxSegments = maxSegmentsValue === undefined ? DEFAULT_MAX_SEGMENTS : Number(maxSegmentsValue);
    if (!Number.isInteger(maxSegments) || maxSegments < 1 || maxSegments > MAX_SEGMENTS_CEILING) {
      invalid("HERALD_SMS_MAX_SEGMENTS", `must be an integer from 1 to ${MAX_SEGMENTS_CEILING}`);
    }

    return {
      accountSid,
      authToken,
      sender,
      ...(apiBase !== undefined && { apiBase: apiBase.replace(/\/+$/, "") }),
      ...(allowedCountries !== undefined && { allowedCountries }),
      ...(statusCallback !== undefined && { statusCallback }),
      maxSegments,
      timeoutMs: sms.defaults.timeoutMs,
    };
  },

  createSender(config, { logger }) {
    const { BaseTwilio, Domain, Version, MessageListInstance, SmsHttpClient } = loadTwilio();
    const phoneNumbers = loadPhoneNumbers();
    const httpClient = new SmsHttpClient(config.timeoutMs, config.apiBase);
    const client = new BaseTwilio.Client(config.accountSid, config.authToken, {
      accountSid: config.accountSid,
      httpClient,
      // Empty, not undefined: the client would otherwise read TWILIO_EDGE / TWILIO_REGION /
      // TWILIO_LOG_LEVEL from process.env and change hosts behind readConfig's back.
      edge: "",
      region: "",
      logLevel: "",
      env: {},
      // Retries are the queue's job (backoff with jitter, Retry-After, DLQ); a second
      // layer here would multiply attempts and hide 429s from classify.
      autoRetry: false,
    });
    const version = new Version(new Domain(client, TWILIO_API_ORIGIN), "2010-04-01");
    // Only Version's own methods are used by the Message resource; V2010 merely adds
    // account getters, which would pull every other resource into the bundle.
    const messages = MessageListInstance(version as V2010, config.accountSid);

    return {
      async send(message, signal) {
        const recipient = checkRecipient(message.to, config, phoneNumbers);
        const segments = countSegments(message.body);
        if (segments.count > config.maxSegments) {
          throw new PermanentError(
            "too-many-segments",
            `SMS body is ${segments.count} ${segments.encoding} segments, more than the ${config.maxSegments} allowed`,
          );
        }
        if (signal?.aborted) throw new TransientError("aborted", "SMS send aborted before it started", { cause: signal.reason });

        const timeout = AbortSignal.timeout(config.timeoutMs);
        const call: CallContext = { signal: signal ? AbortSignal.any([signal, timeout]) : timeout };
        const params: MessageListInstanceCreateOptions = {
          to: message.to,
          body: message.body,
          ...config.sender,
          ...(config.statusCallback !== undefined && { statusCallback: config.statusCallback }),
        };
        try {
          const created = await calls.run(call, () => messages.create(params));
          logger.debug(
            { sid: created.sid, country: recipient.country, encoding: segments.encoding, segments: segments.count },
            "sms accepted by twilio",
          );
          return { providerMessageId: created.sid };
        } catch (error) {
          if (signal?.aborted) throw new TransientError("aborted", "SMS send aborted", { cause: sanitize(error) });
          if (timeout.aborted) {
            throw new TransientError("ETIMEDOUT", `Twilio did not answer within ${config.timeoutMs} ms`, { cause: sanitize(error) });
          }
          throw classifyFailure(error, call.response?.headers);
        }
      },
      async close() {
        httpClient.close();
      },
    };
  },

  classify(error: unknown): DeliveryError {
    return classifyFailure(error, undefined);
  },

  addressOf(message: SmsMessage): string {
    return message.to;
  },
};

// ---------------------------------------------------------------------------------------
// Recipient checks

function checkRecipient(to: string, config: SmsConfig, phoneNumbers: PhoneNumbers): { country: string | undefined } {
  const phone = E164.test(to) ? phoneNumbers.parsePhoneNumberFromString(to) : undefined;
  // Only a number that cannot exist is suppressed here. A possible number our metadata
  // calls invalid (a range opened since this release) goes on to Twilio, whose 21211
  // is the authority on it.
  if (!phone || !phone.isPossible()) {
    throw new PermanentError("invalid-address", "SMS recipient is not a possible E.164 number", { suppress: "invalid-address" });
  }
  const country = phone.isValid() ? phone.country : undefined;
  if (config.allowedCountries && (country === undefined || !config.allowedCountries.includes(country))) {
    throw new PermanentError(
      "country-not-allowed",
      `SMS recipient country ${country ?? "(unknown)"} is not in HERALD_SMS_ALLOWED_COUNTRIES`,
    );
  }
  const type = phone.getType();
  if (type === "PREMIUM_RATE" || type === "SHARED_COST") {
    throw new PermanentError("premium-rate-refused", `SMS recipient is a ${type.toLowerCase().replace("_", "-")} number`);
  }
  return { country };
}

// ---------------------------------------------------------------------------------------
// Delivery SDKs, loaded on first use

// libphonenumber-js metadata: `min` (0.21 MB) and `mobile` cannot tell a premium-rate
// or shared-cost number from any other, so getType() returns undefined there; `max`
// (0.28 MB) carries the per-type patterns that getType() needs.
type PhoneNumbers = typeof import("libphonenumber-js/max");

/** libphonenumber-js with full metadata; only readConfig (allowlist) and sending need it. */
function loadPhoneNumbers(): PhoneNumbers {
  // Literal requires throughout: esbuild still bundles them into the SMS function, and
  // the rules bundle marks them external.
  return require("libphonenumber-js/max") as PhoneNumbers;
}

/** The pieces of twilio the sender is assembled from, plus our client class built on them. */
interface TwilioParts {
  readonly BaseTwilio: typeof BaseTwilio;
  readonly Domain: typeof import("twilio/lib/base/Domain").default;
  readonly Version: typeof import("twilio/lib/base/Version").default;
  readonly MessageListInstance: typeof import("twilio/lib/rest/api/v2010/account/message").MessageListInstance;
  readonly SmsHttpClient: SmsHttpClientClass;
}

let twilioParts: TwilioParts | undefined;

/**
 * Twilio import path. `import twilio from "twilio"` bundles to 3.7 MB, and so does the
 * `Twilio` REST client class (`twilio/lib/rest/Twilio`, 3.6 MB): its lazy getters are
 * `require("./Chat")`-style literals that a bundler follows into every product domain.
 * `twilio/lib/rest/Api` still drags in every v2010 account resource (0.94 MB). The
 * smallest path that still gives the real `messages.create` is the base client, one
 * Domain/Version pair and the Message resource itself: about 0.44 MB minified, most of
 * it axios. Everything here is twilio's own code, only assembled by hand. Memoised
 * because the client class is defined once per process, not per sender.
 */
function loadTwilio(): TwilioParts {
  if (twilioParts) return twilioParts;
  // BaseTwilio and RequestClient are `module.exports =` modules; Domain, Version and the
  // Message resource are compiled ES modules with named / default exports.
  const requestClient = require("twilio/lib/base/RequestClient") as typeof RequestClient;
  twilioParts = {
    BaseTwilio: require("twilio/lib/base/BaseTwilio") as typeof BaseTwilio,
    Domain: (require("twilio/lib/base/Domain") as typeof import("twilio/lib/base/Domain")).default,
    Version: (require("twilio/lib/base/Version") as typeof import("twilio/lib/base/Version")).default,
    MessageListInstance: (require("twilio/lib/rest/api/v2010/account/message") as typeof import("twilio/lib/rest/api/v2010/account/message"))
      .MessageListInstance,
    SmsHttpClient: defineSmsHttpClient(requestClient),
  };
  return twilioParts;
}

// ---------------------------------------------------------------------------------------
// HTTP: twilio's own RequestClient, pointed at the configured base, with abort and headers

/** What one send shares with the HTTP client underneath twilio's resource code. */
interface CallContext {
  readonly signal: AbortSignal;
  response?: { readonly status: number; readonly headers: unknown };
}

// twilio's resource methods take no signal and its RestException drops response headers;
// the send's context rides along in AsyncLocalStorage instead of through their APIs.
const calls = new AsyncLocalStorage<CallContext>();

/** twilio's RequestClient with our base URL, abort signal and response headers, and a close(). */
interface SmsHttpClient extends RequestClient {
  close(): void;
}

type SmsHttpClientClass = new (timeoutMs: number, apiBase: string | undefined) => SmsHttpClient;

// The class extends twilio's RequestClient, which is only loaded with the sender, so it
// is defined by a function rather than at the top of the module.
function defineSmsHttpClient(Base: typeof RequestClient): SmsHttpClientClass {
  return class SmsHttpClient extends Base {
    private readonly httpAgent: http.Agent;
    private readonly base: string | undefined;

    constructor(timeoutMs: number, apiBase: string | undefined) {
      super({ timeout: timeoutMs, keepAlive: true, autoRetry: false });
      this.base = apiBase?.replace(/\/+$/, "");
      // RequestClient only builds an https agent; own the http one too so close() can end it.
      this.httpAgent = new http.Agent({ keepAlive: true, timeout: timeoutMs });
      this.axios.defaults.httpAgent = this.httpAgent;
      this.axios.interceptors.request.use((request) => {
        const call = calls.getStore();
        if (call) request.signal = call.signal;
        return request;
      });
    }

    override async request<TData>(opts: RequestClient.RequestOptions<TData>) {
      const response = await super.request({ ...opts, uri: this.rewrite(opts.uri) });
      const call = calls.getStore();
      if (call) call.response = { status: response.statusCode, headers: response.headers };
      return response;
    }

    /** Every request, whatever twilio.com host it was built for, goes to the configured base. */
    private rewrite(uri: string): string {
      if (this.base === undefined) return uri;
      const url = new URL(uri);
      return `${this.base}${url.pathname}${url.search}`;
    }

    close(): void {
      this.httpAgent.destroy();
      const httpsAgent: unknown = this.axios.defaults.httpsAgent;
      if (httpsAgent instanceof http.Agent) httpsAgent.destroy();
    }
  };
}

// ---------------------------------------------------------------------------------------
// Classification

/** What twilio's RestException (legacy body) and TwilioServiceException (RFC 9457) share. */
interface TwilioFailure {
  readonly status: number;
  readonly code?: number;
  readonly moreInfo?: string;
}

function asTwilioFailure(error: unknown): TwilioFailure | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { status, code, moreInfo } = error as Record<string, unknown>;
  if (typeof status !== "number" || !Number.isInteger(status)) return undefined;
  return {
    status,
    // TwilioServiceException reports a missing code as 0.
    ...(typeof code === "number" && code > 0 && { code }),
    ...(typeof moreInfo === "string" && { moreInfo }),
  };
}

function classifyFailure(error: unknown, headers: unknown): DeliveryError {
  if (isDeliveryError(error)) return error;

  const failure = asTwilioFailure(error);
  if (failure) return classifyTwilio(failure, error, retryAfterMs(headers ?? headersOf(error)));

  const networkCode = codeOf(error);
  if (networkCode === "ERR_CANCELED") return new TransientError("aborted", "SMS request aborted", { cause: sanitize(error) });
  if (networkCode !== undefined && NETWORK_CODES.has(networkCode)) {
    // axios reports its own timeout as ECONNABORTED; to the retry policy it is a timeout.
    const code = networkCode === "ECONNABORTED" ? "ETIMEDOUT" : networkCode;
    return new TransientError(code, `SMS request failed: ${code}`, { cause: sanitize(error) });
  }
  return new TransientError("unknown", "SMS request failed for an unrecognised reason", { cause: sanitize(error) });
}

function classifyTwilio(failure: TwilioFailure, cause: unknown, retryAfter: number | undefined): DeliveryError {
  const { status, code } = failure;
  const label = code === undefined ? `http-${status}` : `twilio-${code}`;
  const what = `Twilio answered HTTP ${status}${code === undefined ? "" : ` with error ${code}`}${failure.moreInfo ? ` (${failure.moreInfo})` : ""}`;

  if (code !== undefined && TWILIO_CODES.badRecipient.has(code)) {
    return new PermanentError(label, what, { cause, suppress: "invalid-address" });
  }
  if (code === TWILIO_CODES.optedOut) return new PermanentError(label, what, { cause, suppress: "opt-out" });
  if (code !== undefined && TWILIO_CODES.ourConfig.has(code)) return new ConfigError(label, what, { cause });
  if (status === 429 || code === TWILIO_CODES.tooManyRequests || status >= 500 || status === 408) {
    return new TransientError(label, what, { cause, ...(retryAfter !== undefined && { retryAfterMs: retryAfter }) });
  }
  // 401 without a code we know is still "these credentials are wrong": an operator must
  // act, and dropping every message as permanent meanwhile would lose them.
  if (status === 401) return new ConfigError(label, what, { cause });
  if (status >= 400) return new PermanentError(label, what, { cause });
  return new TransientError(label, what, { cause });
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now. */
function retryAfterMs(headers: unknown): number | undefined {
  if (typeof headers !== "object" || headers === null) return undefined;
  const source = headers as { get?: (name: string) => unknown } & Record<string, unknown>;
  const value = typeof source.get === "function" ? source.get("retry-after") : (source["retry-after"] ?? source["Retry-After"]);
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function headersOf(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  const { headers, response } = error as { headers?: unknown; response?: { headers?: unknown } };
  return headers ?? response?.headers;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  if (typeof code === "string") return code;
  return cause === error ? undefined : codeOf(cause);
}

/**
 * axios errors carry the request config, whose Authorization header is the account SID
 * and auth token in base64; a logger that walks `cause` would print it. Keep only what
 * classification used.
 */
function sanitize(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return error;
  const { isAxiosError, config, request } = error as { isAxiosError?: unknown; config?: unknown; request?: unknown };
  if (isAxiosError !== true && config === undefined && request === undefined) return error;
  const { message, name } = error as { message?: unknown; name?: unknown };
  const plain = new Error(typeof message === "string" ? message : "request failed");
  plain.name = typeof name === "string" ? name : "Error";
  const code = codeOf(error);
  return code === undefined ? plain : Object.assign(plain, { code });
}

// ---------------------------------------------------------------------------------------
// Config helpers: messages name the key and never echo a value (a token pasted into the
// wrong variable must not end up in a log).

function optional(source: ConfigSource, key: string): string | undefined {
  const value = source[key]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function required(source: ConfigSource, key: string): string {
  const value = optional(source, key);
  if (value === undefined) throw new ConfigError("config-missing", `${key} is not set`);
  return value;
}

function invalid(key: string, rule: string): never {
  throw new ConfigError("config-invalid", `${key} ${rule}`);
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function checkApiBase(value: string): void {
  const url = parseUrl(value);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search || url.hash) {
    invalid("HERALD_TWILIO_API_BASE", "must be an http(s) URL without credentials, query or fragment (http://127.0.0.1:4010)");
  }
}
