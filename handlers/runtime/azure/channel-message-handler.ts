/**
 * The channel functions' Service Bus message handler (see rules-message-handler.ts for
 * the rules one). A module of its own so that a channel's bundle imports its own channel
 * module and no other: the rules handler needs the whole channel registry.
 */
import { backoffDelay, deliver, DEFAULT_RETRY_POLICY, type DeliveryContext, type IdempotencyStore, type RetryPolicy } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import { maskAddress } from "../../core/masking";
import type { ChannelAdapter, ChannelMessage, ChannelSender, ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { channelDeliveryContext, senderOrConfigFailure } from "../shared/channel-sender";
import { serviceBusFromEnv, tableFromEnv } from "./clients";
import { AZURE_ENV, channelQueueVariable, positiveIntEnv, requiredEnv, withChannelSecrets } from "./env";
import { createJsonLogger, errorText, type JsonLogger } from "./json-logger";
import { COMPLETE, jsonBodyOf, type InboundMessage, type MessageHandler, type Settlement } from "./message";
import { ChannelQueueSender, deferredMessageId, type ServiceBusPort } from "./sender";
import { TableDirectory } from "./table-directory";
import { TableIdempotencyStore } from "./table-idempotency";

/** What the Azure handlers share: where settings come from, logs, the clock. */
export interface SharedDeps {
  /** Where the `AZURE_ENV` settings (and, for channels, their config) are read; `process.env` by default. */
  readonly env?: ConfigSource;
  readonly logger?: JsonLogger;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Default: a `ServiceBusClient` on `HERALD_SERVICE_BUS`. */
  readonly serviceBus?: ServiceBusPort;
}

export interface ChannelMessageHandlerDeps extends SharedDeps {
  /** Default: `TableIdempotencyStore` on `HERALD_IDEMPOTENCY_TABLE`. */
  readonly idempotency?: IdempotencyStore;
  /** Default: `TableDirectory` on `HERALD_RECIPIENTS_TABLE` (suppressions, gone push subscriptions). */
  readonly directory?: RecipientDirectory;
  /** Default: the adapter's sender, from its config read from `env` (secrets arrive there too). */
  readonly sender?: ChannelSender;
  readonly retry?: RetryPolicy;
}

/**
 * A channel function: runs core's `deliver()` on the message with the Table Storage
 * idempotency store and directory, the attempt being Service Bus's `deliveryCount`.
 * The outcome decides the settlement:
 *
 * - sent, duplicate, failed (for good): complete (a failure is logged with its code);
 * - retry: abandon after the backoff; Service Bus dead-letters it after the queue's
 *   maxDeliveryCount (the channel's maxAttempts);
 * - busy (another instance holds a live claim): abandon until the claim lapses;
 * - deferred (quiet hours and the message came early): sent again to the channel's own
 *   queue with `scheduledEnqueueTimeUtc`, which costs no delivery attempts, and this copy
 *   completed; if that send fails, abandoned;
 * - an unreadable message: dead-lettered with the reason; a store failure: abandoned.
 */
export function createChannelMessageHandler(adapter: ChannelAdapter, deps: ChannelMessageHandlerDeps = {}): MessageHandler {
  const env = deps.env ?? process.env;
  const logger = (deps.logger ?? createJsonLogger()).child({ channel: adapter.name });
  const now = deps.now ?? Date.now;
  const idempotency = deps.idempotency ?? new TableIdempotencyStore(tableFromEnv(env, AZURE_ENV.idempotencyTable));
  const directory = deps.directory ?? new TableDirectory(tableFromEnv(env, AZURE_ENV.recipientsTable));
  const timeoutMs = positiveIntEnv(env, AZURE_ENV.channelTimeoutMs);
  const policy = deps.retry ?? DEFAULT_RETRY_POLICY;
  const contextWith = channelDeliveryContext({ adapter, timeoutMs, idempotency, directory, logger, now, retry: deps.retry, random: deps.random });
  // Built once per instance, on first use: its SMTP pool or HTTP agent serves every message.
  let sender: ChannelSender | undefined;
  const context = (): DeliveryContext => contextWith((sender ??= deps.sender ?? senderOrConfigFailure(adapter, () => withChannelSecrets(env), logger)));
  // The channel's own queue, for deferred messages that must keep waiting; built on first use.
  let requeue: ChannelQueueSender | undefined;
  const resend = async (message: ChannelMessage) => {
    const queue = requiredEnv(env, channelQueueVariable(adapter.name));
    requeue ??= new ChannelQueueSender(deps.serviceBus ?? serviceBusFromEnv(env), { queueOf: () => queue, now });
    await requeue.send([message], deferredMessageId);
  };
  const storeBackoff = (attempt: number) => backoffDelay(attempt, policy.baseMs, policy.capMs, undefined, deps.random);

  return async (inbound: InboundMessage): Promise<Settlement> => {
    const attempt = Math.max(1, inbound.deliveryCount);
    const message = parseMessage(inbound, adapter.name);
    if (!message) {
      // Not ours or not a message: it can never be delivered.
      logger.error({ messageId: inbound.messageId, attempt }, "unreadable channel message; dead-lettered");
      return { kind: "deadLetter", reason: "unreadable-message", description: `not a ${adapter.name} channel message` };
    }
    const log = logger.child({ eventId: message.meta.eventId, messageId: inbound.messageId, idempotencyKey: message.meta.idempotencyKey, attempt });
    let outcome;
    try {
      outcome = await deliver(message, attempt, context());
    } catch (error) {
      // The idempotency store failed before or after the send; Service Bus delivers it again.
      log.error({ error: errorText(error) }, "delivery stage failed; will retry");
      return { kind: "abandon", delayMs: storeBackoff(attempt) };
    }
    switch (outcome.status) {
      case "sent":
        log.info({ address: maskAddress(adapter.addressOf(message)), providerMessageId: outcome.providerMessageId }, "sent");
        return COMPLETE;
      case "duplicate":
        log.info({ previous: outcome.record.status }, "already handled; not sent again");
        return COMPLETE;
      case "failed":
        log.warn({ code: outcome.error.code, suppress: outcome.error.suppress }, "failed permanently");
        return COMPLETE;
      case "retry": {
        const misconfigured = outcome.error instanceof ConfigError;
        (misconfigured ? log.error : log.warn)(
          { code: outcome.error.code, delayMs: outcome.delayMs, alarm: misconfigured || undefined },
          misconfigured ? "channel misconfigured; retrying slowly" : "failed; will retry",
        );
        return { kind: "abandon", delayMs: outcome.delayMs };
      }
      case "busy":
        log.info({ retryInMs: outcome.retryInMs }, "another delivery holds the key; will look again when its claim lapses");
        return { kind: "abandon", delayMs: outcome.retryInMs };
      case "deferred":
        try {
          await resend(message);
        } catch (error) {
          log.error({ error: errorText(error) }, "could not schedule the deferred message again; will retry");
          return { kind: "abandon", delayMs: storeBackoff(attempt) };
        }
        log.info({ notBefore: message.meta.notBefore }, "deferred (quiet hours); scheduled again on the channel queue");
        return COMPLETE;
    }
  };
}

/** The message, if the body is one of this channel's. */
function parseMessage(inbound: InboundMessage, channel: string): ChannelMessage | undefined {
  const message = jsonBodyOf(inbound) as ChannelMessage | undefined;
  const meta = message?.meta;
  return meta && typeof meta.idempotencyKey === "string" && meta.channel === channel ? message : undefined;
}
