/**
 * Twilio peers for tests, both on 127.0.0.1 only: Prism serving Twilio's own OpenAPI
 * spec as a validating mock, and a small scripted server that plays Twilio's replies
 * (success bodies, error bodies, hangs) and records every request it gets.
 */
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { freePort } from "./ports";

const ROOT = path.resolve(__dirname, "../..");

/** Twilio's OpenAPI description of the 2010-04-01 REST API, as shipped by @twilio-alpha/mcp. */
export const TWILIO_API_SPEC = path.join(ROOT, "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json");

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export interface PrismPeer {
  /** http://127.0.0.1:PORT, the origin to use instead of https://api.twilio.com. */
  readonly baseUrl: string;
  /** What Prism printed (last 64 KiB), for failure messages. */
  output(): string;
  /** Prism's log lines about requests, since it started listening. */
  requestLog(): readonly string[];
  stop(): Promise<void>;
}

/**
 * Starts `prism mock <Twilio spec> --errors` as a child process and waits until it
 * accepts connections. With --errors an invalid request gets a 4xx problem response
 * instead of a mocked success. Prism parses the 2 MB spec first: a few seconds.
 */
export async function startPrism(timeoutMs = 45_000): Promise<PrismPeer> {
  const port = await freePort();
  const bin = path.join(ROOT, "node_modules/.bin/prism");
  const child = spawn(
    bin,
    ["mock", TWILIO_API_SPEC, "-p", String(port), "-h", "127.0.0.1", "--errors", "--no-multiprocess"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_ENV: "test" } },
  );
  let output = "";
  let pending = "";
  let listening = false;
  const requestLog: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    output = (output + text).slice(-65_536);
    // Before "listening" Prism lists every route of the spec; after it, it logs requests.
    const lines = (pending + text).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (listening) requestLog.push(line);
      else if (line.includes("Prism is listening")) listening = true;
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let exited: number | string | null | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = code ?? signal;
      resolve();
    });
  });

  const stop = async () => {
    if (exited === undefined) {
      child.kill("SIGTERM");
      await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 3_000))]);
      if (exited === undefined) {
        child.kill("SIGKILL");
        await exit;
      }
    }
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(port))) {
    if (exited !== undefined) throw new Error(`prism exited (${exited}) before listening:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prism did not listen on ${port} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { baseUrl: `http://127.0.0.1:${port}`, output: () => output, requestLog: () => [...requestLog], stop };
}

/** One request as the scripted peer saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly form: Readonly<Record<string, string>>;
}

/** How the scripted peer answers the next request. */
export type Reply =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly hang: true };

export interface TwilioPeer {
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  /** Queues replies for the next requests; with none queued the peer answers 201 like Twilio. */
  reply(...replies: Reply[]): void;
  /** Forgets recorded requests and queued replies. */
  reset(): void;
  stop(): Promise<void>;
}

/** A Twilio REST error body: `{code, message, more_info, status}`. */
export function twilioError(status: number, code: number, message: string): Reply & { status: number } {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

/** A scripted stand-in for api.twilio.com on 127.0.0.1. */
export async function startTwilioPeer(): Promise<TwilioPeer> {
  const requests: RecordedRequest[] = [];
  const queue: Reply[] = [];
  let sequence = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const form = Object.fromEntries(new URLSearchParams(raw));
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        form,
      });
      const reply = queue.shift();
      if (reply && "hang" in reply) return; // never answer; the client has to give up
      if (reply) {
        const body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
        res.writeHead(reply.status, { "content-type": typeof reply.body === "string" ? "text/html" : "application/json", ...reply.headers });
        res.end(body);
        return;
      }
      sequence += 1;
      const sid = `SM${sequence.toString(16).padStart(32, "0")}`;
      res.writeHead(201, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          sid,
          status: "queued",
          to: form.To,
          from: form.From ?? null,
          messaging_service_sid: form.MessagingServiceSid ?? null,
          body: form.Body,
          num_segments: "1",
          api_version: "2010-04-01",
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    reply: (...replies) => queue.push(...replies),
    reset: () => {
      requests.length = 0;
      queue.length = 0;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
