/**
 * The herald console, mounted on the local runtime's HTTP server: the page under
 * `/console/`, its data under `/api/console/` (its own routes, plus `/api/console/v1/...`,
 * the API's `/v1` routes behind the console's access check), and live updates as
 * server-sent events on `/console/events`.
 *
 * Access: on a loopback address anyone on this machine may use it, as they may use the
 * API; the Host header must then name a loopback host, so a web page on another site
 * cannot reach it by DNS rebinding. Bound anywhere else it needs a token
 * (`HERALD_CONSOLE_TOKEN`, or one made at start and printed), given once as
 * `/console/?token=...` (kept in a strict same-site cookie) or as `Authorization: Bearer`.
 * Writes need a JSON body and a same-origin request, so no other site can post a form.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError } from "../../handlers/core/errors";
import type { ConfigSource } from "../../handlers/core/ports";
import { isLoopback, type HttpExtension } from "../../handlers/runtime/local/http-server";
import type { RuntimeChange } from "../../handlers/runtime/local/changes";
import type { LocalRuntime } from "../../handlers/runtime/local/runtime";
import { bundleConsole, type ConsoleAssets } from "./assets";
import { catalog } from "./catalog";
import { CloudPreviews, PREVIEW_CLOUDS } from "./cloud-preview";
import { AttemptLog, followEvent } from "./follow";

/** The cookie the token is kept in after `?token=`. */
const COOKIE = "herald_console";
/** Most live-update streams at once (each is an open connection). */
const MAX_STREAMS = 16;
/** Live updates are coalesced: at most one message per stream per interval. */
const STREAM_INTERVAL_MS = 250;

/**
 * The page, its styles and scripts come from this origin only; no inline script, no eval,
 * no external fonts or images; e-mail previews are framed from this origin, sandboxed.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** A rendered e-mail's own policy: its inline styles and embedded images, nothing fetched, nothing run. */
const MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox";

export interface ConsoleAccess {
  /** Required when set: the console is reachable beyond this machine. */
  readonly token?: string;
  /** True when the token was made at start (print it); false when it came from `HERALD_CONSOLE_TOKEN`. */
  readonly generated: boolean;
}

/** Loopback binds need no token; any other bind needs `HERALD_CONSOLE_TOKEN` or a generated one. */
export function consoleAccess(host: string, env: ConfigSource = process.env): ConsoleAccess {
  const configured = env.HERALD_CONSOLE_TOKEN;
  if (configured !== undefined && configured !== "") {
    // It travels in a cookie and a query string: no characters either would have to escape.
    if (!/^[A-Za-z0-9._~-]{16,}$/.test(configured)) throw new ConfigError("config-invalid", "HERALD_CONSOLE_TOKEN must be at least 16 characters of A-Z, a-z, 0-9, '.', '_', '~' or '-'");
    return { token: configured, generated: false };
  }
  if (isLoopback(host)) return { generated: false };
  return { token: randomBytes(24).toString("base64url"), generated: true };
}

export interface Console extends HttpExtension {
  readonly access: ConsoleAccess;
  /** The address to open, with the token when one is needed. */
  readonly url: string;
}

export function createConsole(runtime: LocalRuntime, access: ConsoleAccess = consoleAccess(runtime.config.host)): Console {
  let assets: Promise<ConsoleAssets> | undefined;
  const loadAssets = () => {
    if (!assets) {
      assets = bundleConsole(runtime.registry.schemas);
      assets.catch(() => (assets = undefined));
    }
    return assets;
  };
  const previews = new CloudPreviews();
  const attempts = new AttemptLog();
  const streams = new Set<ServerResponse>();
  let publicUrl = "";
  let pending: { kinds: Set<string>; attempts: RuntimeChange[] } | undefined;
  let flushTimer: NodeJS.Timeout | undefined;

  const unsubscribe = runtime.changes.on((change) => {
    if (change.kind === "attempt") attempts.add(change);
    if (streams.size === 0) return;
    pending ??= { kinds: new Set(), attempts: [] };
    pending.kinds.add(change.kind);
    if (change.kind === "attempt" && pending.attempts.length < 100) pending.attempts.push(change);
    flushTimer ??= setTimeout(flush, STREAM_INTERVAL_MS);
  });
  function flush(): void {
    flushTimer = undefined;
    if (!pending) return;
    const data = JSON.stringify({ kinds: [...pending.kinds], attempts: pending.attempts });
    pending = undefined;
    for (const stream of streams) stream.write(`event: change\ndata: ${data}\n\n`);
  }
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(": keep-alive\n\n");
  }, 15_000);
  heartbeat.unref();

  const authorized = (request: IncomingMessage): boolean => {
    if (!access.token) return true;
    const offered = bearer(request) ?? cookie(request, COOKIE);
    return offered !== undefined && safeEqual(offered, access.token);
  };

  async function route(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean | string> {
    const path = url.pathname;
    const method = request.method ?? "GET";
    if (method === "GET" && (path === "/" || path === "/console")) return redirect(response, "/console/");
    if (path !== "/console/" && !path.startsWith("/console/") && !path.startsWith("/api/console/")) return false;

    const refusal = refuseForeign(request, runtime.config.host);
    if (refusal) return sendJson(response, 403, { error: "forbidden", message: refusal });
    if (method === "GET" && path === "/console/" && access.token && url.searchParams.has("token")) {
      if (!safeEqual(url.searchParams.get("token")!, access.token)) return sendText(response, 401, "text/plain; charset=utf-8", "wrong console token");
      // Kept in a cookie and taken out of the address bar (and so out of history and Referer).
      response.setHeader("set-cookie", `${COOKIE}=${access.token}; Path=/; HttpOnly; SameSite=Strict`);
      return redirect(response, "/console/");
    }
    if (!authorized(request)) {
      const message = "this console needs its token: open the address herald dev printed (…/console/?token=…), or send Authorization: Bearer <HERALD_CONSOLE_TOKEN>";
      return path.startsWith("/api/") ? sendJson(response, 401, { error: "unauthorized", message }) : sendText(response, 401, "text/plain; charset=utf-8", message);
    }

    if (method === "GET" && path === "/console/") return sendText(response, 200, "text/html; charset=utf-8", PAGE);
    if (method === "GET" && path === "/console/app.js") return sendText(response, 200, "text/javascript; charset=utf-8", (await loadAssets()).js);
    if (method === "GET" && path === "/console/app.css") return sendText(response, 200, "text/css; charset=utf-8", (await loadAssets()).css);
    if (method === "GET" && path === "/console/events") return openStream(request, response);
    const mail = /^\/console\/mail\/(\d+)$/.exec(path);
    if (method === "GET" && mail) {
      const [delivery] = runtime.db.prepare<[number], { content: string }>("SELECT content FROM inbox WHERE id = ? AND channel = 'email'").all(Number(mail[1]));
      if (!delivery) return sendText(response, 404, "text/plain; charset=utf-8", "no such e-mail");
      const content = JSON.parse(delivery.content) as { html?: string | null; text?: string | null };
      const html = content.html ?? `<pre>${escapeHtml(content.text ?? "")}</pre>`;
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": MAIL_CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-store" });
      response.end(html);
      return true;
    }

    if (path.startsWith("/api/console/v1/")) {
      if (method !== "GET" && method !== "HEAD" && !isJson(request)) return sendJson(response, 415, { error: "unsupported-media-type", message: "send JSON" });
      return path.slice("/api/console".length);
    }
    if (method === "GET" && path === "/api/console/catalog") return sendJson(response, 200, { types: catalog(runtime.registry.schemas, runtime.rules) });
    if (method === "GET" && path === "/api/console/follow") {
      const source = url.searchParams.get("source");
      const id = url.searchParams.get("id");
      if (!source || !id || source.length > 1024 || id.length > 1024) return sendJson(response, 400, { error: "bad-request", message: "source and id (each at most 1024 characters) are required" });
      return sendJson(response, 200, followEvent(runtime, attempts, source, id));
    }
    if (method === "GET" && path === "/api/console/topology") {
      return sendJson(response, 200, {
        channels: [...runtime.channels.keys()],
        sinks: Object.fromEntries(Object.entries(runtime.sinks).map(([name, sink]) => [name, sink !== undefined])),
        providers: runtime.providers,
        clouds: PREVIEW_CLOUDS,
      });
    }
    if (method === "GET" && path === "/api/console/preview") {
      const cloud = url.searchParams.get("cloud") ?? "";
      if (!(PREVIEW_CLOUDS as readonly string[]).includes(cloud)) return sendJson(response, 400, { error: "bad-request", message: `cloud must be one of ${PREVIEW_CLOUDS.join(", ")}` });
      try {
        return sendJson(response, 200, await previews.graph(cloud as (typeof PREVIEW_CLOUDS)[number]));
      } catch (error) {
        return sendJson(response, 502, { error: "preview-failed", message: (error as Error).message });
      }
    }
    return sendJson(response, 404, { error: "not-found", message: `no console route ${method} ${path}` });
  }

  function openStream(request: IncomingMessage, response: ServerResponse): boolean {
    if (streams.size >= MAX_STREAMS) return sendJson(response, 503, { error: "too-many-streams", message: `at most ${MAX_STREAMS} console pages at once` });
    response.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    response.write("retry: 2000\n\n");
    streams.add(response);
    request.once("close", () => streams.delete(response));
    return true;
  }

  return {
    access,
    get url() {
      return `${publicUrl}/console/${access.token ? `?token=${access.token}` : ""}`;
    },
    listening(url) {
      publicUrl = url;
      // Bundled while the user opens the page, not when they first ask for it.
      void loadAssets().catch((error: unknown) => runtime.logger.error({ error: (error as Error).message }, "console bundle failed"));
    },
    handle: route,
    // The HTTP server asks this of every /v1 request too (the API behind the console's token).
    authorize: authorized,
    close() {
      unsubscribe();
      previews.close();
      clearInterval(heartbeat);
      clearTimeout(flushTimer);
      for (const stream of streams) stream.end();
      streams.clear();
    },
  };
}

/** The shell: everything else comes from app.js and app.css. */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>herald console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/app.css">
<script type="module" src="/console/app.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the herald console…</p></div>
<noscript>The herald console needs JavaScript; the CLI (herald status, inbox, dlq) works without.</noscript>
</body>
</html>
`;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-frame-options": "SAMEORIGIN",
};

/** Why a request is refused before anything else: a foreign Host on loopback (DNS rebinding) or a cross-site write. */
function refuseForeign(request: IncomingMessage, boundHost: string): string | undefined {
  const host = request.headers.host ?? "";
  if (isLoopback(boundHost) && !isLoopback(host.replace(/:\d+$/, ""))) return `Host "${host}" is not this machine; open the console at 127.0.0.1 or localhost`;
  const site = request.headers["sec-fetch-site"];
  const method = request.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    if (site !== undefined && site !== "same-origin" && site !== "none") return "cross-site requests may not change anything";
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return `origin ${origin} may not change anything`;
  }
  return undefined;
}

function isJson(request: IncomingMessage): boolean {
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || type === "application/cloudevents+json" || type === "application/cloudevents-batch+json";
}

function bearer(request: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
  return match?.[1];
}

function cookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function redirect(response: ServerResponse, location: string): true {
  response.writeHead(303, { location, "cache-control": "no-store" });
  response.end();
  return true;
}

function sendText(response: ServerResponse, status: number, type: string, body: string): true {
  response.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  response.end(body);
  return true;
}

function sendJson(response: ServerResponse, status: number, body: unknown): true {
  return sendText(response, status, "application/json", JSON.stringify(body));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
