import { describe, expect, it } from "vitest";
import { PermanentError, TransientError } from "../../handlers/core/errors";
import { isForbiddenAddress, maskUrl, normalizeAllowEntry, resolveSafeTarget } from "../../handlers/channels/push-address-guard";
import { fakeDns } from "../support/push-service";

// The push sender against live listeners on forbidden addresses (zero connections, through
// redirects and DNS names) is in test/security/push-ssrf.test.ts.

const TOKEN = "gAAAAABsecretSubscriptionToken";

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
