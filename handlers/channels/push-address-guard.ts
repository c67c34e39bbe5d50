/**
 * Address guard for web push endpoints.
 *
 * A push subscription's endpoint comes from a browser, i.e. from the user: without a
 * guard, anyone who can register a subscription can make our delivery function POST to
 * the cloud metadata service, to a database on the private network, or to loopback.
 * So every endpoint (and every redirect target) is resolved once, refused if any
 * answer is not a public unicast address, and the connection is then pinned to the
 * address that was checked, so a second DNS answer cannot rebind it in between.
 */
import { isIP } from "node:net";
import { lookup as dnsLookup } from "node:dns/promises";
import { PermanentError, TransientError } from "../core/errors";

/** One DNS answer, as `dns.lookup(host, { all: true })` gives it. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to all of its addresses; injectable so tests never touch real DNS. */
export type LookupFn = (hostname: string) => Promise<readonly LookupAddress[]>;

/** Where to connect, after the guard has passed the URL. */
export interface SafeTarget {
  readonly url: URL;
  /** Host name without IPv6 brackets, as used for SNI, certificate checks and the Host header. */
  readonly hostname: string;
  readonly port: number;
  /** The checked address the connection must go to (pinned; never resolved again). */
  readonly address: string;
  readonly family: 4 | 6;
  /** True when the host is in the allow list (loopback/private/http permitted for local testing). */
  readonly allowListed: boolean;
}

export const FORBIDDEN_CODE = "push-endpoint-forbidden";

/**
 * Masks a URL for messages and logs: scheme, host and port only. A push endpoint's path
 * is the subscription's capability token, so it is treated as a secret.
 */
export function maskUrl(url: URL | string): string {
  try {
    const parsed = typeof url === "string" ? new URL(url) : url;
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return "<invalid url>";
  }
}

// ---------------------------------------------------------------------------
// Address classification

/** [network, prefix length] pairs for IPv4, each checked as a CIDR block. */
const FORBIDDEN_V4: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8], // "this network"; 0.0.0.0 reaches loopback on Linux
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, incl. cloud metadata 169.254.169.254
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments (incl. 192.0.0.192 Oracle metadata)
  ["192.0.2.0", 24], // documentation TEST-NET-1
  ["192.88.99.0", 24], // deprecated 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation TEST-NET-2
  ["203.0.113.0", 24], // documentation TEST-NET-3
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, incl. broadcast 255.255.255.255
];

const FORBIDDEN_V4_PARSED = FORBIDDEN_V4.map(([net, bits]) => [ipv4ToInt(net), bits] as const);

function ipv4ToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

function isForbiddenV4Int(value: number): boolean {
  return FORBIDDEN_V4_PARSED.some(([net, bits]) => {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return ((value & mask) >>> 0) === net;
  });
}

/** Parses an IPv6 address (already validated by `isIP`) into 8 groups of 16 bits. */
function ipv6ToGroups(ip: string): number[] {
  let text = ip;
  // An embedded dotted quad (::ffff:127.0.0.1) is the last two groups written in decimal.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = ipv4ToInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const headGroups = parse(head);
  if (rest === undefined) return headGroups;
  const restGroups = parse(rest);
  const fill = Math.max(8 - headGroups.length - restGroups.length, 0);
  return [...headGroups, ...new Array<number>(fill).fill(0), ...restGroups];
}

function v4FromGroups(high: number, low: number): number {
  return ((high << 16) | low) >>> 0;
}

function isForbiddenV6Groups(g: readonly number[]): boolean {
  const at = (i: number): number => g[i] ?? 0;
  const zeroUpTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0);

  // ::/96: unspecified, loopback and the deprecated IPv4-compatible form. None of it is
  // a public unicast address a push service would use, so refuse the whole block.
  if (zeroUpTo(6)) return true;
  // ::ffff:0:0/96, IPv4-mapped: the socket really goes to the embedded IPv4 address.
  if (zeroUpTo(5) && at(5) === 0xffff) return isForbiddenV4Int(v4FromGroups(at(6), at(7)));
  // ::ffff:0:0:0/96, IPv4-translated (SIIT).
  if (zeroUpTo(4) && at(4) === 0xffff && at(5) === 0) return isForbiddenV4Int(v4FromGroups(at(6), at(7)));
  // 64:ff9b::/96, well-known NAT64 prefix: the translator connects to the embedded IPv4.
  if (at(0) === 0x64 && at(1) === 0xff9b && at(2) === 0 && at(3) === 0 && at(4) === 0 && at(5) === 0) {
    return isForbiddenV4Int(v4FromGroups(at(6), at(7)));
  }
  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): translation inside a private network.
  if (at(0) === 0x64 && at(1) === 0xff9b && at(2) === 1) return true;
  // 2002::/16, 6to4: the relay forwards to the IPv4 address in bits 16..48.
  if (at(0) === 0x2002) return isForbiddenV4Int(v4FromGroups(at(1), at(2)));
  // 2001::/23, IETF protocol assignments: Teredo (which hides an IPv4 address),
  // benchmarking 2001:2::/48, ORCHID; never a push service.
  if (at(0) === 0x2001 && at(1) < 0x0200) return true;
  // 2001:db8::/32 and 3fff::/20, documentation.
  if (at(0) === 0x2001 && at(1) === 0x0db8) return true;
  if (at(0) === 0x3fff && at(1) < 0x1000) return true;
  // Everything outside 2000::/3 (global unicast) is special: link-local fe80::/10,
  // site-local fec0::/10, unique-local fc00::/7, multicast ff00::/8, discard 100::/64,
  // SRv6 5f00::/16, and unassigned space. Refuse it all rather than list it.
  if ((at(0) & 0xe000) !== 0x2000) return true;
  return false;
}

/**
 * True when `ip` must never be a push destination: loopback, private, link-local (cloud
 * metadata), CGNAT, unspecified, unique-local, multicast, broadcast, reserved,
 * benchmarking, documentation, and IPv6 forms that embed such an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4). Anything that is not a valid IP address
 * is forbidden too: the guard fails closed.
 */
export function isForbiddenAddress(ip: string): boolean {
  let text = ip.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  // A zone id (fe80::1%eth0) names an interface: only link-local addresses carry one.
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const version = isIP(text);
  if (version === 4) return isForbiddenV4Int(ipv4ToInt(text));
  if (version === 6) {
    const groups = ipv6ToGroups(text.toLowerCase());
    if (groups.length !== 8 || groups.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffff)) return true;
    return isForbiddenV6Groups(groups);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Allow list

/**
 * Parses `host[:port]` entries (IPv6 in brackets) into the normalized keys the guard
 * matches: `host` (any port) or `host:port`. Returns undefined for a malformed entry.
 */
export function normalizeAllowEntry(entry: string): string | undefined {
  const trimmed = entry.trim();
  if (trimmed === "" || /[/?#@\s]/.test(trimmed)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(`http://${trimmed}`);
  } catch {
    return undefined;
  }
  const host = parsed.hostname.toLowerCase();
  if (host === "") return undefined;
  // `http://h:80` drops the default port; keep what the user wrote.
  const explicitPort = /:(\d+)$/.exec(trimmed);
  const hasPort = explicitPort !== null && !(host.startsWith("[") && trimmed.endsWith("]"));
  return hasPort ? `${host}:${Number(explicitPort[1])}` : host;
}

function defaultPort(protocol: string): number {
  return protocol === "https:" ? 443 : 80;
}

function isAllowListed(url: URL, allowHosts: ReadonlySet<string>): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port === "" ? defaultPort(url.protocol) : Number(url.port);
  return allowHosts.has(host) || allowHosts.has(`${host}:${port}`);
}

// ---------------------------------------------------------------------------
// Resolution

const defaultLookup: LookupFn = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function forbidden(url: URL, why: string): PermanentError {
  return new PermanentError(FORBIDDEN_CODE, `push endpoint host ${url.host || "<none>"} refused: ${why}`);
}

/**
 * Checks a push endpoint (or redirect target) and returns the one address to connect to.
 *
 * Refuses anything but https, and any host whose DNS answers include a forbidden
 * address (one bad answer is enough: the resolver could hand it to the connection
 * later). Hosts in `allowHosts` (`host` or `host:port`) skip both checks, for local
 * testing against a push service on loopback.
 *
 * @throws PermanentError `push-endpoint-forbidden` (message names the host, never the path)
 * @throws TransientError `push-endpoint-unresolved` when DNS fails
 */
export async function resolveSafeTarget(
  url: URL,
  opts: { allowHosts: ReadonlySet<string>; lookup?: LookupFn },
): Promise<SafeTarget> {
  const allowListed = isAllowListed(url, opts.allowHosts);
  if (url.protocol !== "https:" && !(allowListed && url.protocol === "http:")) {
    throw forbidden(url, `scheme ${url.protocol} is not https`);
  }
  if (url.username !== "" || url.password !== "") {
    throw forbidden(url, "credentials in the URL");
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (hostname === "") throw forbidden(url, "no host");
  const port = url.port === "" ? defaultPort(url.protocol) : Number(url.port);

  let answers: readonly LookupAddress[];
  const literal = isIP(hostname);
  if (literal !== 0) {
    answers = [{ address: hostname, family: literal }];
  } else {
    try {
      answers = await (opts.lookup ?? defaultLookup)(hostname);
    } catch (error) {
      throw new TransientError("push-endpoint-unresolved", `push endpoint host ${url.host} did not resolve`, {
        cause: error,
      });
    }
  }
  const first = answers[0];
  if (first === undefined) throw new TransientError("push-endpoint-unresolved", `push endpoint host ${url.host} has no addresses`);
  if (!allowListed) {
    const bad = answers.find((a) => isForbiddenAddress(a.address));
    if (bad !== undefined) throw forbidden(url, `it resolves to a non-public address (${bad.address})`);
  }
  const family = first.family === 6 || isIP(first.address) === 6 ? 6 : 4;
  return { url, hostname, port, address: first.address, family, allowListed };
}
