/**
 * Web push channel: one encrypted (aes128gcm), VAPID-signed POST per subscription.
 *
 * web-push builds the request (`generateRequestDetails`); we send it ourselves because
 * its `sendNotification` insists on https and resolves DNS on its own, which would let
 * a subscription endpoint point at private addresses. Our client connects only to the
 * address `resolveSafeTarget` checked, and follows redirects by hand through the same
 * guard.
 */
import * as http from "node:http";
import * as https from "node:https";
import { createECDH } from "node:crypto";
import type { LookupAddress as DnsLookupAddress } from "node:dns";
import webpush from "web-push";
import {
  ConfigError,
  PermanentError,
  TransientError,
  isDeliveryError,
  type DeliveryError,
} from "../core/errors";
import type { ChannelAdapter, ChannelMessage, ChannelSender, ConfigSource, Logger, SendResult } from "../core/ports";
import { maskUrl, normalizeAllowEntry, resolveSafeTarget, type LookupFn, type SafeTarget } from "./push-address-guard";

// ---------------------------------------------------------------------------
// Message and config types (mirror schemas/messages/push/v1.schema.json by hand)

export type PushUrgency = "very-low" | "low" | "normal" | "high";

/** A browser's PushSubscription as `subscription.toJSON()` gives it. */
export interface PushSubscriptionJson {
  /** The push service URL; its path is a capability token, so never log it unmasked. */
  readonly endpoint: string;
  readonly expirationTime?: number | null;
  readonly keys: {
    /** The browser's P-256 ECDH public key, base64url. */
    readonly p256dh: string;
    /** The 16-byte authentication secret, base64url. */
    readonly auth: string;
  };
}

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

/**
 * Largest JSON payload we accept, in bytes. Push services cap the encrypted body at
 * 4096 bytes (RFC 8030 section 7.2); aes128gcm adds an 86-byte header, a 1-byte padding
 * delimiter and a 16-byte tag, so 4096 - 103 bytes of plaintext fill one record exactly.
 */
export const MAX_PAYLOAD_BYTES = 3993;
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

function buildRequest(message: PushMessage, endpoint: URL, json: string, vapid: VapidDetails): RequestDetails {
  try {
    const details = webpush.generateRequestDetails(
      { endpoint: endpoint.href, keys: message.subscription.keys },
      json,
      {
        vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
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
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  async function deliver(message: PushMessage, signal: AbortSignal, timeoutSignal: AbortSignal): Promise<SendResult> {
    const json = JSON.stringify(message.payload);
    const size = Buffer.byteLength(json, "utf8");
    if (size > MAX_PAYLOAD_BYTES) {
      throw new PermanentError(
        "push-payload-too-large",
        `push payload is ${size} bytes of JSON; at most ${MAX_PAYLOAD_BYTES} fit the 4096-byte encrypted limit`,
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
      const details = buildRequest(message, url, json, config.vapid);
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
// The adapter

/** Web push (RFC 8030/8291/8292): VAPID-signed, aes128gcm-encrypted, SSRF-guarded. */
export const push: ChannelAdapter<PushMessage, PushConfig> = {
  name: "push",
  messageSchemaVersion: 1,
  defaults: {
    concurrency: 50,
    maxAttempts: 8,
    timeoutMs: 10_000,
    batchSize: 10,
  },
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
