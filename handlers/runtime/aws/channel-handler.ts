/**
 * A channel function: the channel queue's event source mapping hands it batches of that
 * channel's messages, and it runs core's `deliver()` on each with the DynamoDB
 * idempotency store and directory. The outcome decides what SQS does with the record:
 *
 * - sent, duplicate, failed (for good): acknowledged (a failure is logged with its code);
 * - retry: made invisible for the backoff delay and named in `batchItemFailures`; the
 *   queue's maxReceiveCount (the channel's maxAttempts) moves it to the DLQ in the end;
 * - deferred (quiet hours): sent again with SQS's own delay and acknowledged, so waiting
 *   out the night does not use up receives;
 * - busy (another instance holds a live claim): invisible until that claim lapses, retried.
 *
 * Records are handled one after another: the channel's concurrency cap is the event
 * source mapping's maximumConcurrency, so with one send in flight per invocation the cap
 * holds exactly.
 */
import { deliver, type DeliveryContext, type IdempotencyStore, type RetryPolicy } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import { maskAddress } from "../../core/masking";
import type { ChannelAdapter, ChannelMessage, ChannelSender, ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { createAwsClient, type AwsApi } from "./aws-json-client";
import { QueueSendError, sendChannelMessages } from "./channel-queues";
import { DynamoDirectory } from "./dynamo-directory";
import { DynamoIdempotencyStore } from "./dynamo-idempotency";
import { AWS_ENV, channelQueueUrlVariable, positiveIntEnv, requiredEnv } from "./env";
import { createJsonLogger, errorText, type JsonLogger } from "./json-logger";
import { channelDeliveryContext, senderOrConfigFailure } from "../shared/channel-sender";
import { channelConfigSource } from "./secrets";
import { parseQueueArn, receiveCount, type SQSBatchResponse, type SQSEvent, type SQSHandler, type SQSRecord } from "./sqs-event";

/** SQS's longest visibility timeout: 12 hours. */
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;

export interface ChannelHandlerDeps {
  /** Where the `AWS_ENV` variables are read; `process.env` by default. */
  readonly env?: ConfigSource;
  /** The AWS clients; by default built from the `AWS_*` variables of `env` (Lambda's region and credentials). */
  readonly sqs?: AwsApi;
  readonly dynamodb?: AwsApi;
  readonly secretsManager?: AwsApi;
  /** Default: `DynamoIdempotencyStore` on `HERALD_IDEMPOTENCY_TABLE`. */
  readonly idempotency?: IdempotencyStore;
  /** Default: `DynamoDirectory` on `HERALD_RECIPIENTS_TABLE` (suppressions, gone push subscriptions). */
  readonly directory?: RecipientDirectory;
  /** Default: the adapter's sender, from its config (environment + `HERALD_SECRET_ARN`). */
  readonly sender?: ChannelSender;
  /** The queue this function consumes; default `HERALD_QUEUE_URL_<CHANNEL>`, else looked up from the record's ARN. */
  readonly queueUrl?: string;
  readonly logger?: JsonLogger;
  readonly retry?: RetryPolicy;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * Builds the handler for one channel. A channel function's bundle entry is
 * `export const handler = createChannelHandler(<that channel's module>)`, so the bundle
 * carries that channel alone. The sender is created once per container, on first use
 * (its config needs the secret): its SMTP pool or HTTP agent then serves every
 * invocation the container runs.
 */
export function createChannelHandler(adapter: ChannelAdapter, deps: ChannelHandlerDeps = {}): SQSHandler {
  const env = deps.env ?? process.env;
  const logger = (deps.logger ?? createJsonLogger()).child({ channel: adapter.name });
  const now = deps.now ?? Date.now;
  const sqs = deps.sqs ?? createAwsClient("sqs", { env });
  const dynamodb = deps.idempotency && deps.directory ? undefined : (deps.dynamodb ?? createAwsClient("dynamodb", { env }));
  const idempotency = deps.idempotency ?? new DynamoIdempotencyStore(dynamodb!, requiredEnv(env, AWS_ENV.idempotencyTable));
  const directory = deps.directory ?? new DynamoDirectory(dynamodb!, requiredEnv(env, AWS_ENV.recipientsTable));
  const timeoutMs = positiveIntEnv(env, AWS_ENV.channelTimeoutMs);
  const contextWith = channelDeliveryContext({ adapter, timeoutMs, idempotency, directory, logger, now, retry: deps.retry, random: deps.random });

  let sender: Promise<ChannelSender> | undefined;
  const senderOnce = (): Promise<ChannelSender> => {
    if (deps.sender) return Promise.resolve(deps.sender);
    if (!sender) {
      const created = createSender(adapter, env, deps.secretsManager, logger);
      sender = created;
      // A secret that could not be read is read again next time; a bad one is not (see createSender).
      created.catch(() => {
        if (sender === created) sender = undefined;
      });
    }
    return sender;
  };

  const queueUrls = new Map<string, Promise<string>>();
  const queueUrlOf = (record: SQSRecord): Promise<string> => {
    const configured = deps.queueUrl ?? env[channelQueueUrlVariable(adapter.name)];
    if (configured) return Promise.resolve(configured);
    let url = queueUrls.get(record.eventSourceARN);
    if (!url) {
      const { queueName, accountId } = parseQueueArn(record.eventSourceARN);
      url = sqs.call<{ QueueUrl: string }>("GetQueueUrl", { QueueName: queueName, QueueOwnerAWSAccountId: accountId }).then((result) => result.QueueUrl);
      queueUrls.set(record.eventSourceARN, url);
      url.catch(() => queueUrls.delete(record.eventSourceARN));
    }
    return url;
  };

  /** Makes the record invisible for `delayMs`; if SQS refuses, it comes back after the queue's own visibility timeout. */
  async function hide(record: SQSRecord, delayMs: number, log: JsonLogger): Promise<void> {
    const seconds = Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    try {
      await sqs.call("ChangeMessageVisibility", { QueueUrl: await queueUrlOf(record), ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds });
    } catch (error) {
      log.warn({ error: errorText(error), visibilitySeconds: seconds }, "could not set the retry delay; the queue's visibility timeout applies");
    }
  }

  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failed = new Set<string>();
    let context: DeliveryContext;
    try {
      context = contextWith(await senderOnce());
    } catch (error) {
      logger.error({ error: errorText(error), records: event.Records.length }, "channel config unreadable; the batch will be retried");
      return { batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })) };
    }

    const deferred = new Map<ChannelMessage, SQSRecord>();
    for (const record of event.Records) {
      const attempt = receiveCount(record);
      const message = parseMessage(record.body, adapter.name);
      if (!message) {
        // Not ours or not a message: it can never be delivered, and after maxReceiveCount
        // it waits in the DLQ for someone to look at it.
        logger.error({ messageId: record.messageId, attempt }, "unreadable channel message");
        failed.add(record.messageId);
        continue;
      }
      const log = logger.child({ eventId: message.meta.eventId, messageId: record.messageId, idempotencyKey: message.meta.idempotencyKey, attempt });
      let outcome;
      try {
        outcome = await deliver(message, attempt, context);
      } catch (error) {
        // The idempotency store failed before or after the send; SQS delivers it again.
        log.error({ error: errorText(error) }, "delivery stage failed; will retry");
        failed.add(record.messageId);
        continue;
      }
      switch (outcome.status) {
        case "sent":
          log.info({ address: maskAddress(adapter.addressOf(message)), providerMessageId: outcome.providerMessageId }, "sent");
          break;
        case "duplicate":
          log.info({ previous: outcome.record.status }, "already handled; not sent again");
          break;
        case "failed":
          log.warn({ code: outcome.error.code, suppress: outcome.error.suppress }, "failed permanently");
          break;
        case "retry": {
          const misconfigured = outcome.error instanceof ConfigError;
          (misconfigured ? log.error : log.warn)(
            { code: outcome.error.code, delayMs: outcome.delayMs, alarm: misconfigured || undefined },
            misconfigured ? "channel misconfigured; retrying slowly" : "failed; will retry",
          );
          await hide(record, outcome.delayMs, log);
          failed.add(record.messageId);
          break;
        }
        case "deferred":
          deferred.set(message, record);
          break;
        case "busy":
          log.info({ retryInMs: outcome.retryInMs }, "another delivery holds the key; will look again when its claim lapses");
          await hide(record, outcome.retryInMs, log);
          failed.add(record.messageId);
          break;
      }
    }

    if (deferred.size > 0) {
      // Sent again with DelaySeconds (at most 15 minutes, so a long wait takes several
      // hops) and the original acknowledged: the wait costs no receive.
      const first = deferred.values().next().value!;
      try {
        const queueUrl = await queueUrlOf(first);
        await sendChannelMessages(sqs, [...deferred.keys()], { queueUrlOf: () => queueUrl, now });
      } catch (error) {
        const unsent = error instanceof QueueSendError ? error.unsent : [...deferred.keys()];
        for (const message of unsent) failed.add(deferred.get(message)!.messageId);
        logger.error({ error: errorText(error), messages: unsent.length }, "deferred messages not re-queued; they will come back");
      }
      for (const [message, record] of deferred) {
        if (!failed.has(record.messageId)) logger.info({ eventId: message.meta.eventId, notBefore: message.meta.notBefore }, "deferred (quiet hours)");
      }
    }
    return { batchItemFailures: event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({ itemIdentifier: record.messageId })) };
  };
}

/**
 * The channel's sender from its config: the environment with the secret merged over it.
 * A config the channel refuses (a missing key) gives a sender that fails every send with
 * that `ConfigError`, so messages retry slowly and raise the alarm instead of vanishing;
 * an operator fixes the secret and the next container picks it up.
 */
async function createSender(
  adapter: ChannelAdapter,
  env: ConfigSource,
  secretsManager: AwsApi | undefined,
  logger: JsonLogger,
): Promise<ChannelSender> {
  const source = await channelConfigSource(secretsManager ?? createAwsClient("secretsmanager", { env }), env);
  return senderOrConfigFailure(adapter, source, logger);
}

/** The message, if the body is one of this channel's. */
function parseMessage(body: string, channel: string): ChannelMessage | undefined {
  try {
    const message = JSON.parse(body) as ChannelMessage;
    const meta = message?.meta;
    return meta && typeof meta.idempotencyKey === "string" && meta.channel === channel ? message : undefined;
  } catch {
    return undefined;
  }
}
