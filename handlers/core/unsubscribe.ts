import { createHmac, timingSafeEqual } from "node:crypto";
import type { RecipientDirectory } from "./recipients";

/** Where one-click unsubscribe links point and the key that signs them. */
export interface UnsubscribeConfig {
  /** e.g. https://notify.example.com/v1/unsubscribe */
  readonly baseUrl: string;
  readonly secret: string;
}

/**
 * A link that opts the recipient out of one category on one channel. Signed, so that
 * nobody can unsubscribe someone else by editing the query string.
 */
export function unsubscribeUrl(config: UnsubscribeConfig, recipientId: string, category: string, channel: string): string {
  // The same recipient gets the same link for every message of a category: remember
  // recent ones rather than paying an HMAC per message on the rules hot path.
  let cache = signedLinks.get(config);
  if (!cache) {
    cache = new Map();
    signedLinks.set(config, cache);
  }
  const key = `${config.baseUrl}\u0000${recipientId}\u0000${category}\u0000${channel}`;
  let link = cache.get(key);
  if (link === undefined) {
    // Built by hand: URLSearchParams costs more than the HMAC itself.
    const signature = sign(config.secret, recipientId, category, channel);
    link = `${config.baseUrl}?r=${encodeURIComponent(recipientId)}&c=${encodeURIComponent(category)}&ch=${encodeURIComponent(channel)}&s=${signature}`;
    if (cache.size >= LINK_CACHE_SIZE) cache.clear();
    cache.set(key, link);
  }
  return link;
}

/** Recently signed links per config (keyed by object, so a new secret never reuses old links). */
const signedLinks = new WeakMap<UnsubscribeConfig, Map<string, string>>();
const LINK_CACHE_SIZE = 10_000;

/** The opt-out a link asks for, or undefined when its signature does not match. */
export function verifyUnsubscribe(secret: string, query: URLSearchParams): { recipientId: string; category: string; channel: string } | undefined {
  const recipientId = query.get("r");
  const category = query.get("c");
  const channel = query.get("ch");
  const signature = query.get("s");
  if (!recipientId || !category || !channel || !signature) return undefined;
  const expected = Buffer.from(sign(secret, recipientId, category, channel));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? { recipientId, category, channel } : undefined;
}

function sign(secret: string, recipientId: string, category: string, channel: string): string {
  return createHmac("sha256", secret).update(JSON.stringify([recipientId, category, channel])).digest("base64url");
}

/** What an unsubscribe link's endpoint answers, whatever serves it (local HTTP server, a function URL). */
export interface UnsubscribeAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/**
 * Answers a request to an unsubscribe link. GET shows a confirmation form and changes
 * nothing: mail scanners prefetch links, and a prefetch must not unsubscribe anyone.
 * POST (the form, or RFC 8058 one-click from the mail client) records the opt-out of that
 * category on that channel. A link whose signature does not verify is refused.
 */
export async function answerUnsubscribe(
  request: { readonly method: string; readonly path: string; readonly query: URLSearchParams },
  secret: string,
  directory: Pick<RecipientDirectory, "get" | "put">,
): Promise<UnsubscribeAnswer> {
  const json = (status: number, value: unknown): UnsubscribeAnswer => ({ status, contentType: "application/json", body: JSON.stringify(value) });
  if (request.method !== "GET" && request.method !== "POST") return json(405, { error: "method-not-allowed", message: "use GET or POST" });
  const verified = verifyUnsubscribe(secret, request.query);
  if (!verified) return json(400, { error: "invalid-link", message: "this unsubscribe link is not valid" });
  if (request.method === "GET") {
    const what = `${escapeHtml(verified.category)} messages by ${escapeHtml(verified.channel)}`;
    const action = escapeHtml(`${request.path}?${request.query.toString()}`);
    return {
      status: 200,
      contentType: "text/html; charset=utf-8",
      body: `<!doctype html><title>Unsubscribe</title><form method="post" action="${action}"><p>Stop receiving ${what}?</p><button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
    };
  }
  const recipient = await directory.get(verified.recipientId);
  if (recipient) {
    const optOuts = [...(recipient.optOuts ?? []).filter((o) => !(o.category === verified.category && o.channel === verified.channel)), { category: verified.category, channel: verified.channel }];
    await directory.put({ ...recipient, optOuts });
  }
  return json(200, { unsubscribed: verified });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
