/**
 * Reading and redriving a channel's dead letters on Pub/Sub. Each dead-letter topic
 * has a pull subscription nobody else pulls (infra/gcp/platform.ts); these functions
 * pull from it with the synchronous Pull API (the client's streaming subscriber would
 * keep pulling in the background, which a one-shot command does not want).
 */
import { v1, type PubSub } from "@google-cloud/pubsub";
import { grpcDetails, grpcStatusOf } from "./settings";

/** A message as the Pull API returns it (the fields used here). */
interface ReceivedMessage {
  ackId?: string | null;
  message?: {
    data?: Uint8Array | string | null;
    attributes?: Record<string, string> | null;
    messageId?: string | null;
    publishTime?: { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null;
  } | null;
}

/** A dead letter as `dlq list` and `dlq show` report it. */
export interface PeekedMessage {
  /** The Pub/Sub message id (kept when Pub/Sub forwards a message to the dead-letter topic). */
  readonly id: string;
  /** When the message was published to the dead-letter topic. */
  readonly publishedAtMs: number;
  /**
   * Delivery attempts on the source subscription before it was dead-lettered, from the
   * attribute Pub/Sub adds when it dead-letters a message; `undefined` for a message
   * published to the dead-letter topic directly (the rules function's rejections).
   */
  readonly deliveryAttempts: number | undefined;
  readonly attributes: Readonly<Record<string, string>>;
  /** The data as UTF-8 text. */
  readonly body: string;
  /** The raw data, republished unchanged by a redrive. */
  readonly data: Buffer;
}

/** Attribute Pub/Sub sets on a message it dead-letters: the source subscription's delivery count. */
export const DEAD_LETTER_DELIVERY_COUNT_ATTRIBUTE = "CloudPubSubDeadLetterSourceDeliveryCount";
/**
 * Attribute with the reason the rules function rejected an event it put on the rules
 * dead-letter topic: `REJECTION_ATTRIBUTES.reason` of handlers/runtime/gcp/push-handler.ts
 * (a test checks they agree). Not imported: that module loads Firestore and every channel.
 */
export const REJECTION_REASON_ATTRIBUTE = "rejectionReason";
/** Prefix of the attributes Pub/Sub itself adds when dead-lettering (source subscription, project, time). */
const DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter";

/** Messages per Pull call (Pub/Sub's maximum is 1,000). */
const PULL_MAX_MESSAGES = 100;
/**
 * How long one Pull waits for messages. Without `returnImmediately` (deprecated, and
 * on the service it can answer empty while messages exist) a Pull on an empty
 * subscription waits; this deadline turns that wait into "nothing left".
 */
const PULL_WAIT_MS = 2_000;
/** Seconds pulled messages stay held (out of other pulls) while a command works; released at the end. */
const HOLD_SECONDS = 300;
/** Ack ids per Acknowledge / ModifyAckDeadline call (well under the 512 KB request limit). */
const ACK_CHUNK = 500;

/** A subscriber client with the same endpoint, credentials and project as `pubsub` (emulator included). */
export async function subscriberFor(pubsub: PubSub): Promise<{ subscriber: v1.SubscriberClient; subscription: (name: string) => string }> {
  const config = await pubsub.getClientConfig();
  // After getClientConfig the project is resolved, so short names format to full ones.
  // The library documents exactly this (`new v1.SchemaServiceClient(await pubsub.getClientConfig())`);
  // its ClientConfig types `port` as string | number, which the gax options do not admit.
  const subscriber = new v1.SubscriberClient(config as ConstructorParameters<typeof v1.SubscriberClient>[0]);
  return { subscriber, subscription: (name) => pubsub.subscription(name).name };
}

/**
 * Up to `limit` messages of a subscription, without taking them.
 *
 * Pub/Sub has no peek: this pulls (which leases the messages to this client), holds
 * them while it pulls more so it does not see the same ones again, and then sets their
 * ack deadline back to 0, which makes them deliverable again at once. A pull does not
 * count as a delivery attempt on the dead-letter subscription (it has no dead-letter
 * policy of its own), so listing leaves nothing changed but the order.
 */
export async function peekMessages(
  subscriber: v1.SubscriberClient,
  subscription: string,
  limit: number,
  stopWhen?: (message: PeekedMessage) => boolean,
): Promise<PeekedMessage[]> {
  const seen = new Map<string, PeekedMessage>();
  const held = new Map<string, string>();
  try {
    while (seen.size < limit) {
      const pulled = await pull(subscriber, subscription, Math.min(PULL_MAX_MESSAGES, limit - seen.size));
      if (pulled.length === 0) break;
      // All of them held (to be released) before any early return: a message pulled but
      // not released would stay out of reach for HOLD_SECONDS.
      const messages = pulled.map((received) => {
        const message = toPeeked(received);
        held.set(message.id, received.ackId!);
        return message;
      });
      let fresh = 0;
      for (const message of messages) {
        if (seen.has(message.id)) continue;
        seen.set(message.id, message);
        fresh++;
        if (stopWhen?.(message)) return [...seen.values()];
      }
      // Only messages seen before: the hold ran out and they came round again.
      if (fresh === 0) break;
    }
    return [...seen.values()];
  } finally {
    await modifyDeadline(subscriber, subscription, [...held.values()], 0);
  }
}

/** How far a redrive is: messages moved so far, of how many (known only with `ids`). */
export type RedriveProgress = (moved: number, total: number | undefined) => void;

export interface RedriveRequest {
  /** The dead-letter subscription (full name). */
  readonly subscription: string;
  /** The topic the messages go back to (full name or short name). */
  readonly sourceTopic: string;
  /** Only these message ids. */
  readonly ids?: ReadonlySet<string>;
  readonly onProgress?: RedriveProgress;
}

export interface RedriveOutcome {
  readonly redriven: number;
  /** Messages Pub/Sub did not publish to the source topic; they stay in the dead-letter subscription. */
  readonly notSent: ReadonlyArray<{ id: string; code: string; message: string }>;
  /** Published but whose ack failed: they are now in both places (the idempotency key catches the repeat). */
  readonly notAcked: readonly string[];
  /** With `ids`: the ids that were not in the subscription. */
  readonly notFound: readonly string[];
}

/**
 * Moves dead letters back to their source topic: pull, publish each message's data and
 * attributes, ack only what Pub/Sub confirmed as published. Messages that are not to
 * move, or that were not published, are held while the run lasts and released at the
 * end, so the loop does not pull them again and they stay in the subscription.
 */
export async function redrive(pubsub: PubSub, subscriber: v1.SubscriberClient, request: RedriveRequest): Promise<RedriveOutcome> {
  const topic = pubsub.topic(request.sourceTopic, { batching: { maxMessages: PULL_MAX_MESSAGES, maxMilliseconds: 10 } });
  const total = request.ids?.size;
  const seen = new Set<string>();
  const held = new Map<string, string>();
  const notSent: Array<{ id: string; code: string; message: string }> = [];
  const notAcked: string[] = [];
  let redriven = 0;
  try {
    for (let stop = false; !stop; ) {
      if (request.ids && redriven + notSent.length === request.ids.size) break;
      const pulled = await pull(subscriber, request.subscription, PULL_MAX_MESSAGES);
      if (pulled.length === 0) break;
      // Everything pulled was seen before: the run outlived HOLD_SECONDS and is looping.
      const loopedRound = pulled.every((received) => seen.has(received.message?.messageId ?? ""));
      const toMove: Array<{ message: PeekedMessage; ackId: string }> = [];
      for (const received of pulled) {
        const message = toPeeked(received);
        if (seen.has(message.id) || (request.ids && !request.ids.has(message.id))) held.set(message.id, received.ackId!);
        else toMove.push({ message, ackId: received.ackId! });
        seen.add(message.id);
      }
      if (loopedRound) break;
      if (toMove.length === 0) continue;
      const results = await Promise.allSettled(toMove.map(({ message }) => topic.publishMessage({ data: message.data, attributes: redrivenAttributes(message.attributes) })));
      const published: string[] = [];
      results.forEach((result, index) => {
        const { message, ackId } = toMove[index]!;
        if (result.status === "fulfilled") return void published.push(ackId);
        const status = grpcStatusOf(result.reason);
        notSent.push({ id: message.id, code: status ?? "error", message: grpcDetails(result.reason) });
        held.set(message.id, ackId);
        // No such topic or no permission: every other message would fail the same way.
        if (status === "NOT_FOUND" || status === "PERMISSION_DENIED" || status === "UNAUTHENTICATED") stop = true;
      });
      // Only what Pub/Sub confirmed as published leaves the dead-letter subscription: a
      // message is never dropped; at worst (a failed ack) it is in both places.
      for (let i = 0; i < published.length; i += ACK_CHUNK) {
        const ackIds = published.slice(i, i + ACK_CHUNK);
        try {
          await subscriber.acknowledge({ subscription: request.subscription, ackIds });
        } catch {
          for (const { message, ackId } of toMove) if (ackIds.includes(ackId)) notAcked.push(message.id);
        }
      }
      redriven += published.length;
      request.onProgress?.(redriven, total);
    }
  } finally {
    await topic.flush().catch(() => undefined);
    await modifyDeadline(subscriber, request.subscription, [...held.values()], 0);
  }
  const notFound = request.ids ? [...request.ids].filter((id) => !seen.has(id)) : [];
  return { redriven, notSent, notAcked, notFound };
}

/** The attributes a redriven message is published with: its own, without Pub/Sub's dead-letter bookkeeping (the next dead-lettering sets it afresh). */
function redrivenAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).filter(([name]) => !name.startsWith(DEAD_LETTER_ATTRIBUTE_PREFIX)));
}

/** One Pull; an empty subscription is `[]` (the wait ran out). Pulled messages are held for HOLD_SECONDS. */
async function pull(subscriber: v1.SubscriberClient, subscription: string, maxMessages: number): Promise<ReceivedMessage[]> {
  let received: ReceivedMessage[];
  try {
    const [response] = await subscriber.pull({ subscription, maxMessages }, { timeout: PULL_WAIT_MS });
    received = (response.receivedMessages ?? []) as ReceivedMessage[];
  } catch (error) {
    if (grpcStatusOf(error) === "DEADLINE_EXCEEDED") return [];
    throw error;
  }
  // Held longer than the subscription's ack deadline (60 s in the stack), so a long
  // listing or redrive does not meet its own messages again half way.
  await modifyDeadline(subscriber, subscription, received.map((r) => r.ackId!), HOLD_SECONDS);
  return received;
}

/** Sets the ack deadline of `ackIds`; 0 releases them. Best effort on release: the deadline runs out anyway. */
async function modifyDeadline(subscriber: v1.SubscriberClient, subscription: string, ackIds: readonly string[], seconds: number): Promise<void> {
  for (let i = 0; i < ackIds.length; i += ACK_CHUNK) {
    const call = subscriber.modifyAckDeadline({ subscription, ackIds: ackIds.slice(i, i + ACK_CHUNK), ackDeadlineSeconds: seconds });
    if (seconds === 0) await call.catch(() => undefined);
    else await call;
  }
}

function toPeeked(received: ReceivedMessage): PeekedMessage {
  const message = received.message ?? {};
  const raw = message.data ?? "";
  const data = typeof raw === "string" ? Buffer.from(raw, "base64") : Buffer.from(raw);
  const attributes = { ...(message.attributes ?? {}) };
  const attempts = Number(attributes[DEAD_LETTER_DELIVERY_COUNT_ATTRIBUTE]);
  const seconds = Number(String(message.publishTime?.seconds ?? 0));
  return {
    id: message.messageId ?? "",
    publishedAtMs: seconds * 1000 + Math.floor((message.publishTime?.nanos ?? 0) / 1e6),
    deliveryAttempts: Number.isFinite(attempts) && attempts > 0 ? attempts : undefined,
    attributes,
    body: data.toString("utf8"),
    data,
  };
}
