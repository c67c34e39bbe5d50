/**
 * Local web push sink: a push service on 127.0.0.1 that checks what a real one checks
 * (RFC 8030 headers, a VAPID token per RFC 8292) and then does what the browser would:
 * decrypts the aes128gcm payload (RFC 8291) with the subscription's private key.
 *
 * `createSubscription` plays the browser's part of `pushManager.subscribe()`: a fresh
 * P-256 key pair and 16-byte auth secret per subscription, the private half kept here.
 * Decryption is http_ece's (the library web-push encrypts with); VAPID verification is
 * node:crypto. web-push-testing is not used: it keeps its state in module globals and is
 * a development tool.
 */
import * as http from "node:http";
import { createECDH, createPublicKey, randomBytes, randomUUID, verify, type ECDH } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { PushSubscriptionJson } from "../../../core/recipients";
import type { DeliverySink, PushSinkContent, SinkDelivery } from "./types";

/** Largest encrypted body a push service must accept, and the most this one takes (RFC 8030 section 7.2). */
export const PUSH_SINK_MAX_BODY_BYTES = 4096;
/** Longest a VAPID token may still be valid for (RFC 8292 section 2). */
const MAX_VAPID_LIFETIME_SECONDS = 24 * 60 * 60;
/** Clock skew tolerated on `exp`: the sender and sink share a clock here, but not a tick. */
const CLOCK_SKEW_SECONDS = 60;
/** Pushes kept per subscription for `GET /push/<id>/messages`. */
const MAX_KEPT_PER_SUBSCRIPTION = 100;
/** Bytes read from a request before giving up on it altogether. */
const MAX_READ_BYTES = 1024 * 1024;
const URGENCIES: ReadonlySet<string> = new Set(["very-low", "low", "normal", "high"]);
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The part of http_ece this sink uses (the package ships no types). */
interface HttpEce {
  decrypt(buffer: Buffer, params: { version: "aes128gcm"; privateKey: ECDH; authSecret: Buffer }): Buffer;
}

// A literal require, as the channel modules do: the local runtime is the only user.
const ece = require("http_ece") as HttpEce;

export interface PushSinkOptions {
  /** 0 picks a free port. The sink listens on 127.0.0.1 only. */
  readonly port: number;
  readonly onDelivery: DeliverySink;
  /** The application server key subscriptions are made for (base64url, 65-byte uncompressed P-256). */
  readonly vapidPublicKey: string;
}

export interface PushSink {
  readonly port: number;
  /** `http://127.0.0.1:PORT`: the VAPID audience, and `127.0.0.1:PORT` is the HERALD_PUSH_ALLOW_HOSTS entry. */
  readonly origin: string;
  /** A new subscription, as a browser's `subscription.toJSON()` gives it. */
  createSubscription(): PushSubscriptionJson;
  /** Marks a subscription (by endpoint URL or id) expired: pushes to it get 410 Gone from now on. */
  expire(endpoint: string): void;
  close(): Promise<void>;
}

interface Subscription {
  readonly id: string;
  readonly ecdh: ECDH;
  readonly authSecret: Buffer;
  expired: boolean;
  readonly messages: PushSinkContent[];
}

/** An answer that ends a request: status, a reason for the JSON body, extra headers. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

function decodeKey(value: string, what: string): Buffer {
  const bytes = BASE64URL.test(value.replace(/=+$/, "")) ? Buffer.from(value, "base64url") : Buffer.alloc(0);
  if (bytes.length !== 65 || bytes[0] !== 0x04) throw new Error(`${what} must be a base64url uncompressed P-256 public key (65 bytes)`);
  return bytes;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Error body in the shape Mozilla's autopush uses: `{ code, error, message }`. */
function refuse(res: http.ServerResponse, refusal: Refusal): void {
  send(res, refusal.status, { code: refusal.status, error: http.STATUS_CODES[refusal.status] ?? "Error", message: refusal.message }, refusal.headers);
}

/** Reads the body, keeping at most `keep` bytes; more than MAX_READ_BYTES ends the request. */
function readBody(req: http.IncomingMessage, keep: number): Promise<{ body: Buffer; total: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let total = 0;
    req.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_READ_BYTES) {
        req.destroy();
        reject(new Refusal(413, "request body too large"));
        return;
      }
      if (kept < keep) {
        const part = chunk.subarray(0, keep - kept);
        chunks.push(part);
        kept += part.length;
      }
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks, kept), total }));
    req.on("error", reject);
  });
}

function jsonPart(part: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new Refusal(401, `VAPID token ${what} is not a JSON object`);
}

/** `vapid t=<jwt>, k=<key>` (RFC 8292 section 3), parameters in any order. */
function parseVapidHeader(header: string | undefined): { token: string; key: string } {
  const match = header === undefined ? null : /^vapid\s+(.*)$/is.exec(header.trim());
  if (!match) throw new Refusal(401, "missing Authorization: vapid t=..., k=...", { "www-authenticate": "vapid" });
  const params = new Map<string, string>();
  for (const part of match[1]!.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  const token = params.get("t");
  const key = params.get("k");
  if (!token || !key) throw new Refusal(401, "the vapid Authorization header needs both t and k", { "www-authenticate": "vapid" });
  return { token, key };
}

/**
 * Verifies the VAPID token: ES256 over `k`, `k` is this sink's application server key,
 * `aud` is this origin, `exp` in the future and at most 24 h away, `sub` a mailto: or
 * https: URI. 401 for a bad token, 403 for a good token from the wrong key (as FCM does
 * for a subscription made with another applicationServerKey).
 */
/** `k` + token pairs whose ES256 signature verified (claims are still checked per request). */
const verifiedSignatures = new Set<string>();
const VERIFIED_SIGNATURES_KEPT = 1_000;

function verifyVapid(header: string | undefined, expectedKey: Buffer, origin: string, nowSeconds: number): PushSinkContent["vapid"] {
  const { token, key } = parseVapidHeader(header);
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) throw new Refusal(401, "VAPID token is not a compact JWS");
  const [encodedHeader, encodedClaims, encodedSignature] = parts as [string, string, string];
  const jose = jsonPart(encodedHeader, "header");
  if (jose.alg !== "ES256") throw new Refusal(401, "VAPID token must be signed with ES256");
  if (jose.typ !== undefined && jose.typ !== "JWT") throw new Refusal(401, "VAPID token typ must be JWT");

  let keyBytes: Buffer;
  try {
    keyBytes = decodeKey(key, "k");
  } catch {
    throw new Refusal(401, "VAPID k is not an uncompressed P-256 public key");
  }
  // Senders reuse one token per origin for hours (RFC 8292); a signature that verified
  // once against the same k verifies again, so only the claims are checked per request.
  const signatureKey = `${key}\u0000${token}`;
  if (!verifiedSignatures.has(signatureKey)) {
    let publicKey;
    try {
      publicKey = createPublicKey({
        key: { kty: "EC", crv: "P-256", x: keyBytes.subarray(1, 33).toString("base64url"), y: keyBytes.subarray(33).toString("base64url") },
        format: "jwk",
      });
    } catch {
      throw new Refusal(401, "VAPID k is not a point on P-256");
    }
    const signature = Buffer.from(encodedSignature, "base64url");
    const signed = Buffer.from(`${encodedHeader}.${encodedClaims}`, "ascii");
    const valid = signature.length === 64 && verify("sha256", signed, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
    if (!valid) throw new Refusal(401, "VAPID token signature does not verify against k");
    if (verifiedSignatures.size >= VERIFIED_SIGNATURES_KEPT) verifiedSignatures.clear();
    verifiedSignatures.add(signatureKey);
  }
  if (!keyBytes.equals(expectedKey)) {
    throw new Refusal(403, "VAPID key does not match the application server key the subscription was made with");
  }

  const claims = jsonPart(encodedClaims, "claims");
  const { aud, exp, sub } = claims;
  if (aud !== origin) throw new Refusal(401, `VAPID aud must be the push service origin ${origin}`);
  if (typeof exp !== "number" || !Number.isInteger(exp)) throw new Refusal(401, "VAPID exp must be an integer (seconds since the epoch)");
  if (exp <= nowSeconds) throw new Refusal(401, "VAPID token has expired");
  if (exp > nowSeconds + MAX_VAPID_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw new Refusal(401, "VAPID exp is more than 24 hours ahead");
  }
  if (typeof sub !== "string" || !/^(mailto:.+@.+|https:\/\/.+)$/.test(sub)) {
    throw new Refusal(401, "VAPID sub must be a mailto: or https: URI");
  }
  return { sub, aud, exp };
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Starts the push sink; resolves once it listens. */
export async function startPushSink(options: PushSinkOptions): Promise<PushSink> {
  const expectedKey = decodeKey(options.vapidPublicKey, "vapidPublicKey");
  const subscriptions = new Map<string, Subscription>();
  let origin = "";

  function subscriptionFor(id: string): Subscription {
    const subscription = subscriptions.get(id);
    if (!subscription) throw new Refusal(404, "no such subscription");
    return subscription;
  }

  async function acceptPush(id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const subscription = subscriptionFor(id);
    if (subscription.expired) throw new Refusal(410, "subscription has expired or was unsubscribed");
    const vapid = verifyVapid(headerValue(req, "authorization"), expectedKey, origin, Math.floor(Date.now() / 1000));

    const ttlText = headerValue(req, "ttl");
    if (ttlText === undefined || !/^\d{1,10}$/.test(ttlText.trim())) throw new Refusal(400, "missing or invalid TTL header");
    const ttl = Number(ttlText.trim());
    const urgency = (headerValue(req, "urgency")?.trim() ?? "normal") as PushSinkContent["urgency"];
    if (!URGENCIES.has(urgency)) throw new Refusal(400, "Urgency must be very-low, low, normal or high");
    const topic = headerValue(req, "topic")?.trim();
    if (topic !== undefined && !TOPIC.test(topic)) throw new Refusal(400, "Topic must be at most 32 base64url characters");
    const encoding = headerValue(req, "content-encoding")?.trim().toLowerCase();
    if (encoding !== "aes128gcm") throw new Refusal(400, "Content-Encoding must be aes128gcm");

    const { body, total } = await readBody(req, PUSH_SINK_MAX_BODY_BYTES);
    if (total > PUSH_SINK_MAX_BODY_BYTES) throw new Refusal(413, `payload is ${total} bytes, more than ${PUSH_SINK_MAX_BODY_BYTES}`);
    if (total === 0) throw new Refusal(400, "an aes128gcm push needs a body");

    let plaintext: Buffer;
    try {
      plaintext = ece.decrypt(body, { version: "aes128gcm", privateKey: subscription.ecdh, authSecret: subscription.authSecret });
    } catch {
      throw new Refusal(400, "payload does not decrypt with this subscription's keys");
    }
    let payload: unknown;
    try {
      payload = JSON.parse(plaintext.toString("utf8"));
    } catch {
      throw new Refusal(400, "decrypted payload is not JSON");
    }

    const messageId = randomUUID();
    const content: PushSinkContent = { endpointId: id, messageId, payload, ttl, urgency, topic: topic ?? null, vapid, encryptedBytes: total };
    const title = typeof payload === "object" && payload !== null ? (payload as { title?: unknown }).title : undefined;
    const delivery: SinkDelivery = {
      channel: "push",
      receivedAt: new Date().toISOString(),
      address: `${origin}/push/${id}`,
      summary: typeof title === "string" ? title : "(push without a title)",
      content,
    };
    try {
      await options.onDelivery(delivery);
    } catch {
      throw new Refusal(500, "the local sink could not record the push");
    }
    subscription.messages.push(content);
    if (subscription.messages.length > MAX_KEPT_PER_SUBSCRIPTION) subscription.messages.shift();
    res.writeHead(201, { location: `${origin}/push/${id}/messages/${messageId}`, ttl: String(ttl), "content-length": "0" });
    res.end();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", origin).pathname;
    const match = /^\/push\/([A-Za-z0-9_-]+)(\/messages(?:\/([A-Za-z0-9-]+))?)?$/.exec(path);
    if (!match) throw new Refusal(404, "not found");
    const id = match[1]!;
    const messageId = match[3];
    if (match[2] === undefined) {
      if (req.method !== "POST") throw new Refusal(405, "push with POST", { allow: "POST" });
      return acceptPush(id, req, res);
    }
    if (req.method !== "GET") throw new Refusal(405, "read messages with GET", { allow: "GET" });
    const subscription = subscriptionFor(id);
    if (messageId === undefined) {
      return send(res, 200, { endpoint: `${origin}/push/${id}`, expired: subscription.expired, messages: subscription.messages });
    }
    const message = subscription.messages.find((m) => m.messageId === messageId);
    if (!message) throw new Refusal(404, "no such message");
    send(res, 200, message);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      const refusal = error instanceof Refusal ? error : new Refusal(500, "internal error");
      // Drain what the client is still sending so it reads our answer, not a reset.
      if (!req.complete && !req.destroyed) req.resume();
      refuse(res, refusal);
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  return {
    port,
    origin,
    createSubscription(): PushSubscriptionJson {
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const authSecret = randomBytes(16);
      // The endpoint path is a capability, as with real push services: unguessable.
      const id = randomBytes(18).toString("base64url");
      subscriptions.set(id, { id, ecdh, authSecret, expired: false, messages: [] });
      return {
        endpoint: `${origin}/push/${id}`,
        expirationTime: null,
        keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: authSecret.toString("base64url") },
      };
    },
    expire(endpoint: string): void {
      const id = endpoint.startsWith(`${origin}/push/`) ? endpoint.slice(`${origin}/push/`.length) : endpoint;
      const subscription = subscriptions.get(id);
      if (!subscription) throw new Error("expire: no such subscription on this sink");
      subscription.expired = true;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
