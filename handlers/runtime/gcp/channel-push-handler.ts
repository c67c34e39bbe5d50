/**
 * The channel functions' Pub/Sub push handler (see push-handler.ts for the rules one). A
 * module of its own so that a channel's bundle imports its own channel module and no
 * other: the rules handler needs the whole channel registry.
 */
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import { deliver, type DeliveryContext, type IdempotencyStore, type RetryPolicy } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import { maskAddress } from "../../core/masking";
import type { ChannelAdapter, ChannelMessage, ChannelSender, ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { channelTopicVariable, firestoreSettings, GCP_ENV, positiveIntEnv, requiredEnv } from "./env";
import { FirestoreDirectory } from "./firestore-directory";
import { FirestoreIdempotencyStore } from "./firestore-idempotency";
import { createJsonLogger, errorText, type JsonLogger } from "./json-logger";
import { channelDeliveryContext, senderOrConfigFailure } from "../shared/channel-sender";
import { ChannelPublisher } from "./publisher";
import { ACK, NOT_A_PUSH, nackFor, parsePushBody, type PushHandler, type PushedMessage } from "./push-envelope";
import type { SharedDeps } from "./push-handler";

export interface ChannelPushHandlerDeps extends SharedDeps {
  /** Default: `FirestoreIdempotencyStore` on `HERALD_IDEMPOTENCY_COLLECTION`. */
  readonly idempotency?: IdempotencyStore;
  /** Default: `FirestoreDirectory` on `HERALD_RECIPIENTS_COLLECTION` (suppressions, gone push subscriptions). */
  readonly directory?: RecipientDirectory;
  /** Default: the adapter's sender, from its config read from `env` (secrets arrive there too). */
  readonly sender?: ChannelSender;
  readonly retry?: RetryPolicy;
  readonly random?: () => number;
  /** Default: publish to the channel's own topic (`HERALD_TOPIC_<CHANNEL>`). */
  readonly republish?: (message: ChannelMessage) => Promise<void>;
}

/** The delivery attempt at which a deferred message is published anew rather than nacked again (Pub/Sub dead-letters from 5). */
export const DEFERRAL_REPUBLISH_ATTEMPT = 4;

/**
 * A channel function: runs core's `deliver()` on the pushed message with the Firestore
 * idempotency store and directory, the delivery attempt being Pub/Sub's
 * `deliveryAttempt`. The outcome decides the status:
 *
 * - sent, duplicate, failed (for good): 204, acked (a failure is logged with its code);
 * - retry: 503 with Retry-After; Pub/Sub delivers it again and dead-letters it after
 *   maxDeliveryAttempts (the channel's maxAttempts);
 * - busy (another instance holds a live claim): 429 with Retry-After until the claim lapses;
 * - deferred (quiet hours, the `notBefore` attribute): 429 with Retry-After until then.
 *   Pub/Sub has no per-message delay, so the wait is a series of nacks spaced by the
 *   subscription's backoff (at most 600 s); each counts as a delivery attempt, so from
 *   attempt 4 the message is published anew (a fresh count) and this copy acknowledged.
 * - an unreadable message, a store failure: 400 / 500, redelivered, dead-lettered in the end.
 *
 * Concurrency: one message per request, and the channel's cap is the function's
 * max instances × concurrency, set by the stack.
 */
export function createChannelPushHandler(adapter: ChannelAdapter, deps: ChannelPushHandlerDeps = {}): PushHandler {
  const env = deps.env ?? process.env;
  const logger = (deps.logger ?? createJsonLogger()).child({ channel: adapter.name });
  const now = deps.now ?? Date.now;
  const firestore = deps.idempotency && deps.directory ? undefined : (deps.firestore ?? new Firestore(firestoreSettings(env)));
  const idempotency = deps.idempotency ?? new FirestoreIdempotencyStore(firestore!, requiredEnv(env, GCP_ENV.idempotencyCollection));
  const directory = deps.directory ?? new FirestoreDirectory(firestore!, requiredEnv(env, GCP_ENV.recipientsCollection));
  const timeoutMs = positiveIntEnv(env, GCP_ENV.channelTimeoutMs);
  const contextWith = channelDeliveryContext({ adapter, timeoutMs, idempotency, directory, logger, now, retry: deps.retry, random: deps.random });
  // Built once per instance, on first use: its SMTP pool or HTTP agent serves every request.
  let sender: ChannelSender | undefined;
  const context = (): DeliveryContext => contextWith((sender ??= deps.sender ?? createSender(adapter, env, logger)));

  // The channel's own topic, for deferred messages that must keep waiting.
  let publisher: ChannelPublisher | undefined;
  const republish = async (message: ChannelMessage) => {
    if (deps.republish) return deps.republish(message);
    const topic = requiredEnv(env, channelTopicVariable(adapter.name));
    const projectId = env[GCP_ENV.projectId];
    publisher ??= new ChannelPublisher(new PubSub(projectId ? { projectId } : {}), { topicOf: () => topic, now });
    await publisher.publish([message]);
  };

  return async (request) => {
    const pushed = parsePushBody(request.body);
    if (!pushed) {
      logger.error({}, "request is not a Pub/Sub push; nacked");
      return NOT_A_PUSH;
    }
    const attempt = pushed.deliveryAttempt;
    const message = parseMessage(pushed, adapter.name);
    if (!message) {
      // Not ours or not a message: it can never be delivered; after maxDeliveryAttempts it
      // waits on the dead-letter topic for someone to look at it.
      logger.error({ messageId: pushed.messageId, attempt }, "unreadable channel message");
      return { status: 400, body: "unreadable channel message" };
    }
    const log = logger.child({ eventId: message.meta.eventId, messageId: pushed.messageId, idempotencyKey: message.meta.idempotencyKey, attempt });
    let outcome;
    try {
      outcome = await deliver(message, attempt, context());
    } catch (error) {
      // The idempotency store failed before or after the send; Pub/Sub delivers it again.
      log.error({ error: errorText(error) }, "delivery stage failed; will retry");
      return { status: 500, body: "delivery stage failed" };
    }
    switch (outcome.status) {
      case "sent":
        log.info({ address: maskAddress(adapter.addressOf(message)), providerMessageId: outcome.providerMessageId }, "sent");
        return { status: ACK };
      case "duplicate":
        log.info({ previous: outcome.record.status }, "already handled; not sent again");
        return { status: ACK };
      case "failed":
        log.warn({ code: outcome.error.code, suppress: outcome.error.suppress }, "failed permanently");
        return { status: ACK };
      case "retry": {
        const misconfigured = outcome.error instanceof ConfigError;
        (misconfigured ? log.error : log.warn)(
          { code: outcome.error.code, delayMs: outcome.delayMs, alarm: misconfigured || undefined },
          misconfigured ? "channel misconfigured; retrying slowly" : "failed; will retry",
        );
        return nackFor(503, outcome.delayMs, outcome.error.code);
      }
      case "busy":
        log.info({ retryInMs: outcome.retryInMs }, "another delivery holds the key; will look again when its claim lapses");
        return nackFor(429, outcome.retryInMs, "busy");
      case "deferred":
        if (attempt >= DEFERRAL_REPUBLISH_ATTEMPT) {
          // Every nack is a delivery attempt: before the waiting uses up the dead-letter
          // budget (at least 5 on Pub/Sub), publish the message anew, with a fresh count,
          // and acknowledge this copy. A night of quiet hours costs a few dozen publishes.
          try {
            await republish(message);
            log.info({ notBefore: message.meta.notBefore }, "deferred (quiet hours); published again to keep waiting");
            return { status: ACK };
          } catch (error) {
            log.error({ error: errorText(error) }, "could not publish the deferred message again; nacked");
          }
        }
        log.info({ notBefore: message.meta.notBefore }, "deferred (quiet hours); nacked until then");
        return nackFor(429, outcome.untilMs - now(), "deferred");
    }
  };
}

/**
 * The channel's sender from its config (the environment, secrets included). A config the
 * channel refuses gives a sender that fails every send with that `ConfigError`, so
 * messages retry slowly and raise the alarm instead of vanishing.
 */
function createSender(adapter: ChannelAdapter, env: ConfigSource, logger: JsonLogger): ChannelSender {
  // A malformed secret variable is a config error like a missing key.
  return senderOrConfigFailure(adapter, () => withChannelSecrets(env), logger);
}

/**
 * The environment with the channel's secret settings (one JSON secret environment
 * variable) merged over it. Values never reach a log or an error; keys may.
 */
function withChannelSecrets(env: ConfigSource): ConfigSource {
  const raw = env[GCP_ENV.channelSecrets];
  if (raw === undefined || raw === "") return env;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError("config-invalid", `${GCP_ENV.channelSecrets} is not a JSON object`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError("config-invalid", `${GCP_ENV.channelSecrets} is not a JSON object`);
  const secrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") throw new ConfigError("config-invalid", `${GCP_ENV.channelSecrets}.${key} must be a string`);
    secrets[key] = value;
  }
  return { ...env, ...secrets };
}

/** The message, if the data is one of this channel's. */
function parseMessage(pushed: PushedMessage, channel: string): ChannelMessage | undefined {
  try {
    const message = JSON.parse(pushed.data.toString("utf8")) as ChannelMessage;
    const meta = message?.meta;
    return meta && typeof meta.idempotencyKey === "string" && meta.channel === channel ? message : undefined;
  } catch {
    return undefined;
  }
}

