/**
 * The rules function's Service Bus message handler: one CloudEvent from the events queue
 * in, its channel messages out to the per-channel queues.
 */
import { backoffDelay, DEFAULT_RETRY_POLICY } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import { evaluateEvent } from "../../core/evaluate";
import type { FrequencyLimiter } from "../../core/policies";
import type { ChannelMessage } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import type { SharedDeps } from "./channel-message-handler";
import { serviceBusFromEnv, tableFromEnv } from "./clients";
import { AZURE_ENV, channelQueueVariable, perChannelEnv } from "./env";
import { unsubscribeFromEnv } from "../shared/env";
import { rulesChannels, rulesEvaluation, type RulesDefinitionDeps } from "../shared/rules-evaluation";
import { createJsonLogger, errorText } from "./json-logger";
import { bodyOf, COMPLETE, MAX_DESCRIPTION_CHARS, type InboundMessage, type MessageHandler, type Settlement } from "./message";
import { ChannelQueueSender } from "./sender";
import { TableDirectory } from "./table-directory";
import { TableFrequencyLimiter } from "./table-idempotency";

export interface RulesMessageHandlerDeps extends SharedDeps, RulesDefinitionDeps {
  /** Default: a `ChannelQueueSender` on the `HERALD_QUEUE_<CHANNEL>` queues. */
  readonly sender?: Pick<ChannelQueueSender, "send">;
  /** Default: `TableDirectory` on `HERALD_RECIPIENTS_TABLE`. */
  readonly directory?: RecipientDirectory;
  /** Default: `TableFrequencyLimiter` on `HERALD_IDEMPOTENCY_TABLE`. */
  readonly limiter?: FrequencyLimiter;
}

/**
 * The rules function. What happens to an event:
 * - evaluated and its channel messages sent to their queues: complete;
 * - rejected by validation: dead-lettered with the reason code as `deadLetterReason` and
 *   the detail as the description, since a retry would be rejected the same way;
 * - a port failed (Table Storage, Service Bus): abandoned, so it is delivered again.
 *   Evaluating it again is safe: its message ids are the deterministic idempotency keys
 *   (duplicate detection drops repeats), the limiter counts a key once, and the channel
 *   stage drops a message whose key it already completed.
 *
 * Missing settings throw `ConfigError` here, at cold start, rather than failing every event.
 */
export function createRulesMessageHandler(deps: RulesMessageHandlerDeps = {}): MessageHandler {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? createJsonLogger();
  const now = deps.now ?? Date.now;
  const channels = rulesChannels(deps);
  const directory = deps.directory ?? new TableDirectory(tableFromEnv(env, AZURE_ENV.recipientsTable));
  const limiter = deps.limiter ?? new TableFrequencyLimiter(tableFromEnv(env, AZURE_ENV.idempotencyTable));
  let sender = deps.sender;
  if (!sender) {
    sender = new ChannelQueueSender(deps.serviceBus ?? serviceBusFromEnv(env), { queueOf: perChannelEnv(channels.keys(), env, channelQueueVariable), now });
  }
  const send = sender.send.bind(sender);
  const unsubscribe = unsubscribeFromEnv(env[AZURE_ENV.unsubscribeBaseUrl], env[AZURE_ENV.unsubscribeSecret], logger);
  const context = rulesEvaluation(deps, { channels, directory, limiter, now, ...(unsubscribe ? { unsubscribe } : {}) });
  const retryIn = (attempt: number) => backoffDelay(attempt, DEFAULT_RETRY_POLICY.baseMs, DEFAULT_RETRY_POLICY.capMs, undefined, deps.random);

  return async (inbound: InboundMessage): Promise<Settlement> => {
    const attempt = Math.max(1, inbound.deliveryCount);
    const log = logger.child({ messageId: inbound.messageId, attempt });
    // A body the host could not even give us is an empty event: validation names it.
    const body = bodyOf(inbound) ?? "";
    const eventId = eventIdOf(body);
    let messages: readonly ChannelMessage[];
    try {
      const evaluation = await evaluateEvent(body, context);
      if (!evaluation.accepted) {
        log.warn({ eventId, reason: evaluation.reason, detail: evaluation.message }, "event rejected; dead-lettered");
        return { kind: "deadLetter", reason: evaluation.reason, description: evaluation.message.slice(0, MAX_DESCRIPTION_CHARS) || evaluation.reason };
      }
      const { event } = evaluation;
      const eventLog = log.child({ eventId: event.id, eventSource: event.source });
      eventLog.info({ type: event.type, version: evaluation.version, rules: evaluation.matchedRules, messages: evaluation.messages.length }, "event evaluated");
      for (const outcome of evaluation.outcomes) eventLog.info({ ...outcome }, "outcome");
      messages = evaluation.messages;
    } catch (error) {
      log.error({ eventId, error: errorText(error) }, "evaluation failed; the event will be retried");
      return { kind: "abandon", delayMs: retryIn(attempt) };
    }
    try {
      await send(messages);
    } catch (error) {
      // Some may have gone out: the retry sends them again, and duplicate detection and delivery drop the repeats.
      log.error({ eventId, error: errorText(error) }, "channel messages not sent; the event will be retried");
      return { kind: "abandon", delayMs: retryIn(attempt) };
    }
    return COMPLETE;
  };
}

/** The event id for log correlation, when the body is JSON with one. */
function eventIdOf(body: string | Uint8Array | object): string | undefined {
  try {
    const value = typeof body === "string" || body instanceof Uint8Array ? JSON.parse(typeof body === "string" ? body : Buffer.from(body).toString("utf8")) : body;
    const id = (value as { id?: unknown } | null)?.id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}
