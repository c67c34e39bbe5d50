/**
 * Publishing channel messages to their per-channel Pub/Sub topics. The client library
 * batches: messages published within `maxMilliseconds` of each other to one topic go out
 * in one Publish call (up to `maxMessages` / `maxBytes`), so a rules invocation whose
 * event fans out to many recipients makes few calls. The publish promises resolve once
 * Pub/Sub stored the message; the caller acks the event only after all of them did.
 *
 * Quiet hours: Pub/Sub has no per-message delivery delay (unlike SQS's DelaySeconds),
 * so a message for later is published now with a `notBefore` attribute, and the channel
 * function nacks it with a delay until then (see push-handler.ts). The body carries
 * `meta.notBefore` too; the attribute lets a subscription filter or an operator see it
 * without decoding the body.
 */
import type { PubSub, Topic } from "@google-cloud/pubsub";
import { TransientError } from "../../core/errors";
import type { ChannelMessage } from "../../core/ports";

/** Pub/Sub's limit on one message's data: 10 MB (rules messages are a few KB). */
export const PUBSUB_MAX_MESSAGE_BYTES = 10_000_000;

/** Attributes every channel message carries: for filters, dead-letter triage and logs, never for delivery. */
export const MESSAGE_ATTRIBUTES = {
  channel: "channel",
  eventId: "eventId",
  idempotencyKey: "idempotencyKey",
  notBefore: "notBefore",
} as const;

/** Some messages did not reach their topic; `unsent` are the very objects passed in. */
export class PublishError extends TransientError {
  readonly unsent: readonly ChannelMessage[];
  constructor(unsent: readonly ChannelMessage[], reasons: readonly string[], options?: { cause?: unknown }) {
    super("pubsub-publish-failed", `${unsent.length} message(s) not published: ${[...new Set(reasons)].join("; ")}`, options);
    this.unsent = unsent;
  }
}

export interface ChannelPublisherOptions {
  /** The topic (name or full path) of a channel; may throw (an unknown channel), which fails that channel's messages. */
  readonly topicOf: (channel: string) => string;
  /**
   * The client's batching per topic. Default: up to 100 messages or 1 MB, waiting at
   * most 10 ms for more: an invocation's messages are published in one go, so a short
   * wait is enough to batch them all and adds little to the event's latency.
   */
  readonly batching?: { readonly maxMessages?: number; readonly maxBytes?: number; readonly maxMilliseconds?: number };
  readonly now?: () => number;
}

/**
 * Publishes channel messages to their channel's topic. One per function instance: the
 * topics (and their batching queues) are kept and reused by every invocation.
 */
export class ChannelPublisher {
  private readonly topics = new Map<string, Topic>();
  private readonly now: () => number;

  constructor(
    private readonly pubsub: PubSub,
    private readonly options: ChannelPublisherOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Publishes every message. Resolves when Pub/Sub stored all of them; otherwise throws
   * a {@link PublishError} naming the ones that were not (after the others went). The
   * library already retried retryable errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
   */
  async publish(messages: readonly ChannelMessage[]): Promise<void> {
    const now = this.now();
    const results = await Promise.allSettled(
      messages.map(async (message) => {
        const data = Buffer.from(JSON.stringify(message), "utf8");
        if (data.length > PUBSUB_MAX_MESSAGE_BYTES) throw new Error(`a ${message.meta.channel} message of ${data.length} bytes is over the Pub/Sub limit`);
        await this.topic(message.meta.channel).publishMessage({ data, attributes: attributesOf(message, now) });
      }),
    );
    const unsent: ChannelMessage[] = [];
    const reasons: string[] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      unsent.push(messages[i]!);
      reasons.push(result.reason instanceof Error ? result.reason.message : String(result.reason));
    });
    if (unsent.length > 0) throw new PublishError(unsent, reasons);
  }

  /** Sends whatever the batching still holds (on instance shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.topics.values()].map((topic) => topic.flush()));
  }

  private topic(channel: string): Topic {
    const name = this.options.topicOf(channel);
    let topic = this.topics.get(name);
    if (!topic) {
      const batching = this.options.batching ?? {};
      topic = this.pubsub.topic(name, {
        batching: { maxMessages: batching.maxMessages ?? 100, maxBytes: batching.maxBytes ?? 1024 * 1024, maxMilliseconds: batching.maxMilliseconds ?? 10 },
      });
      this.topics.set(name, topic);
    }
    return topic;
  }
}

/** A message's attributes; `notBefore` only when it is still in the future. */
export function attributesOf(message: ChannelMessage, nowMs: number): Record<string, string> {
  const { meta } = message;
  const attributes: Record<string, string> = {
    [MESSAGE_ATTRIBUTES.channel]: meta.channel,
    [MESSAGE_ATTRIBUTES.eventId]: meta.eventId,
    [MESSAGE_ATTRIBUTES.idempotencyKey]: meta.idempotencyKey,
  };
  const notBefore = meta.notBefore ? Date.parse(meta.notBefore) : Number.NaN;
  if (notBefore > nowMs) attributes[MESSAGE_ATTRIBUTES.notBefore] = meta.notBefore!;
  return attributes;
}
