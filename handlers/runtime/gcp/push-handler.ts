/**
 * The GCP functions as Pub/Sub push handlers: the rules function behind the events
 * topic's push subscription, and one channel function per channel behind its channel
 * topic's. Each request carries one message; the status answers for it (see
 * push-envelope.ts): 2xx acks, anything else nacks and Pub/Sub delivers it again after
 * the subscription's retryPolicy backoff, dead-lettering after maxDeliveryAttempts.
 *
 * Pub/Sub ignores Retry-After: the backoff is the subscription's (minimumBackoff up to
 * maximumBackoff, at most 600 s). The handlers still send it, for logs and for any other
 * caller (a local replay, a Cloud Tasks queue) that honours it.
 */
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import { evaluateEvent } from "../../core/evaluate";
import { ConfigError } from "../../core/errors";
import type { FrequencyLimiter } from "../../core/policies";
import type { ChannelMessage, ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { channelTopicVariable, firestoreSettings, GCP_ENV, requiredEnv } from "./env";
import { FirestoreDirectory } from "./firestore-directory";
import { FirestoreFrequencyLimiter } from "./firestore-idempotency";
import { perChannelEnv, unsubscribeFromEnv } from "../shared/env";
import { rulesChannels, rulesEvaluation, type RulesDefinitionDeps } from "../shared/rules-evaluation";
import { createJsonLogger, errorText, type JsonLogger } from "./json-logger";
import { ChannelPublisher } from "./publisher";
import { ACK, NOT_A_PUSH, parsePushBody, type PushHandler } from "./push-envelope";

/** Attributes a rejected event carries on the rules dead-letter topic. */
export const REJECTION_ATTRIBUTES = { reason: "rejectionReason", detail: "rejectionDetail" } as const;

/** Pub/Sub caps an attribute value at 1,024 bytes; the detail is cut well below that. */
const MAX_DETAIL_CHARS = 500;


export interface SharedDeps {
  /** Where the `GCP_ENV` variables (and, for channels, their config) are read; `process.env` by default. */
  readonly env?: ConfigSource;
  readonly firestore?: Firestore;
  readonly logger?: JsonLogger;
  readonly now?: () => number;
}

export interface RulesPushHandlerDeps extends SharedDeps, RulesDefinitionDeps {
  readonly pubsub?: PubSub;
  /** Default: a `ChannelPublisher` on the `HERALD_TOPIC_<CHANNEL>` topics. */
  readonly publisher?: ChannelPublisher;
  /** Default: `FirestoreDirectory` on `HERALD_RECIPIENTS_COLLECTION`. */
  readonly directory?: RecipientDirectory;
  /** Default: `FirestoreFrequencyLimiter` on `HERALD_IDEMPOTENCY_COLLECTION`. */
  readonly limiter?: FrequencyLimiter;
}

/**
 * The rules function. What happens to a pushed event:
 * - evaluated and its channel messages published: acked;
 * - rejected by validation: published to the rules dead-letter topic with the reason
 *   (attributes `rejectionReason`, `rejectionDetail`) and acked, since a retry would be
 *   rejected the same way; if that publish fails, nacked (it reaches the subscription's
 *   dead-letter topic in the end, without the reason but not lost);
 * - a port failed (Firestore, Pub/Sub): 500, so it is delivered again. Evaluating it
 *   again is safe: its message keys are deterministic, the limiter counts a key once,
 *   and the channel stage drops a message whose key it already completed.
 *
 * Missing settings throw `ConfigError` here, at cold start, rather than failing every event.
 */
export function createRulesPushHandler(deps: RulesPushHandlerDeps = {}): PushHandler {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? createJsonLogger();
  const now = deps.now ?? Date.now;
  const channels = rulesChannels(deps);
  const deadLetterTopic = requiredEnv(env, GCP_ENV.rulesDeadLetterTopic);
  const projectId = env[GCP_ENV.projectId];
  const pubsub = deps.pubsub ?? new PubSub(projectId ? { projectId } : {});
  const firestore = deps.directory && deps.limiter ? undefined : (deps.firestore ?? new Firestore(firestoreSettings(env)));
  const directory = deps.directory ?? new FirestoreDirectory(firestore!, requiredEnv(env, GCP_ENV.recipientsCollection));
  const limiter = deps.limiter ?? new FirestoreFrequencyLimiter(firestore!, requiredEnv(env, GCP_ENV.idempotencyCollection));
  const publisher =
    deps.publisher ??
    new ChannelPublisher(pubsub, { topicOf: perChannelEnv(channels.keys(), env, channelTopicVariable), now });
  // Rejections are rare: no batching wait for them.
  const rejected = pubsub.topic(deadLetterTopic, { batching: { maxMessages: 1 } });
  const unsubscribe = unsubscribeFromEnv(env[GCP_ENV.unsubscribeBaseUrl], env[GCP_ENV.unsubscribeSecret], logger);
  const context = rulesEvaluation(deps, { channels, directory, limiter, now, ...(unsubscribe ? { unsubscribe } : {}) });

  return async (request) => {
    const pushed = parsePushBody(request.body);
    if (!pushed) {
      logger.error({}, "request is not a Pub/Sub push; nacked");
      return NOT_A_PUSH;
    }
    const log = logger.child({ messageId: pushed.messageId, attempt: pushed.deliveryAttempt });
    const body = pushed.data.toString("utf8");
    let messages: readonly ChannelMessage[];
    try {
      const evaluation = await evaluateEvent(body, context);
      if (!evaluation.accepted) {
        const eventId = eventIdOf(body);
        try {
          await rejected.publishMessage({
            data: pushed.data,
            attributes: { [REJECTION_ATTRIBUTES.reason]: evaluation.reason, [REJECTION_ATTRIBUTES.detail]: evaluation.message.slice(0, MAX_DETAIL_CHARS) || evaluation.reason },
          });
        } catch (error) {
          log.error({ eventId, reason: evaluation.reason, error: errorText(error) }, "rejected event could not be kept on the dead-letter topic; it will be retried");
          return { status: 500, body: "dead-letter publish failed" };
        }
        log.warn({ eventId, reason: evaluation.reason, detail: evaluation.message }, "event rejected; kept on the rules dead-letter topic");
        return { status: ACK };
      }
      const { event } = evaluation;
      const eventLog = log.child({ eventId: event.id, eventSource: event.source });
      eventLog.info({ type: event.type, version: evaluation.version, rules: evaluation.matchedRules, messages: evaluation.messages.length }, "event evaluated");
      for (const outcome of evaluation.outcomes) eventLog.info({ ...outcome }, "outcome");
      messages = evaluation.messages;
    } catch (error) {
      log.error({ eventId: eventIdOf(body), error: errorText(error) }, "evaluation failed; the event will be retried");
      return { status: 500, body: "evaluation failed" };
    }
    try {
      await publisher.publish(messages);
    } catch (error) {
      // Some may have gone out: the retry publishes them again, and delivery drops the repeats by key.
      log.error({ eventId: eventIdOf(body), error: errorText(error) }, "channel messages not published; the event will be retried");
      return { status: 500, body: "publish failed" };
    }
    return { status: ACK };
  };
}

/** The event id for log correlation, when the body is JSON with one. */
function eventIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}
