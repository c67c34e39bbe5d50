/**
 * The local runtime's HTTP API: ingest, recipients, web push subscription registration,
 * one-click unsubscribe, deliveries, status and DLQ operations. Plain node:http: a
 * dozen routes do not need a framework, and every byte read is bounded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP, type AddressInfo } from "node:net";
import { MAX_EVENT_BYTES, validateEvent, type AcceptedEvent } from "../../core/envelope";
import { ConfigError, ValidationError, type Issue } from "../../core/errors";
import { parseRecipient } from "../../core/recipient-validation";
import { answerUnsubscribe } from "../../core/unsubscribe";
import { isStoreUnavailable } from "./database";
import { RULES_QUEUE, type LocalRuntime } from "./runtime";

/** A batch may carry up to this many events... */
export const MAX_BATCH_EVENTS = 500;
/** ...and this many bytes in all. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

const EVENT_CONTENT_TYPES = new Set(["application/json", "application/cloudevents+json", "application/cloudevents-batch+json"]);

/** An answer with a status; thrown inside a route, written by the dispatcher. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.message ?? body.error));
  }
}

/**
 * Routes mounted beside the API (the console). `handle` answers a request and returns
 * true, returns a path to serve from the API instead (a token-checked alias of a `/v1`
 * route), or returns false to leave it to the API. `close` ends long-lived responses.
 */
export interface HttpExtension {
  handle(request: IncomingMessage, response: ServerResponse, url: URL): boolean | string | Promise<boolean | string>;
  /** Told where the server listens, once it does. */
  listening?(url: string): void;
  close?(): void;
  /**
   * The API's access check (the console's token: bearer header or its cookie). Given, every
   * `/v1` request but the open ones must pass it. A runtime bound beyond loopback needs one.
   */
  authorize?(request: IncomingMessage): boolean;
}

/** API routes that need no credentials: people click unsubscribe links, and probes check health. */
const OPEN_API_PATHS = new Set(["/v1/unsubscribe", "/v1/health"]);

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost" || bare === "::1") return true;
  return isIP(bare) === 4 && bare.startsWith("127.");
}

export async function startHttpServer(runtime: LocalRuntime, options: { extensions?: readonly HttpExtension[] } = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const extensions = options.extensions ?? [];
  const authorizer = extensions.find((extension) => extension.authorize);
  const authorize = authorizer ? (request: IncomingMessage) => authorizer.authorize!(request) : undefined;
  // Beyond loopback, anyone who can reach the port could publish, read deliveries
  // (personal data) and redrive: such a server does not start without an access check.
  if (!authorize && !isLoopback(runtime.config.host)) {
    throw new ConfigError(
      "config-invalid",
      `HERALD_HOST=${runtime.config.host} is not loopback, and nothing guards the API there: run \`herald dev\`, whose console requires HERALD_CONSOLE_TOKEN (or a token it prints) on every /v1 request`,
    );
  }
  const server = createServer((request, response) => {
    dispatch(runtime, extensions, authorize, request, response).catch((error: unknown) => {
      if (error instanceof HttpError) return send(response, error.status, error.body, error.headers);
      if (isStoreUnavailable(error)) return send(response, 503, { error: "store-unavailable", message: "the local store cannot be written; nothing was accepted" }, { "retry-after": "5" });
      runtime.logger.error({ error: (error as Error).message, path: request.url }, "request failed");
      send(response, 500, { error: "internal", message: "unexpected error; see the runtime log" });
    });
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(runtime.config.port, runtime.config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${runtime.config.host.includes(":") ? `[${runtime.config.host}]` : runtime.config.host}:${port}`;
  runtime.setPublicUrl(url);
  for (const extension of extensions) extension.listening?.(url);
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        for (const extension of extensions) extension.close?.();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function dispatch(
  runtime: LocalRuntime,
  extensions: readonly HttpExtension[],
  authorize: ((request: IncomingMessage) => boolean) | undefined,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://localhost");
  if (authorize && url.pathname.startsWith("/v1/") && !OPEN_API_PATHS.has(url.pathname) && !authorize(request)) {
    throw new HttpError(401, { error: "unauthorized", message: "this runtime is not on loopback: send Authorization: Bearer <HERALD_CONSOLE_TOKEN> (the CLI does when the variable is set)" });
  }
  for (const extension of extensions) {
    const answer = await extension.handle(request, response, url);
    if (answer === true) return;
    if (typeof answer === "string") return handle(runtime, request, response, new URL(`${answer}${url.search}`, url));
  }
  return handle(runtime, request, response, url);
}

async function handle(runtime: LocalRuntime, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const method = request.method ?? "GET";
  const path = url.pathname;
  const route = `${method} ${path}`;

  if (route === "GET /v1/health") return send(response, 200, { ok: true });
  if (route === "POST /v1/events") return ingest(runtime, request, response);
  if (route === "GET /v1/status") return send(response, 200, status(runtime));
  if (route === "GET /v1/deliveries") {
    const channel = url.searchParams.get("channel") ?? undefined;
    return send(response, 200, { deliveries: runtime.inbox.list({ ...(channel ? { channel } : {}), limit: limitOf(url) }) });
  }
  if (route === "GET /v1/outcomes") {
    const source = url.searchParams.get("source");
    const id = url.searchParams.get("id");
    if (!source || !id) throw new HttpError(400, { error: "bad-request", message: "source and id query parameters are required" });
    return send(response, 200, { outcomes: runtime.outcomes.forEvent(source, id) });
  }
  if (route === "GET /v1/dlq") {
    const queue = url.searchParams.get("queue") ?? undefined;
    const after = url.searchParams.get("after");
    return send(response, 200, { deadLetters: runtime.queues.listDeadLetters(queue, { limit: limitOf(url), ...(after ? { after: Number(after) } : {}) }) });
  }
  const dlqItem = /^\/v1\/dlq\/(\d+)$/.exec(path);
  if (method === "GET" && dlqItem) {
    const item = runtime.queues.getDeadLetter(Number(dlqItem[1]));
    if (!item) throw new HttpError(404, { error: "not-found", message: `no dead letter ${dlqItem[1]}` });
    return send(response, 200, item);
  }
  if (route === "POST /v1/dlq/redrive") {
    const body = (await readJson(request, 64 * 1024)) as { queue?: unknown; ids?: unknown } | null;
    const queue = typeof body?.queue === "string" ? body.queue : undefined;
    const ids = Array.isArray(body?.ids) ? body!.ids.filter((id): id is number => Number.isInteger(id)) : undefined;
    const redriven = runtime.queues.redrive(queue, ids);
    for (const worker of runtime.workers.values()) worker.notify();
    runtime.changes.emit({ kind: "redriven", ...(queue ? { queue } : {}), count: redriven });
    return send(response, 200, { redriven });
  }

  const recipient = /^\/v1\/recipients\/([^/]+)$/.exec(path);
  if (recipient) return recipientRoute(runtime, method, decodeURIComponent(recipient[1]!), request, response);
  if (route === "GET /v1/recipients") {
    const after = url.searchParams.get("after") ?? undefined;
    return send(response, 200, { recipients: await runtime.directory.list({ limit: limitOf(url), ...(after ? { after } : {}) }) });
  }
  const subscriptions = /^\/v1\/recipients\/([^/]+)\/push-subscriptions(\/local)?$/.exec(path);
  if (method === "POST" && subscriptions) return addPushSubscription(runtime, decodeURIComponent(subscriptions[1]!), subscriptions[2] !== undefined, request, response);
  if (path === "/v1/unsubscribe" && (method === "GET" || method === "POST")) return unsubscribe(runtime, url, method, response);
  throw new HttpError(404, { error: "not-found", message: `no route ${route}` });
}

/** POST /v1/events: one envelope or an array; all-or-nothing, so a producer's batch is never half accepted. */
async function ingest(runtime: LocalRuntime, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (!EVENT_CONTENT_TYPES.has(contentType)) {
    throw new HttpError(415, { error: "unsupported-media-type", message: `send events as ${[...EVENT_CONTENT_TYPES].join(" or ")}, not "${contentType || "(none)"}"` });
  }
  const raw = await readBody(request, MAX_BODY_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    runtime.eventLog.bump("rejected");
    throw new HttpError(400, { error: "malformed-json", message: `body is not valid JSON: ${(error as Error).message}` });
  }
  const batch = Array.isArray(parsed);
  const items = batch ? (parsed as unknown[]) : [parsed];
  if (items.length === 0) throw new HttpError(400, { error: "empty-batch", message: "the batch holds no events" });
  if (items.length > MAX_BATCH_EVENTS) throw new HttpError(413, { error: "batch-too-large", message: `at most ${MAX_BATCH_EVENTS} events per request, got ${items.length}` });
  if (!batch && raw.byteLength > MAX_EVENT_BYTES) {
    runtime.eventLog.bump("rejected");
    throw new HttpError(413, { error: "too-large", message: `event is ${raw.byteLength} bytes; the limit is ${MAX_EVENT_BYTES}` });
  }

  const accepted: AcceptedEvent[] = [];
  const rejected: Array<{ index: number; id?: unknown; error: string; message: string; issues: readonly Issue[] }> = [];
  items.forEach((item, index) => {
    try {
      accepted.push(validateEvent(item, runtime.registry));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      rejected.push({ index, id: (item as { id?: unknown } | null)?.id, error: error.code, message: error.message, issues: error.issues });
    }
  });
  if (rejected.length > 0) {
    runtime.eventLog.bump("rejected", rejected.length);
    const tooLarge = rejected.every((r) => r.error === "too-large");
    throw new HttpError(tooLarge ? 413 : 400, {
      error: batch ? "batch-rejected" : rejected[0]!.error,
      message: batch ? `${rejected.length} of ${items.length} events are invalid; none was accepted` : rejected[0]!.message,
      rejected,
    });
  }

  const now = Date.now();
  const fresh: Array<{ source: string; id: string }> = [];
  const duplicates: Array<{ source: string; id: string }> = [];
  runtime.db.transaction(() => {
    for (const { event } of accepted) {
      const identity = { source: event.source, id: event.id };
      if (runtime.eventLog.record(event.source, event.id, now)) {
        runtime.queues.enqueue(RULES_QUEUE, event);
        fresh.push(identity);
      } else duplicates.push(identity);
    }
    if (fresh.length > 0) runtime.eventLog.bump("accepted", fresh.length);
    if (duplicates.length > 0) runtime.eventLog.bump("duplicate", duplicates.length);
  })();
  runtime.notifyIngest(fresh.length);
  if (fresh.length > 0 && runtime.changes.observed) runtime.changes.emit({ kind: "ingested", events: fresh });
  send(response, 202, { accepted: fresh, duplicates });
}

async function recipientRoute(runtime: LocalRuntime, method: string, id: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (method === "GET") {
    const found = await runtime.directory.get(id);
    if (!found) throw new HttpError(404, { error: "not-found", message: `no recipient "${id}"` });
    return send(response, 200, found);
  }
  if (method === "PUT") {
    const body = await readJson(request, 256 * 1024);
    const candidate = { ...(body as object), id };
    try {
      const recipient = parseRecipient(candidate);
      await runtime.directory.put(recipient);
      return send(response, 200, recipient);
    } catch (error) {
      if (error instanceof ValidationError) throw new HttpError(400, { error: error.code, message: error.message, issues: error.issues });
      throw error;
    }
  }
  if (method === "DELETE") {
    if (!(await runtime.directory.delete(id))) throw new HttpError(404, { error: "not-found", message: `no recipient "${id}"` });
    return send(response, 204, undefined);
  }
  throw new HttpError(405, { error: "method-not-allowed", message: `${method} is not supported on a recipient` });
}

/**
 * POST /v1/recipients/:id/push-subscriptions registers a browser's subscription (the
 * page posts `PushSubscription.toJSON()`); `/local` makes one on the embedded push
 * service instead, so push can be tried without a browser.
 */
async function addPushSubscription(runtime: LocalRuntime, id: string, local: boolean, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const existing = await runtime.directory.get(id);
  if (!existing) throw new HttpError(404, { error: "not-found", message: `no recipient "${id}"` });
  const subscription = local ? await runtime.pushSink.createSubscription() : await readJson(request, 16 * 1024);
  const push = [...(existing.contacts.push ?? []).filter((s) => s.endpoint !== (subscription as { endpoint?: unknown })?.endpoint), subscription];
  try {
    const recipient = parseRecipient({ ...existing, contacts: { ...existing.contacts, push } });
    await runtime.directory.put(recipient);
    return send(response, 201, { subscription });
  } catch (error) {
    if (error instanceof ValidationError) throw new HttpError(400, { error: "invalid-subscription", message: error.message, issues: error.issues });
    throw error;
  }
}

/**
 * One-click unsubscribe. POST (RFC 8058, what mail clients send for List-Unsubscribe-Post)
 * opts the recipient out. GET, the link in the mail body, only shows a confirmation
 * button: mail scanners prefetch links, and a prefetch must not unsubscribe anyone.
 */
async function unsubscribe(runtime: LocalRuntime, url: URL, method: string, response: ServerResponse): Promise<void> {
  const answer = await answerUnsubscribe({ method, path: url.pathname, query: url.searchParams }, runtime.unsubscribeSecret, runtime.directory);
  response.writeHead(answer.status, { "content-type": answer.contentType });
  response.end(answer.body);
}

function status(runtime: LocalRuntime): Record<string, unknown> {
  const queues = runtime.queues.stats();
  const channels: Record<string, unknown> = {};
  for (const [name, worker] of runtime.workers) {
    const settings = runtime.config.channels.get(name);
    channels[name] = {
      ...(queues[name] ?? { pending: 0, delayed: 0, inFlight: 0, deadLettered: 0, oldestPendingAgeMs: 0 }),
      active: worker.active,
      peakActive: worker.peakInFlight,
      ...(settings ? { concurrency: settings.concurrency, maxAttempts: settings.maxAttempts, provider: runtime.providers[name] } : { concurrency: runtime.config.rulesConcurrency }),
      // The rules stage reports what evaluation decided; channels also report what delivery did.
      outcomes: name === "rules" ? pick(runtime.outcomes.countsByStatus(), RULE_STATUSES) : runtime.outcomes.countsByStatus(name),
    };
  }
  return { ingest: runtime.eventLog.counters(), stages: channels, inbox: runtime.inbox.counts() };
}

const RULE_STATUSES = ["accepted", "rejected", "filtered", "suppressed", "deferred", "throttled"] as const;

function pick(counts: Partial<Record<string, number>>, keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(keys.filter((key) => counts[key] !== undefined).map((key) => [key, counts[key]!]));
}

function limitOf(url: URL): number {
  const value = Number(url.searchParams.get("limit") ?? 50);
  return Number.isInteger(value) && value > 0 ? Math.min(value, 1000) : 50;
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > limit) {
    request.resume();
    throw new HttpError(413, { error: "too-large", message: `body is ${declared} bytes; the limit is ${limit}` });
  }
  // Listeners, not `for await`: leaving a for-await loop destroys the request, and with it
  // the socket, so a chunked body over the limit got a connection reset instead of its 413
  // (found by test/security/ingest-limits.test.ts). Past the limit nothing more is kept:
  // the rest is discarded as it arrives (as for an oversize Content-Length above) while
  // the 413 goes out, and requestTimeout bounds how long a client may keep sending.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      // Counted as it streams: a chunked body without a length cannot get past the limit either.
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        request.resume();
        reject(new HttpError(413, { error: "too-large", message: `body exceeds ${limit} bytes` }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
  });
}

async function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(request, limit);
  if (raw.byteLength === 0) return null;
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw new HttpError(400, { error: "malformed-json", message: `body is not valid JSON: ${(error as Error).message}` });
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  if (body === undefined) {
    response.writeHead(status, headers);
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

