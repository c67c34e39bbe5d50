/**
 * Local SMS sink: the one Twilio endpoint herald uses,
 * `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, served on 127.0.0.1 the way
 * api.twilio.com serves it (HTTP Basic auth with the account SID and auth token, form
 * fields, Twilio's error codes and message resource), so the sms channel module's real
 * twilio client talks to it through HERALD_TWILIO_API_BASE.
 *
 * Also `GET .../Messages/{Sid}.json` for what was accepted, for debugging.
 */
import * as http from "node:http";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { countSegments } from "../../../core/sms-segments";
import type { DeliverySink, SinkDelivery, SmsSinkContent } from "./types";

export interface TwilioSinkOptions {
  /** 0 picks a free port. The sink listens on 127.0.0.1 only. */
  readonly port: number;
  readonly onDelivery: DeliverySink;
  /** `AC` + 32 hex digits; generated when absent. */
  readonly accountSid?: string;
  /** Generated (32 hex digits, like Twilio's) when absent. */
  readonly authToken?: string;
}

export interface TwilioSink {
  readonly port: number;
  /** `http://127.0.0.1:PORT`: the value for HERALD_TWILIO_API_BASE. */
  readonly apiBase: string;
  readonly accountSid: string;
  readonly authToken: string;
  /**
   * Answers the next `count` message creations (after authentication) with HTTP `status`
   * and a Twilio error body carrying `code`, e.g. `failNext(20429, 429)` or
   * `failNext(21610, 400)`.
   */
  failNext(code: number, status: number, count?: number): void;
  /** Holds each Messages request this long before answering (a slow provider, for tests and benchmarks). */
  setLatency(ms: number): void;
  /** Most Messages requests the sink has seen in progress at once: what the provider observes of herald's cap. */
  readonly peakConcurrent: number;
  close(): Promise<void>;
}

const API_VERSION = "2010-04-01";
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
// E.164: "+", a country code that does not start with 0, at most 15 digits in all.
const E164 = /^\+[1-9][0-9]{6,14}$/;
// An alphanumeric sender id: up to 11 characters, at least one letter.
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
/** Twilio's limit on Body, in characters. */
const MAX_BODY_CHARACTERS = 1600;
const MAX_REQUEST_BYTES = 64 * 1024;
/** Message resources kept for GET. */
const MAX_KEPT_MESSAGES = 1000;
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

/** A Twilio REST error: HTTP status plus Twilio's own error code. */
class TwilioFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** The Twilio message resource, as the API answers it. */
interface MessageResource {
  readonly account_sid: string;
  readonly api_version: string;
  readonly body: string;
  readonly date_created: string;
  readonly date_sent: null;
  readonly date_updated: string;
  readonly direction: "outbound-api";
  readonly error_code: null;
  readonly error_message: null;
  readonly from: string | null;
  readonly messaging_service_sid: string | null;
  readonly num_media: string;
  readonly num_segments: string;
  readonly price: null;
  readonly price_unit: string;
  readonly sid: string;
  readonly status: "queued" | "accepted";
  readonly subresource_uris: { readonly media: string };
  readonly to: string;
  readonly uri: string;
}

/** RFC 2822 date as Twilio writes it: `Thu, 30 Jul 2015 20:12:31 +0000`. */
export function rfc2822(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${DAYS[date.getUTCDay()]}, ${two(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "twilio-request-id": `RQ${randomBytes(16).toString("hex")}`,
    ...headers,
  });
  res.end(text);
}

/** Twilio's legacy error body: `{ code, message, more_info, status }`. */
function sendFailure(res: http.ServerResponse, failure: TwilioFailure): void {
  sendJson(
    res,
    failure.status,
    { code: failure.code, message: failure.message, more_info: `https://www.twilio.com/docs/errors/${failure.code}`, status: failure.status },
    failure.headers,
  );
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_REQUEST_BYTES) {
        req.destroy();
        // The sink's own guard, not a documented Twilio reply (no request of herald's comes near it).
        reject(new TwilioFailure(413, 20413, "Request entity too large"));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      // Twilio reads form fields only; a JSON body leaves every parameter missing.
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      resolve(new URLSearchParams(type === "application/x-www-form-urlencoded" ? Buffer.concat(chunks).toString("utf8") : ""));
    });
    req.on("error", reject);
  });
}

function basicCredentials(header: string | undefined): { user: string; pass: string } | undefined {
  const match = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/]+=*)$/i.exec(header.trim());
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

/** The field as given, or undefined when absent or empty (Twilio treats both alike). */
function field(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === "" ? undefined : value;
}

function validStatusCallback(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** Starts the Twilio sink; resolves once it listens. */
export async function startTwilioSink(options: TwilioSinkOptions): Promise<TwilioSink> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString("hex")}`;
  const authToken = options.authToken ?? randomBytes(16).toString("hex");
  if (!ACCOUNT_SID.test(accountSid)) throw new Error("accountSid must be AC followed by 32 hex digits");
  if (authToken === "" || /[\s:]/.test(authToken)) throw new Error("authToken must be non-empty, without spaces or colons");

  const failures: { code: number; status: number }[] = [];
  let latencyMs = 0;
  let active = 0;
  let peakConcurrent = 0;
  const messages = new Map<string, MessageResource>();
  const base = `/${API_VERSION}/Accounts/${accountSid}`;

  function authenticate(req: http.IncomingMessage): void {
    const credentials = basicCredentials(req.headers.authorization);
    const ok = credentials !== undefined && sameSecret(credentials.user, accountSid) && sameSecret(credentials.pass, authToken);
    if (!ok) throw new TwilioFailure(401, 20003, "Authenticate", { "www-authenticate": 'Basic realm="Twilio API"' });
  }

  function createMessage(form: URLSearchParams): MessageResource {
    const to = field(form, "To");
    const from = field(form, "From");
    const messagingServiceSid = field(form, "MessagingServiceSid");
    const body = field(form, "Body");
    const statusCallback = field(form, "StatusCallback");

    if (to === undefined) throw new TwilioFailure(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) throw new TwilioFailure(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (from === undefined && messagingServiceSid === undefined) {
      throw new TwilioFailure(400, 21603, "A 'From' phone number or a 'MessagingServiceSid' is required.");
    }
    if (from !== undefined && !E164.test(from) && !ALPHANUMERIC_SENDER.test(from)) {
      throw new TwilioFailure(400, 21212, `Invalid From Number (caller ID): ${from}`);
    }
    // Twilio refuses an unknown Messaging Service; the sink knows none, so only the SID's
    // shape is checked (21701 as the code is our best reading of Twilio's dictionary).
    if (messagingServiceSid !== undefined && !MESSAGING_SERVICE_SID.test(messagingServiceSid)) {
      throw new TwilioFailure(400, 21701, `The Messaging Service Sid ${messagingServiceSid} is invalid.`);
    }
    if (body === undefined) throw new TwilioFailure(400, 21602, "Message body is required.");
    if ([...body].length > MAX_BODY_CHARACTERS) {
      throw new TwilioFailure(400, 21617, `The concatenated message body exceeds the ${MAX_BODY_CHARACTERS} character limit.`);
    }
    if (statusCallback !== undefined && !validStatusCallback(statusCallback)) {
      throw new TwilioFailure(400, 21609, `Invalid StatusCallback url: ${statusCallback}`);
    }

    const sid = `SM${randomBytes(16).toString("hex")}`;
    const now = rfc2822(new Date());
    const uri = `${base}/Messages/${sid}.json`;
    // With only a Messaging Service, Twilio answers `accepted` and picks the sender later.
    const status = from === undefined ? "accepted" : "queued";
    return {
      account_sid: accountSid,
      api_version: API_VERSION,
      body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: messagingServiceSid ?? null,
      num_media: "0",
      num_segments: String(countSegments(body).count),
      price: null,
      price_unit: "USD",
      sid,
      status,
      subresource_uris: { media: `${base}/Messages/${sid}/Media.json` },
      to,
      uri,
    };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\.json|\/(SM[0-9a-f]{32})\.json)$/.exec(path);
    if (!match) throw new TwilioFailure(404, 20404, `The requested resource ${path} was not found`);
    authenticate(req);
    // Credentials for one account do not open another's resources.
    if (match[1] !== accountSid) throw new TwilioFailure(401, 20003, "Authenticate");
    const messageSid = match[2];

    if (messageSid !== undefined) {
      if (req.method !== "GET") throw new TwilioFailure(405, 20004, "Method not allowed", { allow: "GET" });
      const message = messages.get(messageSid);
      if (!message) throw new TwilioFailure(404, 20404, `The requested resource ${path} was not found`);
      return sendJson(res, 200, message);
    }
    if (req.method !== "POST") throw new TwilioFailure(405, 20004, "Method not allowed", { allow: "POST" });

    active += 1;
    peakConcurrent = Math.max(peakConcurrent, active);
    try {
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      await createFromRequest(req, res);
    } finally {
      active -= 1;
    }
  }

  async function createFromRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const form = await readForm(req);
    const injected = failures.shift();
    if (injected) throw new TwilioFailure(injected.status, injected.code, `Failure injected by the herald local sink (${injected.code})`);

    const message = createMessage(form);
    const encoding = countSegments(message.body).encoding;
    const content: SmsSinkContent = {
      sid: message.sid,
      accountSid,
      to: message.to,
      from: message.from,
      messagingServiceSid: message.messaging_service_sid,
      body: message.body,
      numSegments: Number(message.num_segments),
      encoding,
      statusCallback: field(form, "StatusCallback") ?? null,
      status: message.status,
    };
    const delivery: SinkDelivery = {
      channel: "sms",
      receivedAt: new Date().toISOString(),
      address: message.to,
      summary: message.body.length > 80 ? `${message.body.slice(0, 79)}…` : message.body,
      content,
    };
    try {
      await options.onDelivery(delivery);
    } catch {
      throw new TwilioFailure(500, 20500, "Internal Server Error");
    }
    messages.set(message.sid, message);
    if (messages.size > MAX_KEPT_MESSAGES) messages.delete(messages.keys().next().value!);
    sendJson(res, 201, message);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      const failure = error instanceof TwilioFailure ? error : new TwilioFailure(500, 20500, "Internal Server Error");
      if (!req.complete && !req.destroyed) req.resume();
      sendFailure(res, failure);
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

  let closing: Promise<void> | undefined;
  return {
    port,
    apiBase: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    failNext(code: number, status: number, count = 1) {
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError("failNext status must be an HTTP error status (400-599)");
      if (!Number.isInteger(code) || code < 0) throw new RangeError("failNext code must be a Twilio error code");
      if (!Number.isInteger(count) || count < 1) throw new RangeError("failNext count must be a positive integer");
      for (let i = 0; i < count; i++) failures.push({ code, status });
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    get peakConcurrent() {
      return peakConcurrent;
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
