/**
 * Masking of personal data and secrets before anything is logged. Pure, so every
 * target's logger (pino locally, JSON lines on Lambda) masks the same way.
 */

/** `ada@example.com` → `a***@example.com`: enough to tell addresses apart, not to harvest them. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at <= 0) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

/** `+14155550123` → `+1415*****23`. */
export function maskPhone(phone: string): string {
  if (phone.length < 6) return "***";
  return `${phone.slice(0, 5)}${"*".repeat(Math.max(1, phone.length - 7))}${phone.slice(-2)}`;
}

/** A push endpoint's path is a bearer capability: keep only the origin. */
export function maskUrl(url: string): string {
  try {
    return `${new URL(url).origin}/***`;
  } catch {
    return "***";
  }
}

/** Masks any address herald handles, by its shape. */
export function maskAddress(address: string): string {
  if (address.startsWith("+")) return maskPhone(address);
  if (address.includes("@")) return maskEmail(address);
  if (/^https?:\/\//.test(address)) return maskUrl(address);
  return address.length > 8 ? `${address.slice(0, 4)}***` : "***";
}

/** Keys whose values are personal data or secrets wherever they appear in a log line. */
const SENSITIVE = new Set(["email", "phone", "to", "address", "endpoint", "name", "body", "html", "text", "subject", "password", "token", "authToken", "privateKey", "auth", "p256dh"]);
const SECRET = new Set(["password", "token", "authToken", "privateKey", "auth", "p256dh", "secret"]);

/** Deep copy with sensitive values masked; depth-limited so a cyclic or huge object cannot stall logging. */
export function maskFields(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => maskFields(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (SECRET.has(key)) out[key] = "[secret]";
    // A push service's message id is the Location it answered with (RFC 8030 5.1): a URL
    // that can carry the subscription's capability token in its path (the local push
    // service's does). SMS SIDs and SMTP replies are kept whole; URLs keep their origin.
    // Found by test/security/secrets-and-logs.test.ts.
    else if (key === "providerMessageId" && typeof field === "string" && /^https?:\/\//i.test(field)) out[key] = maskUrl(field);
    else if (SENSITIVE.has(key) && typeof field === "string") out[key] = key === "body" || key === "html" || key === "text" || key === "subject" || key === "name" ? `[${field.length} chars]` : maskAddress(field);
    else out[key] = maskFields(field, depth + 1);
  }
  return out;
}
