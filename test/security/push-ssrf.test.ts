/**
 * Threat: a push subscription's endpoint comes from a browser, i.e. from whoever can
 * register one. Without the guard, herald's push sender becomes an SSRF proxy into
 * loopback, the private network and the cloud metadata service. Every case runs the
 * real push sender (or the whole local runtime) against a live listener on the target
 * and asserts it saw zero connections: "refused" must mean "not one byte sent".
 *
 * web-push's own sendNotification would resolve DNS itself and is never used; the push
 * channel's client does not follow redirects on its own either, so each redirect hop
 * goes back through the guard (the redirect cases below would connect otherwise).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { PermanentError } from "../../handlers/core/errors";
import type { Logger } from "../../handlers/core/ports";
import type { LookupFn } from "../../handlers/channels/push-address-guard";
import { push, type PushConfig, type PushMessage } from "../../handlers/channels/push";
import { startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { fakeDns, installLoopbackJail, startScriptedServer, type LoopbackJail, type ScriptedServer } from "../support/push-service";
import { messageMeta, subscriptionKeys, testNotification } from "./fixtures";

const TOKEN = "gAAAAABsecretSubscriptionToken";

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

describe("push sender refuses forbidden endpoints before connecting", () => {
  let jail: LoopbackJail;
  let forbidden: ScriptedServer; // the "internal service" on loopback that must never be reached
  let forbidden6: ScriptedServer | undefined;
  let allowed: ScriptedServer; // an allow-listed push service that redirects
  const vapid = webpush.generateVAPIDKeys();
  const keys = subscriptionKeys();

  beforeAll(async () => {
    jail = installLoopbackJail();
    forbidden = await startScriptedServer("127.0.0.1");
    try {
      forbidden6 = await startScriptedServer("::1");
    } catch {
      forbidden6 = undefined; // no IPv6 loopback on this host
    }
    allowed = await startScriptedServer("127.0.0.1");
  });

  afterAll(async () => {
    await Promise.all([forbidden.close(), forbidden6?.close(), allowed.close()]);
    jail.uninstall();
  });

  /** Without `lookup`, the guard uses the system resolver (real DNS). */
  function config(lookup?: LookupFn): PushConfig {
    return {
      ...push.readConfig({
        HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
        HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
        HERALD_VAPID_SUBJECT: "mailto:ops@herald.example",
        HERALD_PUSH_ALLOW_HOSTS: allowed.hostPort,
      }),
      ...(lookup ? { lookup } : {}),
      timeoutMs: 3000,
    };
  }

  function message(endpoint: string): PushMessage {
    return { meta: messageMeta("push"), subscription: { endpoint, keys }, payload: { title: "hi", body: "there" }, ttlSeconds: 60, urgency: "normal" };
  }

  /** `lookup` "system" leaves the guard on the real resolver. */
  async function expectRefused(endpoint: string, lookup: LookupFn | "system" = fakeDns({})): Promise<void> {
    const sender = push.createSender(config(lookup === "system" ? undefined : lookup), { logger: quietLogger });
    try {
      const error = await sender.send(message(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: "push-endpoint-forbidden" });
      expect((error as Error).message).not.toContain(TOKEN);
    } finally {
      await sender.close();
    }
  }

  it("https://127.0.0.1 (a live loopback server)", async () => {
    await expectRefused(`https://127.0.0.1:${forbidden.port}/push/${TOKEN}`);
    expect(forbidden.connections).toBe(0);
  });

  it("https://[::1]", async (ctx) => {
    if (forbidden6 === undefined) ctx.skip();
    await expectRefused(`https://[::1]:${forbidden6!.port}/push/${TOKEN}`);
    expect(forbidden6!.connections).toBe(0);
  });

  it("https://[::ffff:127.0.0.1]", async () => {
    await expectRefused(`https://[::ffff:127.0.0.1]:${forbidden.port}/push/${TOKEN}`);
    expect(forbidden.connections).toBe(0);
  });

  it("http:// to the loopback server on a port that is not allow-listed", async () => {
    await expectRefused(`http://127.0.0.1:${forbidden.port}/push/${TOKEN}`);
    expect(forbidden.connections).toBe(0);
  });

  it("a DNS name that resolves to the loopback server", async () => {
    const lookup = fakeDns({ "push.rebind.example": ["127.0.0.1"] });
    await expectRefused(`https://push.rebind.example:${forbidden.port}/push/${TOKEN}`, lookup);
    expect(lookup.calls).toEqual(["push.rebind.example"]);
    expect(forbidden.connections).toBe(0);
  });

  it.each([
    ["10.20.30.40"],
    ["169.254.169.254"],
    ["100.64.1.2"],
    ["192.168.0.10"],
  ])("https://%s and a name resolving to it (the jail would catch a leak)", async (ip) => {
    await expectRefused(`https://${ip}/push/${TOKEN}`);
    await expectRefused(`https://internal.example/push/${TOKEN}`, fakeDns({ "internal.example": [ip] }));
    expect(jail.refused).toEqual([]);
  });

  it("a redirect from an allow-listed push service to the loopback server", async () => {
    const requestsBefore = allowed.requests.length;
    allowed.respond((_req, res) => {
      res.writeHead(307, { location: `https://127.0.0.1:${forbidden.port}/internal/${TOKEN}` });
      res.end();
    });
    await expectRefused(`${allowed.origin}/push/${TOKEN}`);
    expect(allowed.requests.length).toBe(requestsBefore + 1); // the allowed hop did happen
    expect(forbidden.connections).toBe(0);
  });

  it("a redirect to a DNS name that resolves to a private address", async () => {
    allowed.respond((_req, res) => {
      res.writeHead(302, { location: `https://metadata.internal.example/latest/${TOKEN}` });
      res.end();
    });
    const lookup = fakeDns({ "metadata.internal.example": ["169.254.169.254"] });
    await expectRefused(`${allowed.origin}/push/${TOKEN}`, lookup);
    expect(lookup.calls).toEqual(["metadata.internal.example"]);
    expect(jail.refused).toEqual([]);
  });

  it("a redirect to plain http on the same allowed server but another port", async () => {
    allowed.respond((_req, res) => {
      res.writeHead(308, { location: `http://127.0.0.1:${forbidden.port}/` });
      res.end();
    });
    await expectRefused(`${allowed.origin}/push/${TOKEN}`);
    expect(forbidden.connections).toBe(0);
  });

  it("localhost, through the system resolver (no injected lookup)", async () => {
    await expectRefused(`https://localhost:${forbidden.port}/push/${TOKEN}`, "system");
    expect(forbidden.connections).toBe(0);
  });

  it.each([
    ["decimal", (port: number) => `https://2130706433:${port}/push/${TOKEN}`],
    ["hex", (port: number) => `https://0x7f000001:${port}/push/${TOKEN}`],
    ["short dotted", (port: number) => `https://127.1:${port}/push/${TOKEN}`],
    ["octal", (port: number) => `https://0177.0.0.1:${port}/push/${TOKEN}`],
  ])("loopback written in %s form, on the live listener", async (_form, endpoint) => {
    await expectRefused(endpoint(forbidden.port));
    expect(forbidden.connections).toBe(0);
  });

  it.each([
    ["IPv6 link-local", `https://[fe80::1]/push/${TOKEN}`],
    ["IPv4-mapped metadata", `https://[::ffff:169.254.169.254]/latest/${TOKEN}`],
    ["AWS IMDS over IPv6", `https://[fd00:ec2::254]/latest/${TOKEN}`],
    ["Oracle/Alibaba-style metadata", `https://100.100.100.200/latest/${TOKEN}`],
    ["NAT64 of metadata", `https://[64:ff9b::a9fe:a9fe]/latest/${TOKEN}`],
  ])("%s (the jail would record any attempt)", async (_label, endpoint) => {
    await expectRefused(endpoint);
    expect(jail.refused).toEqual([]);
  });

  it("a name like metadata.google.internal resolving to the metadata address", async () => {
    const lookup = fakeDns({ "metadata.google.internal": ["169.254.169.254"] });
    await expectRefused(`https://metadata.google.internal/computeMetadata/v1/${TOKEN}`, lookup);
    expect(lookup.calls).toEqual(["metadata.google.internal"]);
    expect(jail.refused).toEqual([]);
  });

  it("a name whose answers mix a public address with loopback (rebinding bait)", async () => {
    const lookup = fakeDns({ "push.mixed.example": ["93.184.216.34", "127.0.0.1"] });
    await expectRefused(`https://push.mixed.example:${forbidden.port}/push/${TOKEN}`, lookup);
    expect(forbidden.connections).toBe(0);
    expect(jail.refused).toEqual([]);
  });

  it.each([
    ["the metadata address", () => `https://169.254.169.254/latest/meta-data/iam/${TOKEN}`],
    ["a protocol-relative loopback URL", () => `//127.0.0.1:${forbidden.port}/internal/${TOKEN}`],
    ["localhost (real DNS)", () => `https://localhost:${forbidden.port}/internal/${TOKEN}`],
  ])("a redirect from the allow-listed push service to %s", async (_label, location) => {
    const requestsBefore = allowed.requests.length;
    allowed.respond((_req, res) => {
      res.writeHead(301, { location: location() });
      res.end();
    });
    await expectRefused(`${allowed.origin}/push/${TOKEN}`, "system");
    expect(allowed.requests.length).toBe(requestsBefore + 1);
    expect(forbidden.connections).toBe(0);
    expect(jail.refused).toEqual([]);
  });
});

describe("the local runtime refuses a subscription on a forbidden address end to end", () => {
  let runtime: TestRuntime;
  let internal: ScriptedServer; // an "internal service" on loopback, not allow-listed

  beforeAll(async () => {
    internal = await startScriptedServer("127.0.0.1");
    runtime = await startTestRuntime({ HERALD_CHANNEL_PUSH_MAX_ATTEMPTS: "1" });
  });
  afterAll(async () => {
    await runtime?.stop();
    await internal?.close();
  });

  it.each([
    ["a loopback literal", (port: number) => `https://127.0.0.1:${port}/push/${TOKEN}`],
    ["localhost", (port: number) => `https://localhost:${port}/push/${TOKEN}`],
  ])("%s: push fails push-endpoint-forbidden, the listener sees nothing", async (_label, endpoint) => {
    // Any valid keys will do: the forbidden targets must never see a byte.
    const { id, source, event } = testNotification("/security/ssrf", {
      contacts: { pushSubscription: { endpoint: endpoint(internal.port), keys: subscriptionKeys() } },
      message: "hello",
    });
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    const outcome = await waitFor(async () => {
      const { outcomes } = await runtime.get(`/v1/outcomes?source=${encodeURIComponent(source)}&id=${id}`);
      return (outcomes as Array<{ channel: string; status: string; reason: string; detail?: string }>).find(
        (o) => o.channel === "push" && o.status !== "accepted",
      );
    }, 10_000, "the push outcome");
    expect(outcome).toMatchObject({ status: "failed", reason: "push-endpoint-forbidden" });
    expect(outcome.detail ?? "").not.toContain(TOKEN);
    expect(internal.connections).toBe(0);
    expect(internal.requests).toEqual([]);
  });
});
