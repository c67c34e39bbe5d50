/**
 * Web push channel: one encrypted (aes128gcm), VAPID-signed POST per subscription.
 *
 * web-push builds the request (`generateRequestDetails`); we send it ourselves because
 * its `sendNotification` insists on https and resolves DNS on its own, which would let
 * a subscription endpoint point at private addresses. Our client connects only to the
 * address `resolveSafeTarget` checked, and follows redirects by hand through the same
 * guard.
 *
 * web-push is loaded inside `createSender`, never at the top: the rules function imports
 * this module to build messages and must not carry (or load) the delivery SDK.
 */
import * as http from "node:http";
import * as https from "node:https";
import { createECDH } from "node:crypto";
import type { LookupAddress as DnsLookupAddress } from "node:dns";
import {
  ConfigError,
  PermanentError,
  TransientError,
  isDeliveryError,
  type DeliveryError,
} from "../core/errors";
import type {
  BuildMessageInput,
  BuildMessageResult,
  ChannelAdapter,
  ChannelAddress,
  ChannelMessage,
  ChannelSender,
  ConfigSource,
  Logger,
  SendResult,
  TemplatePart,
} from "../core/ports";
import { PUSH_MAX_PAYLOAD_BYTES } from "../core/push-limits";
import { isPlainHttpUri } from "../core/http-uri";
import type { Contacts, PushSubscriptionJson } from "../core/recipients";
import { maskUrl, normalizeAllowEntry, resolveSafeTarget, type LookupFn, type SafeTarget } from "./push-address-guard";

// ---------------------------------------------------------------------------
// Message and config types (mirror schemas/messages/push/v1.schema.json by hand)

export type PushUrgency = "very-low" | "low" | "normal" | "high";

/**
 * A browser's PushSubscription as `subscription.toJSON()` gives it. The endpoint's path
 * is a capability token, so never log it unmasked.
 */
export type { PushSubscriptionJson };

/** What the service worker receives, JSON-encoded and encrypted. */
export interface PushPayload {
  readonly title: string;
  readonly body: string;
  readonly url?: string;
  readonly icon?: string;
  readonly tag?: string;
}

/** `schemas/messages/push/v1.schema.json`. */
export interface PushMessage extends ChannelMessage {
  readonly subscription: PushSubscriptionJson;
  readonly payload: PushPayload;
  /** How long the push service keeps an undelivered message (the TTL header). */
  readonly ttlSeconds: number;
  readonly urgency: PushUrgency;
  /** Replaces an undelivered push with the same topic. */
  readonly topic?: string;
}

/**
 * VAPID identity. `readConfig` makes `privateKey` non-enumerable so logging or
 * serialising the config never shows it; as a consequence `{ ...vapid }` drops it.
 */
export interface VapidDetails {
  readonly subject: string;
  readonly publicKey: string;
  readonly privateKey: string;
}

export interface PushConfig {
  readonly vapid: VapidDetails;
  /** `host` or `host:port` keys that may be loopback/private and use http (local testing only). */
  readonly allowHosts: ReadonlySet<string>;
  /** Budget for one send, redirects included. */
  readonly timeoutMs: number;
  /** DNS resolver for endpoint hosts; defaults to `dns.lookup` (injected by tests). */
  readonly lookup?: LookupFn;
}

// ---------------------------------------------------------------------------
// Limits

// The payload limit is core's PUSH_MAX_PAYLOAD_BYTES: rules refuse an oversized payload
// when they build it, and the sender checks again, without rules importing this module's
// delivery code.
/** Redirects followed per send; push services do not normally redirect at all. */
export const MAX_REDIRECTS = 3;
/** Bytes of an error response kept for diagnostics. */
const MAX_ERROR_BODY_BYTES = 2048;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

// ---------------------------------------------------------------------------
// Errors raised by the client before classification

/** A push service answered with a status we do not treat as success. */
export class PushHttpError extends Error {
  readonly statusCode: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Start of the response body, for diagnostics only (never branched on). */
  readonly body: string;
  /** The endpoint with its path masked. */
  readonly endpoint: string;
  constructor(statusCode: number, headers: http.IncomingHttpHeaders, body: string, endpoint: string) {
    super(`push service at ${endpoint} answered ${statusCode}`);
    this.name = "PushHttpError";
    this.statusCode = statusCode;
    this.headers = headers;
    this.body = body;
    this.endpoint = endpoint;
  }
}

/** The send budget (`timeoutMs`) ran out. */
export class PushTimeoutError extends Error {
  constructor(endpoint: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(`push to ${endpoint} timed out after ${timeoutMs} ms`, options);
    this.name = "PushTimeoutError";
  }
}

/**
 * Parses Retry-After: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
 * Returns milliseconds from `now`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== "string") return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // All three HTTP-date forms start with a day name; Date.parse alone also accepts "-5".
  if (!/^(mon|tue|wed|thu|fri|sat|sun)/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

// ---------------------------------------------------------------------------
// Classification

function fromStatus(error: PushHttpError): DeliveryError {
  const status = error.statusCode;
  const what = `push service at ${error.endpoint} answered ${status}`;
  const retryAfterMs = parseRetryAfter(error.headers["retry-after"]);
  if (status === 404 || status === 410) {
    return new PermanentError("push-subscription-gone", `${what}: subscription expired or unsubscribed`, {
      cause: error,
      suppress: "subscription-gone",
    });
  }
  if (status === 400) return new PermanentError("push-bad-request", `${what}: request rejected`, { cause: error });
  if (status === 413) return new PermanentError("push-payload-too-large", `${what}: payload too large`, { cause: error });
  if (status === 401 || status === 403) {
    return new ConfigError("push-vapid-rejected", `${what}: VAPID credentials rejected`, { cause: error });
  }
  if (status === 429) return new TransientError("push-throttled", `${what}: throttled`, { cause: error, retryAfterMs });
  if (status === 408 || status >= 500) return new TransientError("push-service-error", what, { cause: error, retryAfterMs });
  if (status >= 400) return new PermanentError("push-rejected", what, { cause: error });
  return new PermanentError("push-unexpected-status", what, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Maps any failure of a push send into a delivery error class (see DESIGN.md, "Errors, per channel"). */
export function classifyPushError(error: unknown): DeliveryError {
  if (isDeliveryError(error)) return error;
  if (error instanceof PushHttpError) return fromStatus(error);
  if (error instanceof PushTimeoutError) return new TransientError("push-timeout", error.message, { cause: error });
  if (error instanceof Error && error.name === "AbortError") {
    return new TransientError("push-aborted", "push send was aborted", { cause: error });
  }
  const code = errorCode(error);
  if (code !== undefined) {
    // Socket and DNS failures (ECONNRESET, ECONNREFUSED, ETIMEDOUT, EAI_AGAIN, TLS errors).
    return new TransientError("push-network", `push connection failed (${code})`, { cause: error });
  }
  return new TransientError("push-unexpected", "push send failed unexpectedly", { cause: error });
}

// ---------------------------------------------------------------------------
// Config

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function required(source: ConfigSource, key: string): string {
  const value = source[key]?.trim();
  if (value === undefined || value === "") throw new ConfigError("config-missing", `${key} is not set`);
  return value;
}

function readVapid(source: ConfigSource): VapidDetails {
  const publicKey = required(source, "HERALD_VAPID_PUBLIC_KEY");
  const privateKey = required(source, "HERALD_VAPID_PRIVATE_KEY");
  const subject = required(source, "HERALD_VAPID_SUBJECT");

  const publicBytes = BASE64URL.test(publicKey) ? Buffer.from(publicKey, "base64url") : Buffer.alloc(0);
  if (publicBytes.length !== 65 || publicBytes[0] !== 0x04) {
    throw new ConfigError(
      "config-invalid",
      "HERALD_VAPID_PUBLIC_KEY must be an uncompressed P-256 public key (65 bytes), base64url without padding",
    );
  }
  const privateBytes = BASE64URL.test(privateKey) ? Buffer.from(privateKey, "base64url") : Buffer.alloc(0);
  if (privateBytes.length !== 32) {
    throw new ConfigError("config-invalid", "HERALD_VAPID_PRIVATE_KEY must be a P-256 private key (32 bytes), base64url without padding");
  }
  let derived: Buffer;
  try {
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(privateBytes);
    derived = ecdh.getPublicKey();
  } catch {
    throw new ConfigError("config-invalid", "HERALD_VAPID_PRIVATE_KEY is not a valid P-256 private key");
  }
  // A mismatched pair signs JWTs the push service rejects on every send; catch it at start.
  if (!derived.equals(publicBytes)) {
    throw new ConfigError("config-invalid", "HERALD_VAPID_PRIVATE_KEY does not belong to HERALD_VAPID_PUBLIC_KEY");
  }

  let subjectUrl: URL | undefined;
  try {
    subjectUrl = new URL(subject);
  } catch {
    subjectUrl = undefined;
  }
  const validSubject =
    subjectUrl !== undefined &&
    ((subjectUrl.protocol === "mailto:" && subjectUrl.pathname.includes("@")) ||
      // Apple's push service rejects a localhost subject (BadJwtToken), and web-push warns on every send.
      (subjectUrl.protocol === "https:" && subjectUrl.hostname !== "" && subjectUrl.hostname !== "localhost"));
  if (!validSubject) {
    throw new ConfigError("config-invalid", "HERALD_VAPID_SUBJECT must be a mailto: address or an https: URL (not localhost)");
  }

  const vapid = { subject, publicKey } as VapidDetails;
  Object.defineProperty(vapid, "privateKey", { value: privateKey, enumerable: false });
  return Object.freeze(vapid);
}

function readAllowHosts(source: ConfigSource): ReadonlySet<string> {
  const raw = source["HERALD_PUSH_ALLOW_HOSTS"]?.trim();
  const hosts = new Set<string>();
  if (raw === undefined || raw === "") return hosts;
  for (const entry of raw.split(",")) {
    if (entry.trim() === "") continue;
    const normalized = normalizeAllowEntry(entry);
    if (normalized === undefined) {
      throw new ConfigError("config-invalid", `HERALD_PUSH_ALLOW_HOSTS has a malformed entry "${entry.trim()}" (want host or host:port)`);
    }
    hosts.add(normalized);
  }
  return hosts;
}

// ---------------------------------------------------------------------------
// Sending

interface PushResponse {
  readonly statusCode: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface RequestDetails {
  readonly headers: Record<string, string | number>;
  readonly body: Buffer | null;
}

function checkSubscriptionKeys(subscription: PushSubscriptionJson): void {
  const { p256dh, auth } = subscription.keys ?? { p256dh: "", auth: "" };
  const key = typeof p256dh === "string" && BASE64URL.test(p256dh.replace(/=+$/, "")) ? Buffer.from(p256dh, "base64url") : Buffer.alloc(0);
  const secret = typeof auth === "string" && BASE64URL.test(auth.replace(/=+$/, "")) ? Buffer.from(auth, "base64url") : Buffer.alloc(0);
  if (key.length !== 65 || key[0] !== 0x04 || secret.length < 16) {
    throw new PermanentError("push-invalid-subscription", "push subscription keys are malformed (p256dh must be 65 bytes, auth at least 16)", {
      suppress: "invalid-address",
    });
  }
}

type WebPush = typeof import("web-push");

/** web-push, loaded on first use (see the module comment). */
function loadWebPush(): WebPush {
  // A literal require: esbuild still bundles it into the push function, and the rules
  // bundle marks it external.
  return require("web-push") as WebPush;
}

function buildRequest(webpush: WebPush, message: PushMessage, endpoint: URL, json: string, authorize: VapidAuthorizer): RequestDetails {
  try {
    const details = webpush.generateRequestDetails(
      { endpoint: endpoint.href, keys: message.subscription.keys },
      json,
      {
        // No vapidDetails: web-push would sign a new JWT per message; ours is reused.
        headers: { Authorization: authorize(endpoint.origin) },
        TTL: message.ttlSeconds,
        urgency: message.urgency,
        ...(message.topic !== undefined ? { topic: message.topic } : {}),
        contentEncoding: "aes128gcm",
      },
    );
    return { headers: details.headers as Record<string, string | number>, body: (details.body as Buffer | null) ?? null };
  } catch (error) {
    throw new PermanentError("push-invalid-message", "web push request could not be built from this message", { cause: error });
  }
}

/** The VAPID `Authorization` header for a push service origin (the JWT's audience). */
type VapidAuthorizer = (origin: string) => string;

/** Lifetime of the VAPID JWTs we sign; RFC 8292 allows up to 24 hours. */
const VAPID_TOKEN_SECONDS = 12 * 60 * 60;
/** A token is replaced this long before it expires, so none is used near its end. */
const VAPID_RENEW_MARGIN_SECONDS = 60 * 60;

/**
 * Signs one VAPID JWT per push service origin and reuses it until it nears expiry, as
 * RFC 8292 permits: an ES256 signature costs about a millisecond, more than encrypting
 * the payload, and every message to the same service would otherwise pay it again.
 */
export function vapidAuthorizer(webpush: WebPush, vapid: VapidDetails, now: () => number = Date.now): VapidAuthorizer {
  const byOrigin = new Map<string, { header: string; renewAtMs: number }>();
  return (origin) => {
    const nowMs = now();
    const cached = byOrigin.get(origin);
    if (cached && nowMs < cached.renewAtMs) return cached.header;
    const expiresAt = Math.floor(nowMs / 1000) + VAPID_TOKEN_SECONDS;
    const { Authorization } = webpush.getVapidHeaders(origin, vapid.subject, vapid.publicKey, vapid.privateKey, "aes128gcm", expiresAt);
    // Push services are few (one per browser vendor); the bound only stops a hostile
    // subscription list from growing the map without end.
    if (byOrigin.size >= 1_000) byOrigin.clear();
    byOrigin.set(origin, { header: Authorization, renewAtMs: (expiresAt - VAPID_RENEW_MARGIN_SECONDS) * 1000 });
    return Authorization;
  };
}

/** A `lookup` for http.request that always answers with the address the guard checked. */
function pinnedLookup(target: SafeTarget): NonNullable<http.RequestOptions["lookup"]> {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const answer: DnsLookupAddress = { address: target.address, family: target.family };
    if (options?.all) callback(null, [answer]);
    else callback(null, answer.address, answer.family);
  }) as unknown as NonNullable<http.RequestOptions["lookup"]>;
}

function post(
  target: SafeTarget,
  details: RequestDetails,
  signal: AbortSignal,
  agents: { http: http.Agent; https: https.Agent },
): Promise<PushResponse> {
  return new Promise((resolve, reject) => {
    const secure = target.url.protocol === "https:";
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    const options: https.RequestOptions = {
      method: "POST",
      hostname: target.hostname,
      port: target.port,
      path: `${target.url.pathname}${target.url.search}`,
      headers,
      agent: secure ? agents.https : agents.http,
      lookup: pinnedLookup(target),
      signal,
    };
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on("data", (chunk: Buffer) => {
        if (kept < MAX_ERROR_BODY_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          statusCode: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString("utf8"),
        }),
      );
    };
    const req = secure ? https.request(options, onResponse) : http.request(options, onResponse);
    req.on("error", reject);
    req.end(details.body ?? undefined);
  });
}

function createPushSender(config: PushConfig, deps: { logger: Logger }): ChannelSender<PushMessage> {
  // Spreading `config.vapid` drops the non-enumerable private key; fail here, not per send.
  if (typeof config.vapid.privateKey !== "string" || config.vapid.privateKey === "") {
    throw new ConfigError("config-missing", "push config has no VAPID private key (HERALD_VAPID_PRIVATE_KEY)");
  }
  const webpush = loadWebPush();
  const authorize = vapidAuthorizer(webpush, config.vapid);
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  async function deliver(message: PushMessage, signal: AbortSignal, timeoutSignal: AbortSignal): Promise<SendResult> {
    const json = JSON.stringify(message.payload);
    const size = Buffer.byteLength(json, "utf8");
    if (size > PUSH_MAX_PAYLOAD_BYTES) {
      throw new PermanentError(
        "push-payload-too-large",
        `push payload is ${size} bytes of JSON; at most ${PUSH_MAX_PAYLOAD_BYTES} fit the 4096-byte encrypted limit`,
      );
    }
    let url: URL;
    try {
      url = new URL(message.subscription.endpoint);
    } catch (error) {
      throw new PermanentError("push-invalid-subscription", "push subscription endpoint is not a URL", {
        cause: error,
        suppress: "invalid-address",
      });
    }
    checkSubscriptionKeys(message.subscription);

    for (let redirects = 0; ; redirects++) {
      const target = await resolveSafeTarget(url, {
        allowHosts: config.allowHosts,
        ...(config.lookup !== undefined ? { lookup: config.lookup } : {}),
      });
      signal.throwIfAborted();
      // Rebuilt per hop: the VAPID JWT's audience is the origin actually posted to.
      const details = buildRequest(webpush, message, url, json, authorize);
      let response: PushResponse;
      try {
        response = await post(target, details, signal, agents);
      } catch (error) {
        if (timeoutSignal.aborted) throw new PushTimeoutError(maskUrl(url), config.timeoutMs, { cause: error });
        throw error;
      }
      const { statusCode, headers } = response;
      if (statusCode >= 200 && statusCode < 300) {
        deps.logger.debug({ endpoint: maskUrl(url), statusCode, redirects }, "push accepted");
        return headers.location !== undefined ? { providerMessageId: headers.location } : {};
      }
      if (REDIRECT_STATUSES.has(statusCode) && typeof headers.location === "string") {
        if (redirects >= MAX_REDIRECTS) {
          throw new PermanentError("push-too-many-redirects", `push service at ${maskUrl(url)} redirected more than ${MAX_REDIRECTS} times`);
        }
        let next: URL;
        try {
          next = new URL(headers.location, url);
        } catch (error) {
          throw new PermanentError("push-bad-redirect", `push service at ${maskUrl(url)} redirected to an invalid URL`, { cause: error });
        }
        deps.logger.warn({ from: maskUrl(url), to: maskUrl(next), statusCode }, "push service redirected");
        url = next;
        continue;
      }
      throw new PushHttpError(statusCode, headers, response.body, maskUrl(url));
    }
  }

  return {
    async send(message, signal) {
      const timeoutSignal = AbortSignal.timeout(config.timeoutMs);
      const combined = signal !== undefined ? AbortSignal.any([signal, timeoutSignal]) : timeoutSignal;
      try {
        return await deliver(message, combined, timeoutSignal);
      } catch (error) {
        const classified = classifyPushError(error);
        deps.logger.debug(
          { endpoint: maskUrl(message.subscription.endpoint), code: classified.code, kind: classified.name },
          "push failed",
        );
        throw classified;
      }
    },
    async close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

// ---------------------------------------------------------------------------
// Building: the rules side. Pure and allocation-light, since it runs once per subscription.

/** Limits from the message schema. */
const MAX_TITLE_LENGTH = 256;
const MAX_BODY_LENGTH = 2048;
const MAX_ENDPOINT_LENGTH = 2048;
const MAX_TAG_LENGTH = 128;
const MAX_TTL_SECONDS = 2_419_200;
const DEFAULT_TTL_SECONDS = 86_400;
const URGENCIES: ReadonlySet<unknown> = new Set<PushUrgency>(["very-low", "low", "normal", "high"]);
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
// Subscription keys as the schema has them: base64url, padding tolerated.
const KEY_TEXT = /^[A-Za-z0-9_-]+=*$/;

const TEMPLATE_PARTS: readonly TemplatePart[] = Object.freeze([
  Object.freeze({ name: "title", format: "text" } as const),
  Object.freeze({ name: "body", format: "text" } as const),
  Object.freeze({ name: "url", format: "text", optional: true } as const),
]);

function refuse(reason: string, detail: string): BuildMessageResult<PushMessage> {
  return { ok: false, reason, detail };
}

/**
 * The subscription as the message schema has it, or undefined when `entry` is not shaped
 * like one. Unknown properties are left behind (the schema is closed); whether the
 * endpoint and keys are usable is buildMessage's question.
 */
function subscriptionOf(entry: unknown): PushSubscriptionJson | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  const { endpoint, expirationTime, keys } = entry as Record<string, unknown>;
  if (typeof endpoint !== "string" || endpoint === "" || typeof keys !== "object" || keys === null) return undefined;
  const { p256dh, auth } = keys as Record<string, unknown>;
  if (typeof p256dh !== "string" || typeof auth !== "string") return undefined;
  return typeof expirationTime === "number" || expirationTime === null
    ? { endpoint, expirationTime, keys: { p256dh, auth } }
    : { endpoint, keys: { p256dh, auth } };
}

function isUsableSubscription(target: unknown): target is PushSubscriptionJson {
  if (typeof target !== "object" || target === null) return false;
  const { endpoint, keys } = target as Partial<PushSubscriptionJson>;
  if (typeof endpoint !== "string" || endpoint.length > MAX_ENDPOINT_LENGTH || !isPlainHttpUri(endpoint)) return false;
  if (typeof keys !== "object" || keys === null) return false;
  const { p256dh, auth } = keys;
  return (
    typeof p256dh === "string" && p256dh.length >= 80 && p256dh.length <= 100 && KEY_TEXT.test(p256dh) &&
    typeof auth === "string" && auth.length >= 16 && auth.length <= 32 && KEY_TEXT.test(auth)
  );
}

function addressesOf(contacts: Contacts): readonly ChannelAddress<PushSubscriptionJson>[] {
  const entries = contacts?.push;
  if (!Array.isArray(entries)) return [];
  const addresses: ChannelAddress<PushSubscriptionJson>[] = [];
  for (const entry of entries as readonly unknown[]) {
    const subscription = subscriptionOf(entry);
    // The same browser listed twice is one address, and would be one idempotency key.
    if (subscription && !addresses.some((a) => a.address === subscription.endpoint)) {
      addresses.push({ address: subscription.endpoint, target: subscription });
    }
  }
  return addresses;
}

function buildMessage(input: BuildMessageInput<PushSubscriptionJson>): BuildMessageResult<PushMessage> {
  const { meta, target, parts, options } = input;
  if (!isUsableSubscription(target)) {
    return refuse("invalid-address", "the push subscription's endpoint is not an http(s) URL or its keys are malformed");
  }
  const title = typeof parts.title === "string" ? parts.title.trim() : "";
  if (title === "" || title.length > MAX_TITLE_LENGTH) {
    return refuse("invalid-title", `the title must be 1 to ${MAX_TITLE_LENGTH} characters after trimming; it is ${title.length}`);
  }
  if (typeof parts.body !== "string") return refuse("missing-part", "no rendered `body` part");
  const body = parts.body.trim();
  if (body.length > MAX_BODY_LENGTH) return refuse("body-too-long", `the body is ${body.length} characters, more than ${MAX_BODY_LENGTH}`);
  // An optional part that rendered to nothing is left out, as if it had not been given.
  const url = typeof parts.url === "string" ? parts.url.trim() : "";
  if (url !== "" && !isPlainHttpUri(url)) return refuse("invalid-url", "the url is not an absolute http(s) URL of plain URI characters");

  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (typeof ttlSeconds !== "number" || !Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > MAX_TTL_SECONDS) {
    return refuse("invalid-options", `ttlSeconds must be an integer from 0 to ${MAX_TTL_SECONDS}`);
  }
  const urgency = options.urgency ?? (meta.critical ? "high" : "normal");
  if (!URGENCIES.has(urgency)) return refuse("invalid-options", "urgency must be very-low, low, normal or high");
  // topic and tag only ever replace or group notifications: an unusable one is left out.
  const topic = typeof options.topic === "string" && TOPIC.test(options.topic) ? options.topic : undefined;
  const tag = typeof options.tag === "string" && options.tag !== "" && options.tag.length <= MAX_TAG_LENGTH ? options.tag : undefined;

  // Key order matches what the sender serialises, so both measure the same bytes.
  const payload: { title: string; body: string; url?: string; tag?: string } = { title, body };
  if (url !== "") payload.url = url;
  if (tag !== undefined) payload.tag = tag;
  const size = Buffer.byteLength(JSON.stringify(payload), "utf8");
  if (size > PUSH_MAX_PAYLOAD_BYTES) {
    return refuse("push-payload-too-large", `the payload is ${size} bytes of JSON, more than the ${PUSH_MAX_PAYLOAD_BYTES} that fit one push`);
  }
  const message: { -readonly [K in keyof PushMessage]: PushMessage[K] } = {
    meta,
    subscription: target,
    payload,
    ttlSeconds,
    urgency: urgency as PushUrgency,
  };
  if (topic !== undefined) message.topic = topic;
  return { ok: true, message };
}

// ---------------------------------------------------------------------------
// The adapter

/** Web push (RFC 8030/8291/8292): VAPID-signed, aes128gcm-encrypted, SSRF-guarded. */
export const push: ChannelAdapter<PushMessage, PushConfig, PushSubscriptionJson> = {
  name: "push",
  messageSchemaVersion: 1,
  defaults: {
    concurrency: 50,
    maxAttempts: 8,
    timeoutMs: 10_000,
    batchSize: 10,
  },
  secretConfigKeys: ["HERALD_VAPID_PRIVATE_KEY"],
  /** `title`, `body` and an optional `url` the notification opens, all plain text. */
  templateParts: TEMPLATE_PARTS,
  /**
   * One address per entry of `contacts.push` shaped like a subscription (endpoint string,
   * keys with p256dh and auth); the address is the endpoint, the target the subscription.
   */
  addressesOf,
  /**
   * `{ meta, subscription, payload: { title, body, url?, tag? }, ttlSeconds, urgency, topic? }`
   * with options `ttlSeconds` (default 86400), `urgency` (default high for critical
   * messages, normal otherwise), `topic` and `tag` (left out unless valid). Refusals:
   * `invalid-address`, `invalid-title`, `missing-part`, `body-too-long`, `invalid-url`,
   * `invalid-options`, `push-payload-too-large` (over PUSH_MAX_PAYLOAD_BYTES of JSON).
   */
  buildMessage,
  readConfig(source: ConfigSource): PushConfig {
    return {
      vapid: readVapid(source),
      allowHosts: readAllowHosts(source),
      timeoutMs: push.defaults.timeoutMs,
    };
  },
  createSender: createPushSender,
  classify: classifyPushError,
  addressOf(message: PushMessage): string {
    return message.subscription.endpoint;
  },
};
