/**
 * Ports: the plain interfaces core logic talks through. Each target (local SQLite,
 * AWS, GCP, Azure) implements them in a small module of its own; core never imports a
 * cloud SDK or a channel SDK.
 */
import type { DeliveryError } from "./errors";

/** Minimal structured logger; pino satisfies it. Fields first, message second. */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Settings a channel starts from; infra and the local runtime read them, config may override. */
export interface ChannelDefaults {
  /** Most deliveries in flight at once for this channel (per deployment, not per instance). */
  readonly concurrency: number;
  /** Attempts before the message goes to the channel's dead-letter queue. */
  readonly maxAttempts: number;
  /** Longest one send may take; the queue's lease/visibility is derived from it. */
  readonly timeoutMs: number;
  /** Messages handed to one function invocation. */
  readonly batchSize: number;
}

/** What every channel message carries besides its channel-specific payload. */
export interface MessageMeta {
  /** hash(source, id, rule, recipient, channel): the guard against sending twice. */
  readonly idempotencyKey: string;
  readonly channel: string;
  readonly eventId: string;
  readonly eventSource: string;
  readonly eventType: string;
  readonly eventVersion: number;
  readonly rule: string;
  readonly recipientId: string;
  readonly category: string;
  readonly critical: boolean;
  readonly locale: string;
  /** When the message was made (ISO 8601). */
  readonly createdAt: string;
  /** Quiet hours: do not deliver before this instant (ISO 8601). */
  readonly notBefore?: string;
}

/** A message produced by rules evaluation for one recipient on one channel. */
export interface ChannelMessage {
  readonly meta: MessageMeta;
}

/** Environment-like configuration (process.env locally, secrets resolved in the cloud). */
export type ConfigSource = Readonly<Record<string, string | undefined>>;

/** What a successful send reports. */
export interface SendResult {
  /** The provider's id for the accepted message (SMTP queue id, Twilio SID, push Location). */
  readonly providerMessageId?: string;
}

/** A live sender with its connections; built once per process or container. */
export interface ChannelSender<M extends ChannelMessage = ChannelMessage> {
  /** Delivers one message; throws only `DeliveryError`s (already classified). */
  send(message: M, signal?: AbortSignal): Promise<SendResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

/**
 * A delivery channel. Every module opens the same way: name, message schema version,
 * defaults, config, send, and error classification. Adding a channel is one module
 * plus one line in `handlers/channels/index.ts`.
 */
export interface ChannelAdapter<M extends ChannelMessage = ChannelMessage, C = unknown> {
  /** Channel name, also the queue and function suffix: lowercase letters, digits, dashes. */
  readonly name: string;
  /** Version of `schemas/messages/<name>/v<N>.schema.json` this module consumes. */
  readonly messageSchemaVersion: number;
  readonly defaults: ChannelDefaults;
  /** Reads this channel's settings; throws `ConfigError` naming the missing or bad key. */
  readConfig(source: ConfigSource): C;
  /** Builds a sender; may open pools but must not send anything. */
  createSender(config: C, deps: { logger: Logger }): ChannelSender<M>;
  /** Maps any failure (provider error, socket error, timeout) into a delivery error class. */
  classify(error: unknown): DeliveryError;
  /** The address this message goes to (for suppression and masked logs). */
  addressOf(message: M): string;
}
