/**
 * Test peers for the web push channel:
 *  - `startPushService`: web-push-testing's push service (verifies VAPID, decrypts
 *    aes128gcm, stores what it decrypted), bound to 127.0.0.1 on a free port;
 *  - `startScriptedServer`: a small http server answering whatever a test scripts,
 *    recording requests and counting connections;
 *  - `installLoopbackJail`: makes any TCP connection to a non-loopback address fail in
 *    this process, so a broken guard shows up as a failing test, never as traffic.
 */
import * as http from "node:http";
import * as net from "node:net";
import * as dns from "node:dns";
import type { AddressInfo } from "node:net";
import type { LookupFn } from "../../handlers/channels/push-address-guard";

// ---------------------------------------------------------------------------
// web-push-testing

/** A subscription as web-push-testing returns it (PushSubscriptionJSON plus its client hash). */
export interface TestSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  readonly clientHash: string;
}

export interface PushService {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** `127.0.0.1:PORT`, the entry for HERALD_PUSH_ALLOW_HOSTS. */
  readonly hostPort: string;
  subscribe(applicationServerKey: string): Promise<TestSubscription>;
  /** Marks the subscription expired: the service then answers 410 to pushes for it. */
  expire(clientHash: string): Promise<void>;
  /** The decrypted payloads the service received for this subscription, oldest first. */
  notifications(clientHash: string): Promise<string[]>;
  close(): Promise<void>;
}

interface WebPushTestingServer {
  readonly _app: { listen(port: number, host: string, cb: () => void): http.Server };
  setRequestHandlers(): void;
}
interface PushApiModel {
  notifyUrl: string;
}

/**
 * Starts web-push-testing in process. Its package `main` (server.js at the root) does
 * not exist and its `startServer()` listens on every interface and calls
 * `process.exit` on errors, so we build its express app and listen on loopback
 * ourselves. Its request handlers share one module-level model: one service per process.
 */
export async function startPushService(): Promise<PushService> {
  const Server = require("web-push-testing/src/server.js") as new (model: PushApiModel, port: number) => WebPushTestingServer;
  const { PushApiModel: Model } = require("web-push-testing/src/PushApiModel.js") as {
    PushApiModel: new () => PushApiModel;
  };
  const model = new Model();
  const server = new Server(model, 0);
  const listener = await new Promise<http.Server>((resolve, reject) => {
    const s = server._app.listen(0, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
  const { port } = listener.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  // The constructor derives notify URLs from "localhost"; pin them to the address we bound.
  model.notifyUrl = `${origin}/notify/`;
  server.setRequestHandlers();

  async function call(path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${origin}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body ?? {}),
    });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }

  return {
    origin,
    hostPort: `127.0.0.1:${port}`,
    async subscribe(applicationServerKey) {
      // userVisibleOnly, if sent, must be the *string* "true"/"false"; we leave it out.
      const { status, json } = await call("/subscribe", { applicationServerKey });
      if (status !== 200) throw new Error(`subscribe failed: ${status} ${JSON.stringify(json)}`);
      return (json as { data: TestSubscription }).data;
    },
    async expire(clientHash) {
      const { status } = await call(`/expire-subscription/${clientHash}`);
      if (status !== 200) throw new Error(`expire failed: ${status}`);
    },
    async notifications(clientHash) {
      const { status, json } = await call("/get-notifications", { clientHash });
      if (status !== 200) throw new Error(`get-notifications failed: ${status} ${JSON.stringify(json)}`);
      return (json as { data: { messages: string[] } }).data.messages;
    },
    async close() {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------
// Scripted http server

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export type Script = (req: RecordedRequest, res: http.ServerResponse) => void;

export interface ScriptedServer {
  readonly port: number;
  /** `127.0.0.1:PORT` or `[::1]:PORT` */
  readonly hostPort: string;
  readonly origin: string;
  /** TCP connections accepted so far (counted on connect, before any byte is read). */
  readonly connections: number;
  readonly requests: readonly RecordedRequest[];
  /** Replaces how the server answers from now on. */
  respond(script: Script): void;
  close(): Promise<void>;
}

export async function startScriptedServer(host: "127.0.0.1" | "::1" = "127.0.0.1"): Promise<ScriptedServer> {
  let script: Script = (_req, res) => {
    res.statusCode = 201;
    res.end();
  };
  let connections = 0;
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(recorded);
      script(recorded, res);
    });
  });
  server.on("connection", () => {
    connections++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostPort = host === "::1" ? `[::1]:${port}` : `${host}:${port}`;
  return {
    port,
    hostPort,
    origin: `http://${hostPort}`,
    get connections() {
      return connections;
    },
    requests,
    respond(next) {
      script = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------
// Fake DNS

/** A resolver for the push guard that answers from a table and records what it was asked; never touches DNS. */
export function fakeDns(table: Record<string, string[]>): LookupFn & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (answers === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

// ---------------------------------------------------------------------------
// Loopback jail

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.has(address) || address.startsWith("127.") || address === "::ffff:127.0.0.1";
}

export interface LoopbackJail {
  /** Destinations that were refused (each one a test bug or a guard bug). */
  readonly refused: readonly string[];
  uninstall(): void;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
type Lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

/**
 * Patches `net.Socket.prototype.connect` (which http, https, tls and fetch all reach)
 * so that a connection to anything but loopback fails before a packet leaves. Host
 * names are allowed only if their lookup (the caller's or the system's) answers with
 * loopback addresses alone.
 */
export function installLoopbackJail(): LoopbackJail {
  const refused: string[] = [];
  const original = net.Socket.prototype.connect;
  const patched = function (this: net.Socket, ...args: unknown[]): net.Socket {
    const first = args[0];
    const options = (Array.isArray(first) ? first[0] : first) as
      | (net.TcpNetConnectOpts & { path?: string; lookup?: Lookup })
      | number
      | string
      | undefined;
    if (typeof options === "object" && options !== null && typeof options.path === "string" && options.path !== "") {
      // A Unix socket or named pipe: local by construction.
    } else if (typeof options === "object" && options !== null) {
      const host = options.host ?? "localhost";
      if (net.isIP(host) !== 0) {
        if (!isLoopbackAddress(host)) {
          refused.push(host);
          process.nextTick(() => this.destroy(Object.assign(new Error(`loopback jail: refused ${host}`), { code: "EJAIL" })));
          return this;
        }
      } else {
        const inner: Lookup = options.lookup ?? (dns.lookup as unknown as Lookup);
        options.lookup = (hostname, lookupOptions, callback) => {
          inner(hostname, lookupOptions, (err, address, family) => {
            if (err) return callback(err, address, family);
            const list = Array.isArray(address) ? address.map((a) => a.address) : [address];
            const bad = list.find((a) => !isLoopbackAddress(a));
            if (bad !== undefined) {
              refused.push(`${hostname}->${bad}`);
              return callback(Object.assign(new Error(`loopback jail: refused ${hostname} (${bad})`), { code: "EJAIL" }), address, family);
            }
            callback(null, address, family);
          });
        };
      }
    } else {
      // connect(port, host) or a shape we do not know: allow literal loopback only.
      const host = typeof options === "number" && typeof args[1] === "string" ? args[1] : undefined;
      if (host === undefined || !isLoopbackAddress(host)) {
        refused.push(String(host));
        process.nextTick(() => this.destroy(Object.assign(new Error(`loopback jail: refused ${String(host)}`), { code: "EJAIL" })));
        return this;
      }
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  net.Socket.prototype.connect = patched as typeof original;
  return {
    refused,
    uninstall() {
      net.Socket.prototype.connect = original;
    },
  };
}
