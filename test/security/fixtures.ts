/**
 * Shared by the security suite: hostile-input events, message metadata for driving a
 * channel sender directly, recognisable secrets and the check that none of them leaked
 * in any of the forms the protocols would put them in.
 */
import { createECDH, randomBytes } from "node:crypto";
import webpush from "web-push";
import { expect } from "vitest";
import type { MessageMeta } from "../../handlers/core/ports";

/** A herald.test_notification envelope (contact points inline) with a fresh id. */
export function testNotification(source: string, data: Record<string, unknown>): { id: string; source: string; event: Record<string, unknown> } {
  const id = `sec-${randomBytes(6).toString("hex")}`;
  return {
    id,
    source,
    event: { specversion: "1.0", id, source, type: "herald.test_notification", dataschema: "https://herald.dev/schemas/events/herald.test_notification/v1.schema.json", data },
  };
}

/** Keys of a browser subscription: a fresh P-256 point and auth secret (valid, but nobody can read what they encrypt). */
export function subscriptionKeys(): { p256dh: string; auth: string } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") };
}

/** Metadata of a message as the rules would make it for a test notification on `channel`. */
export function messageMeta(channel: string, idempotencyKey: string = randomBytes(32).toString("hex")): MessageMeta {
  return {
    idempotencyKey,
    channel,
    eventId: "evt-sec",
    eventSource: "/security",
    eventType: "herald.test_notification",
    eventVersion: 1,
    rule: "test-notification",
    recipientId: "inline",
    category: "test",
    critical: false,
    locale: "en",
    createdAt: "2026-11-26T00:00:00Z",
  };
}

export const SMTP_USER = "herald";
// Characters that percent-encoding changes, so the encoded form is checked too.
export const SMTP_PASSWORD = `smtp-S3cret/${randomBytes(6).toString("hex")}@pass`;
export const TWILIO_SID = `AC${randomBytes(16).toString("hex")}`;
export const TWILIO_TOKEN = randomBytes(16).toString("hex");
export const VAPID = webpush.generateVAPIDKeys();

/** Every form in which each secret could leak. */
const LEAKS: Record<string, string[]> = {
  "SMTP password": [SMTP_PASSWORD, encodeURIComponent(SMTP_PASSWORD), Buffer.from(`\u0000${SMTP_USER}\u0000${SMTP_PASSWORD}`).toString("base64")],
  "Twilio auth token": [TWILIO_TOKEN, Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString("base64")],
  "VAPID private key": [VAPID.privateKey, Buffer.from(VAPID.privateKey, "base64url").toString("base64"), Buffer.from(VAPID.privateKey, "base64url").toString("hex")],
};

export function expectNoSecrets(output: string, where: string): void {
  for (const [secret, forms] of Object.entries(LEAKS)) {
    for (const form of forms) expect(output.includes(form), `${secret} appears in ${where}`).toBe(false);
  }
}
