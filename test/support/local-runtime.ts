import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHttpServer, type HttpExtension } from "../../handlers/runtime/local/http-server";
import type { Logger } from "../../handlers/core/ports";
import { createLogger } from "../../handlers/runtime/local/logger";
import { startLocalRuntime, type LocalRuntime } from "../../handlers/runtime/local/runtime";

/** A local runtime in this process on a scratch data directory, with its HTTP API. */
export interface TestRuntime {
  readonly runtime: LocalRuntime;
  readonly url: string;
  readonly dataDir: string;
  post(path: string, body: unknown, contentType?: string): Promise<{ status: number; body: any }>;
  get(path: string): Promise<any>;
  put(path: string, body: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * `logger` replaces the silent default (the security suite reads what the runtime logs);
 * `extensions` mounts routes beside the API (the console tests mount the console).
 */
export async function startTestRuntime(
  env: Record<string, string> = {},
  options: { logger?: Logger; extensions?: (runtime: LocalRuntime) => HttpExtension[] } = {},
): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), "herald-runtime-"));
  const runtime = await startLocalRuntime({
    env: { HERALD_PORT: "0", HERALD_DATA_DIR: dataDir, HERALD_POLL_MS: "20", HERALD_RETRY_BASE_MS: "20", HERALD_RETRY_CAP_MS: "200", ...env },
    logger: options.logger ?? createLogger({ level: "silent" }),
  });
  const http = await startHttpServer(runtime, { extensions: options.extensions?.(runtime) ?? [] });
  const request = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
    const response = await fetch(`${http.url}${path}`, {
      method,
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": contentType } } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    runtime,
    url: http.url,
    dataDir,
    post: (path, body, contentType) => request("POST", path, body, contentType),
    put: (path, body) => request("PUT", path, body),
    get: async (path) => (await request("GET", path)).body,
    async stop() {
      await http.close();
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every shipped example envelope, parsed. */
export function shippedExamples(): Array<{ type: string; file: string; event: Record<string, any> }> {
  return readdirSync("schemas/events").flatMap((type) =>
    readdirSync(join("schemas/events", type, "examples")).map((file) => ({
      type,
      file,
      event: JSON.parse(readFileSync(join("schemas/events", type, "examples", file), "utf8")),
    })),
  );
}
