/**
 * Who may use the console: anyone on this machine when it listens on loopback (but only
 * under a loopback Host name, and never by a cross-site write); only the token holder
 * when it listens anywhere else, in the browser as over plain HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { consoleAccess, createConsole } from "../../console/server/console";
import { ConfigError } from "../../handlers/core/errors";
import { startHttpServer } from "../../handlers/runtime/local/http-server";
import { createLogger } from "../../handlers/runtime/local/logger";
import { startLocalRuntime } from "../../handlers/runtime/local/runtime";
import { startTestRuntime, type TestRuntime } from "../support/local-runtime";
import { screenshot, sharedBrowser } from "./browser";

describe("console access rules", () => {
  it("needs no token on loopback, and a token on any other address", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]) expect(consoleAccess(host, {}).token, host).toBeUndefined();
    for (const host of ["0.0.0.0", "::", "192.168.1.20", "herald.internal"]) {
      const access = consoleAccess(host, {});
      expect(access.token, host).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(access.generated).toBe(true);
    }
    expect(consoleAccess("0.0.0.0", { HERALD_CONSOLE_TOKEN: "a-long-enough-token" })).toEqual({ token: "a-long-enough-token", generated: false });
    expect(() => consoleAccess("0.0.0.0", { HERALD_CONSOLE_TOKEN: "short" })).toThrow(/at least 16 characters/);
    expect(() => consoleAccess("0.0.0.0", { HERALD_CONSOLE_TOKEN: "long enough; but spaced" })).toThrow(/at least 16 characters of A-Z/);
  });
});

describe("the HTTP API beyond loopback without the console", { timeout: 30_000 }, () => {
  it("does not start: nothing would guard /v1 there", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "herald-open-api-"));
    const runtime = await startLocalRuntime({ env: { HERALD_HOST: "0.0.0.0", HERALD_PORT: "0", HERALD_DATA_DIR: dataDir }, logger: createLogger({ level: "silent" }) });
    try {
      const refused = await startHttpServer(runtime).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as Error).message).toMatch(/HERALD_HOST=0\.0\.0\.0 is not loopback.*HERALD_CONSOLE_TOKEN/);
    } finally {
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("console on loopback", { timeout: 30_000 }, () => {
  let herald: TestRuntime;
  beforeAll(async () => {
    herald = await startTestRuntime({}, { extensions: (runtime) => [createConsole(runtime)] });
  });
  afterAll(() => herald?.stop());

  it("serves without a token, refuses a foreign Host (DNS rebinding) and cross-site or non-JSON writes", async () => {
    expect((await fetch(`${herald.url}/api/console/v1/status`)).status).toBe(200);
    // fetch will not send another Host; node:http will, as a rebound DNS name would make a browser do.
    const rebound = await new Promise<number>((resolve, reject) => {
      request(`${herald.url}/console/`, { headers: { host: `attacker.example:${new URL(herald.url).port}` } }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      })
        .on("error", reject)
        .end();
    });
    expect(rebound).toBe(403);
    const crossSite = await fetch(`${herald.url}/api/console/v1/dlq/redrive`, { method: "POST", headers: { "content-type": "application/json", origin: "http://attacker.example" }, body: "{}" });
    expect(crossSite.status).toBe(403);
    const form = await fetch(`${herald.url}/api/console/v1/dlq/redrive`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
    expect(form.status).toBe(415);
  });
});

describe("console bound beyond loopback", { timeout: 30_000 }, () => {
  const token = "console-test-token-0123456789";
  let herald: TestRuntime;
  let browser: Browser;
  let local: string;
  const chromium = sharedBrowser();
  beforeEach(() => chromium.ready());

  beforeAll(async () => {
    let launched: Browser | undefined;
    [herald, launched] = await Promise.all([
      startTestRuntime({ HERALD_HOST: "0.0.0.0" }, { extensions: (runtime) => [createConsole(runtime, consoleAccess(runtime.config.host, { HERALD_CONSOLE_TOKEN: token }))] }),
      chromium.launch(),
    ]);
    browser = launched!;
    local = herald.url.replace("0.0.0.0", "127.0.0.1");
  });
  afterAll(async () => {
    await browser?.close();
    await herald?.stop();
  });

  it("refuses the page, its script, its API and its live stream without the token", async () => {
    for (const path of ["/console/", "/console/app.js", "/console/events", "/api/console/v1/status", "/api/console/catalog"]) {
      const response = await fetch(`${local}${path}`);
      expect(response.status, path).toBe(401);
      expect(await response.text(), path).toMatch(/needs its token/);
    }
    expect((await fetch(`${local}/console/?token=wrong-token-0123456789`, { redirect: "manual" })).status).toBe(401);
    expect((await fetch(`${local}/api/console/v1/status`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${local}/api/console/v1/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it("guards the plain /v1 API the same way, but not unsubscribe links or the health check", async () => {
    for (const path of ["/v1/status", "/v1/deliveries", "/v1/dlq"]) {
      const response = await fetch(`${local}${path}`);
      expect(response.status, path).toBe(401);
      expect(((await response.json()) as { message: string }).message).toMatch(/Bearer <HERALD_CONSOLE_TOKEN>/);
    }
    const publish = await fetch(`${local}/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(publish.status).toBe(401);
    expect((await fetch(`${local}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${local}/v1/health`)).status).toBe(200);
    // A link with a bad signature is refused by its HMAC (400), not by the token (401).
    expect((await fetch(`${local}/v1/unsubscribe?r=x&c=orders&ch=email&s=bad`)).status).toBe(400);
  });

  it("opens in the browser from the address with the token, which then leaves the address bar", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${local}/console/?token=${token}`);
    expect(page.url()).toBe(`${local}/console/`);
    await page.locator('[data-node="q-email"]').waitFor();
    await expect.poll(() => page.locator(".live").textContent(), { timeout: 10_000 }).toContain("live");
    await screenshot(page, "token-opened");
    await context.close();

    const stranger = await browser.newPage();
    const refused = await stranger.goto(`${local}/console/`);
    expect(refused!.status()).toBe(401);
    expect(await stranger.textContent("body")).toMatch(/needs its token/);
    await stranger.close();
  });
});
