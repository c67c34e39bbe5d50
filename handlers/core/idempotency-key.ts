import { createHash } from "node:crypto";

/**
 * The key that stops a second send: sha256 over (source, id, rule, recipient, channel,
 * address), hex. The address is part of it because one recipient can hold several
 * addresses on a channel (a push subscription per browser), each its own message.
 * JSON array encoding keeps the fields unambiguous ("a|b" + "c" never equals "a" + "b|c").
 */
export function idempotencyKey(parts: {
  source: string;
  id: string;
  rule: string;
  recipientId: string;
  channel: string;
  address: string;
}): string {
  return createHash("sha256")
    .update(JSON.stringify([parts.source, parts.id, parts.rule, parts.recipientId, parts.channel, parts.address]))
    .digest("hex");
}
