import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createECDH, randomBytes } from "node:crypto";
import webpush from "web-push";
import { PermanentError, TransientError } from "../../handlers/core/errors";
import type { Logger } from "../../handlers/core/ports";
import {
  isForbiddenAddress,
  maskUrl,
  normalizeAllowEntry,
  resolveSafeTarget,
  type LookupFn,
} from "../../handlers/channels/push-address-guard";
import { push, type PushConfig, type PushMessage } from "../../handlers/channels/push";
import { installLoopbackJail, startScriptedServer, type LoopbackJail, type ScriptedServer } from "../support/push-service";

const TOKEN = "gAAAAABsecretSubscriptionToken";

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A resolver that answers from a table and records what it was asked; never touches DNS. */
function fakeDns(table: Record<string, string[]>): LookupFn & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (answers === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

describe("isForbiddenAddress", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback /8"],
    ["10.0.0.1", "private 10/8"],
    ["10.255.255.255", "private 10/8 end"],
    ["172.16.0.1", "private 172.16/12 start"],
    ["172.31.255.255", "private 172.16/12 end"],
    ["192.168.1.1", "private 192.168/16"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.0.1", "link-local"],
    ["100.64.0.1", "CGNAT start"],
    ["100.127.255.255", "CGNAT end"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "this network"],
    ["192.0.0.192", "IETF protocol assignments"],
    ["192.0.2.10", "TEST-NET-1"],
    ["198.51.100.7", "TEST-NET-2"],
    ["203.0.113.9", "TEST-NET-3"],
    ["198.18.0.1", "benchmarking"],
    ["198.19.255.255", "benchmarking end"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast SSDP"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "broadcast"],
    ["::1", "IPv6 loopback"],
    ["::", "IPv6 unspecified"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local with zone"],
    ["febf::1", "link-local /10 end"],
    ["fec0::1", "site-local"],
    ["fc00::1", "unique-local fc"],
    ["fd12:3456:789a::1", "unique-local fd"],
    ["ff02::1", "multicast"],
    ["ff0e::1", "global multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:7f00:1", "IPv4-mapped loopback, hex form"],
    ["::ffff:169.254.169.254", "IPv4-mapped metadata"],
    ["::ffff:10.1.2.3", "IPv4-mapped private"],
    ["::127.0.0.1", "IPv4-compatible loopback"],
    ["::8.8.8.8", "IPv4-compatible (deprecated)"],
    ["::ffff:0:10.0.0.1", "IPv4-translated private"],
    ["64:ff9b::7f00:1", "NAT64 of loopback"],
    ["64:ff9b::169.254.169.254", "NAT64 of metadata"],
    ["64:ff9b:1::8.8.8.8", "local-use NAT64"],
    ["2002:7f00:1::1", "6to4 of loopback"],
    ["2002:a9fe:a9fe::", "6to4 of metadata"],
    ["2002:c0a8:0101::1", "6to4 of 192.168.1.1"],
    ["2001:db8::1", "documentation"],
    ["3fff::1", "documentation (RFC 9637)"],
    ["2001::1", "Teredo"],
    ["2001:2::1", "benchmarking"],
    ["100::1", "discard-only"],
    ["", "empty"],
    ["localhost", "not an IP: fail closed"],
    ["127.1", "short form is not an IP here: fail closed"],
    ["1.2.3.4.5", "malformed"],
  ])("%s (%s) is forbidden", (ip) => {
    expect(isForbiddenAddress(ip)).toBe(true);
  });

  it.each([
    ["8.8.8.8"],
    ["1.1.1.1"],
    ["93.184.216.34"],
    ["172.15.255.255"],
    ["172.32.0.1"],
    ["100.63.255.255"],
    ["100.128.0.1"],
    ["169.253.255.255"],
    ["198.17.255.255"],
    ["198.20.0.1"],
    ["223.255.255.254"],
    ["2606:4700:4700::1111"],
    ["2001:4860:4860::8888"],
    ["2a00:1450:4001:830::200e"],
    ["::ffff:8.8.8.8"],
    ["64:ff9b::8.8.8.8"],
    ["2002:808:808::1"],
  ])("%s is a public address", (ip) => {
    expect(isForbiddenAddress(ip)).toBe(false);
  });
});

describe("resolveSafeTarget", () => {
  const none = new Set<string>();

  it.each([
    ["https://127.0.0.1/push/" + TOKEN],
    ["https://10.0.0.7/push/" + TOKEN],
    ["https://169.254.169.254/latest/meta-data/" + TOKEN],
    ["https://[::1]:8443/push/" + TOKEN],
    ["https://[::ffff:127.0.0.1]/push/" + TOKEN],
    ["https://[fd00::5]/push/" + TOKEN],
    ["https://100.64.3.4/push/" + TOKEN],
    ["https://2130706433/push/" + TOKEN], // WHATWG URL normalizes this to 127.0.0.1
    ["https://0x7f.1/push/" + TOKEN],
  ])("refuses %s, naming the host but not the token", async (endpoint) => {
    const lookup = fakeDns({});
    const error = await resolveSafeTarget(new URL(endpoint), { allowHosts: none, lookup }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe("push-endpoint-forbidden");
    expect((error as Error).message).toContain(new URL(endpoint).host);
    expect((error as Error).message).not.toContain(TOKEN);
    expect(lookup.calls).toEqual([]); // literals are not looked up
  });

  it("refuses http even for a public address", async () => {
    const lookup = fakeDns({ "push.example.com": ["93.184.216.34"] });
    await expect(
      resolveSafeTarget(new URL(`http://push.example.com/${TOKEN}`), { allowHosts: none, lookup }),
    ).rejects.toMatchObject({ code: "push-endpoint-forbidden" });
  });

  it("refuses other schemes even on an allowed host", async () => {
    await expect(
      resolveSafeTarget(new URL(`ftp://127.0.0.1:21/${TOKEN}`), { allowHosts: new Set(["127.0.0.1"]) }),
    ).rejects.toMatchObject({ code: "push-endpoint-forbidden" });
  });

  it("refuses a name that resolves to a private address", async () => {
    const lookup = fakeDns({ "push.evil.example": ["10.1.2.3"] });
    const error = await resolveSafeTarget(new URL(`https://push.evil.example/${TOKEN}`), { allowHosts: none, lookup }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: "push-endpoint-forbidden" });
    expect((error as Error).message).toContain("push.evil.example");
    expect((error as Error).message).not.toContain(TOKEN);
    expect(lookup.calls).toEqual(["push.evil.example"]);
  });

  it("refuses a name when any one of its answers is forbidden, whatever the order", async () => {
    for (const answers of [
      ["93.184.216.34", "169.254.169.254"],
      ["::1", "93.184.216.34"],
      ["2606:4700::1", "::ffff:10.0.0.1"],
    ]) {
      const lookup = fakeDns({ "mixed.example": answers });
      await expect(resolveSafeTarget(new URL("https://mixed.example/x"), { allowHosts: none, lookup })).rejects.toMatchObject({
        code: "push-endpoint-forbidden",
      });
    }
  });

  it("passes a public name and pins the first checked address", async () => {
    const lookup = fakeDns({ "fcm.googleapis.com": ["142.250.185.106", "2a00:1450:4001:82a::200a"] });
    const target = await resolveSafeTarget(new URL(`https://fcm.googleapis.com/fcm/send/${TOKEN}`), { allowHosts: none, lookup });
    expect(target).toMatchObject({ hostname: "fcm.googleapis.com", port: 443, address: "142.250.185.106", family: 4, allowListed: false });
  });

  it("passes a public IPv6 literal without brackets in the pinned address", async () => {
    const target = await resolveSafeTarget(new URL("https://[2606:4700::1111]:8443/x"), { allowHosts: none });
    expect(target).toMatchObject({ hostname: "2606:4700::1111", port: 8443, address: "2606:4700::1111", family: 6 });
  });

  it("lets an allow-listed host:port use http and loopback, but only on that port", async () => {
    const allowHosts = new Set(["127.0.0.1:8090"]);
    await expect(resolveSafeTarget(new URL("http://127.0.0.1:8090/notify/x"), { allowHosts })).resolves.toMatchObject({
      address: "127.0.0.1",
      allowListed: true,
    });
    await expect(resolveSafeTarget(new URL("http://127.0.0.1:8091/notify/x"), { allowHosts })).rejects.toMatchObject({
      code: "push-endpoint-forbidden",
    });
    await expect(resolveSafeTarget(new URL("https://127.0.0.1:8091/notify/x"), { allowHosts })).rejects.toMatchObject({
      code: "push-endpoint-forbidden",
    });
  });

  it("turns a DNS failure into a transient error", async () => {
    const error = await resolveSafeTarget(new URL("https://nowhere.example/x"), { allowHosts: none, lookup: fakeDns({}) }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: "push-endpoint-unresolved" });
  });

  it("normalizes allow-list entries", () => {
    expect(normalizeAllowEntry("127.0.0.1:8090")).toBe("127.0.0.1:8090");
    expect(normalizeAllowEntry(" LocalHost ")).toBe("localhost");
    expect(normalizeAllowEntry("[::1]:9000")).toBe("[::1]:9000");
    expect(normalizeAllowEntry("[::1]")).toBe("[::1]");
    expect(normalizeAllowEntry("host:80")).toBe("host:80");
    expect(normalizeAllowEntry("http://x")).toBeUndefined();
    expect(normalizeAllowEntry("a/b")).toBeUndefined();
    expect(normalizeAllowEntry("")).toBeUndefined();
  });

  it("masks endpoint paths", () => {
    expect(maskUrl(`https://fcm.googleapis.com/fcm/send/${TOKEN}?x=1`)).toBe("https://fcm.googleapis.com/…");
    expect(maskUrl("not a url")).toBe("<invalid url>");
  });
});

describe("push sender refuses forbidden endpoints before connecting", () => {
  let jail: LoopbackJail;
  let forbidden: ScriptedServer; // the "internal service" on loopback that must never be reached
  let forbidden6: ScriptedServer | undefined;
  let allowed: ScriptedServer; // an allow-listed push service that redirects
  const vapid = webpush.generateVAPIDKeys();
  const subscriptionKeys = (() => {
    // Any valid P-256 point works: the forbidden targets must never see a byte.
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    return { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") };
  })();

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

  function config(lookup: LookupFn): PushConfig {
    return {
      ...push.readConfig({
        HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
        HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
        HERALD_VAPID_SUBJECT: "mailto:ops@herald.example",
        HERALD_PUSH_ALLOW_HOSTS: allowed.hostPort,
      }),
      lookup,
      timeoutMs: 3000,
    };
  }

  function message(endpoint: string): PushMessage {
    return {
      meta: {
        idempotencyKey: "a".repeat(64),
        channel: "push",
        eventId: "evt-1",
        eventSource: "test",
        eventType: "test.guard",
        eventVersion: 1,
        rule: "guard",
        recipientId: "user-1",
        category: "security",
        critical: false,
        locale: "en",
        createdAt: "2025-01-01T00:00:00Z",
      },
      subscription: { endpoint, keys: subscriptionKeys },
      payload: { title: "hi", body: "there" },
      ttlSeconds: 60,
      urgency: "normal",
    };
  }

  async function expectRefused(endpoint: string, lookup: LookupFn = fakeDns({})): Promise<void> {
    const sender = push.createSender(config(lookup), { logger: quietLogger });
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
});
