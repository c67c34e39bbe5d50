/**
 * An absolute http(s) URI made only of plain URI characters (RFC 3986 unreserved,
 * reserved and percent-escapes), which `URL` also accepts. Such a string holds no
 * whitespace, control character, quote or angle bracket, so it is safe between the
 * angle brackets of a header and in a JSON payload unchanged.
 */
export function isPlainHttpUri(value: string): boolean {
  const known = checked.get(value);
  if (known !== undefined) return known;
  let verdict = PLAIN_HTTP_URI.test(value);
  if (verdict) {
    try {
      new URL(value);
    } catch {
      verdict = false;
    }
  }
  // The same few links (unsubscribe pages, push services) recur on every message, and
  // parsing a URL costs more than the rest of building the message.
  if (checked.size >= CACHE_SIZE) checked.clear();
  checked.set(value, verdict);
  return verdict;
}

const PLAIN_HTTP_URI = /^https?:\/\/(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+(?:#(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)?$/;
const CACHE_SIZE = 4096;
const checked = new Map<string, boolean>();
