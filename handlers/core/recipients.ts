/**
 * Recipients: who gets notified, how to reach them, and what they asked for. The
 * `RecipientDirectory` port is implemented per target (in memory here, SQLite locally,
 * DynamoDB / Firestore / Table Storage in the clouds).
 */
import type { SuppressionReason } from "./errors";

/** A browser's Web Push subscription, as `PushSubscription.toJSON()` gives it. */
export interface PushSubscriptionJson {
  readonly endpoint: string;
  readonly expirationTime?: number | null;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/**
 * Contact points by channel. The built-in channels read `email`, `phone` and `push`; a
 * channel module a team adds reads its own key (e.g. `slack`), so no core change is needed.
 */
export interface Contacts {
  readonly email?: string;
  /** E.164. */
  readonly phone?: string;
  readonly push?: readonly PushSubscriptionJson[];
  readonly [channel: string]: unknown;
}

/** "Do not send me <category> on <channel>"; `*` matches every category or channel. */
export interface OptOut {
  readonly category: string;
  readonly channel: string;
}

/** Local wall-clock window ("22:00" to "07:00" wraps midnight) in the recipient's time zone. */
export interface QuietHours {
  readonly start: string;
  readonly end: string;
}

export interface Recipient {
  readonly id: string;
  readonly name?: string;
  readonly contacts: Contacts;
  /** BCP 47, e.g. "de" or "en-GB"; templates fall back to the default locale. */
  readonly locale?: string;
  /** IANA zone, e.g. "Europe/Berlin"; quiet hours are in this zone. */
  readonly timeZone?: string;
  readonly optOuts?: readonly OptOut[];
  readonly quietHours?: QuietHours;
}

/** An address that must not be sent to on a channel, and why. */
export interface Suppression {
  readonly channel: string;
  readonly address: string;
  readonly reason: SuppressionReason;
  /** ISO 8601. */
  readonly at: string;
}

/**
 * The recipient store. Suppression is by address, not by recipient: a hard-bounced
 * address is suppressed for every recipient (and every inline contact) that uses it.
 */
export interface RecipientDirectory {
  get(id: string): Promise<Recipient | undefined>;
  put(recipient: Recipient): Promise<void>;
  delete(id: string): Promise<boolean>;
  list(options?: { limit?: number; after?: string }): Promise<Recipient[]>;
  suppress(suppression: Suppression): Promise<void>;
  suppression(channel: string, address: string): Promise<Suppression | undefined>;
  /** Removes a gone Web Push subscription (404/410) from whoever holds it. */
  removePushSubscription(endpoint: string): Promise<void>;
}
