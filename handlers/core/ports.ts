/**
 * Ports: the plain interfaces core logic talks through. Each target (local SQLite,
 * AWS, GCP, Azure) implements them in a small module of its own; core never imports a
 * cloud SDK or a channel SDK.
 */
import type { DeliveryError } from "./errors";
import type { Contacts } from "./recipients";

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

/** One template a rule supplies for a channel, e.g. email's `subject`, `html` and `text`. */
export interface TemplatePart {
  readonly name: string;
  /** `html` output is HTML-escaped by default; `text` is not (it is never parsed as markup). */
  readonly format: "html" | "text";
  /** An optional part may be left out of a rule's templates (push `url`). */
  readonly optional?: boolean;
}

/** One place a recipient can be reached on a channel. */
export interface ChannelAddress<T = unknown> {
  /** The address as a string: what suppression is keyed by and what logs mask. */
  readonly address: string;
  /** What the message needs to reach it (an e-mail address, a push subscription, ...). */
  readonly target: T;
}

/** What rules evaluation hands a channel to build one message from. */
export interface BuildMessageInput<T = unknown> {
  readonly meta: MessageMeta;
  readonly target: T;
  /** Rendered templates by part name. */
  readonly parts: Readonly<Record<string, string>>;
  /** One-click unsubscribe link, present on non-critical messages when configured. */
  readonly unsubscribeUrl?: string;
  /** The rule's options for this channel (e.g. `{ maxSegments: 2 }` for SMS, `{ ttlSeconds }` for push). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A built message, or why the rendered content cannot be sent on this channel. */
export type BuildMessageResult<M> =
  | { readonly ok: true; readonly message: M }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

/**
 * A delivery channel. Every module opens the same way: name, message schema version,
 * defaults, then how rules build its messages (template parts, addresses, build), then
 * delivery (config, send, error classification). Adding a channel is one module plus
 * one line in `handlers/channels/index.ts`.
 *
 * The rules function imports every channel module but never sends: a module therefore
 * loads its delivery SDK inside `createSender`, never at the top, so that SDK stays out
 * of the rules bundle.
 */
export interface ChannelAdapter<M extends ChannelMessage = ChannelMessage, C = unknown, T = unknown> {
  /** Channel name, also the queue and function suffix: lowercase letters, digits, dashes. */
  readonly name: string;
  /** Version of `schemas/messages/<name>/v<N>.schema.json` this module consumes. */
  readonly messageSchemaVersion: number;
  readonly defaults: ChannelDefaults;
  /** The templates a rule supplies for this channel. */
  readonly templateParts: readonly TemplatePart[];
  /**
   * The channel puts a one-click unsubscribe link in the message itself (e-mail's
   * List-Unsubscribe header), so rules sign one for every non-critical message even when
   * no template prints it. Other channels get a link only when their templates read
   * `links.unsubscribe`.
   */
  readonly carriesUnsubscribeLink?: boolean;
  /**
   * Config keys whose values are secrets (passwords, tokens, private keys). Cloud stacks
   * keep them in the cloud's secret store, never in a plain environment variable, and
   * the policy pack refuses a function that has one in its environment.
   */
  readonly secretConfigKeys?: readonly string[];
  /** Where a recipient can be reached on this channel; empty when they cannot. */
  addressesOf(contacts: Contacts): readonly ChannelAddress<T>[];
  /** Builds the message from rendered parts; refuses content the channel cannot carry. */
  buildMessage(input: BuildMessageInput<T>): BuildMessageResult<M>;
  /** Reads this channel's settings; throws `ConfigError` naming the missing or bad key. */
  readConfig(source: ConfigSource): C;
  /** Builds a sender; may open pools but must not send anything. */
  createSender(config: C, deps: { logger: Logger }): ChannelSender<M>;
  /** Maps any failure (provider error, socket error, timeout) into a delivery error class. */
  classify(error: unknown): DeliveryError;
  /** The address this message goes to (for suppression and masked logs). */
  addressOf(message: M): string;
}
