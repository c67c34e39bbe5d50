/**
 * What the local runtime's delivery sinks record. Each sink stands in for a provider
 * (an SMTP relay, a browser push service, Twilio) and is reached by the real channel
 * module over the real protocol; what arrived is reported as one `SinkDelivery`.
 */

/** The channels a local sink exists for. */
export type SinkChannel = "email" | "push" | "sms";

/** One message a local sink accepted. */
export interface SinkDelivery {
  readonly channel: SinkChannel;
  /** When the sink accepted it (ISO 8601). */
  readonly receivedAt: string;
  /** Where it went: envelope recipient(s), push endpoint, or E.164 number. */
  readonly address: string;
  /** One line for a console: the subject, the push title, the start of the SMS text. */
  readonly summary: string;
  /** Channel-specific detail; see {@link EmailSinkContent}, {@link PushSinkContent}, {@link SmsSinkContent}. */
  readonly content: Record<string, unknown>;
}

/**
 * Receives each accepted delivery. Called, and awaited when it returns a promise, before the sink acknowledges the
 * message: if it throws or its promise rejects, the sink answers with a transient failure
 * (SMTP 451, HTTP 500) so the sender retries rather than losing the record.
 */
export type DeliverySink = (delivery: SinkDelivery) => unknown;

/** `content` of an e-mail delivery, as parsed by mailparser. */
export type EmailSinkContent = {
  /** The From header as text (`Name <address>`). */
  readonly from: string;
  /** The To header as text. */
  readonly to: string;
  /** SMTP envelope: MAIL FROM and RCPT TO, which is where the message really went. */
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  readonly subject: string;
  /** The HTML part, or null when the message had none. */
  readonly html: string | null;
  /** The plain-text part, or null when the message had none. */
  readonly text: string | null;
  /**
   * Raw (unfolded) values of the headers herald sets, keyed by lower-case name; a header
   * that was absent is absent here too: `message-id`, `x-herald-idempotency-key`,
   * `list-unsubscribe`, `list-unsubscribe-post`, `dkim-signature`.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The user the SMTP session authenticated as. */
  readonly authenticatedUser: string | null;
  /** The id the sink returned in its 250 reply. */
  readonly queueId: string;
  /** Bytes of the message as transferred (after dot-unstuffing). */
  readonly sizeBytes: number;
};

/** `content` of a web push delivery, after VAPID verification and aes128gcm decryption. */
export type PushSinkContent = {
  /** The subscription id (last path segment of the endpoint). */
  readonly endpointId: string;
  /** The sink's id for this push; the Location it answered with ends in it. */
  readonly messageId: string;
  /** The decrypted payload, parsed as JSON. */
  readonly payload: unknown;
  /** TTL header, seconds. */
  readonly ttl: number;
  /** Urgency header; `normal` when absent (RFC 8030 section 5.3). */
  readonly urgency: "very-low" | "low" | "normal" | "high";
  /** Topic header, or null. */
  readonly topic: string | null;
  /** Claims of the verified VAPID JWT. */
  readonly vapid: { readonly sub: string; readonly aud: string; readonly exp: number };
  /** Encrypted body size in bytes. */
  readonly encryptedBytes: number;
};

/** `content` of an SMS delivery, as the Twilio-compatible endpoint took it. */
export type SmsSinkContent = {
  /** Message SID: `SM` + 32 hex digits. */
  readonly sid: string;
  readonly accountSid: string;
  readonly to: string;
  /** The From number or sender id, or null when a Messaging Service was named instead. */
  readonly from: string | null;
  readonly messagingServiceSid: string | null;
  readonly body: string;
  readonly numSegments: number;
  readonly encoding: "GSM-7" | "UCS-2";
  readonly statusCallback: string | null;
  /** `queued` with a From, `accepted` with only a Messaging Service (as Twilio answers). */
  readonly status: "queued" | "accepted";
};
