/**
 * The rules function: SNS delivers each CloudEvent raw to the rules queue, the event
 * source mapping hands batches to this handler, and it evaluates them with core's
 * `evaluateEvent` against the DynamoDB directory and frequency limiter, then puts the
 * channel messages of the whole batch on the channel queues in as few calls as SQS allows.
 *
 * What happens to a record:
 * - evaluated and its messages queued: acknowledged;
 * - rejected by validation: kept in the rules DLQ with the reason, and acknowledged, since
 *   a retry would be rejected the same way;
 * - a port failed (DynamoDB, SQS): named in `batchItemFailures`, so SQS delivers it again
 *   and after maxReceiveCount moves it to the rules DLQ. Evaluating it again is safe: its
 *   message keys are deterministic, the limiter counts a key once, and the channel stage
 *   drops a message whose key it already completed.
 */
import { evaluateEvent, type EvaluationContext } from "../../core/evaluate";
import { ConfigError } from "../../core/errors";
import type { FrequencyLimiter } from "../../core/policies";
import type { ChannelMessage, ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import type { UnsubscribeConfig } from "../../core/unsubscribe";
import { createAwsClient, type AwsApi } from "./aws-json-client";
import { QueueSendError, sendChannelMessages } from "./channel-queues";
import { DynamoDirectory } from "./dynamo-directory";
import { DynamoFrequencyLimiter } from "./dynamo-idempotency";
import { AWS_ENV, channelQueueUrlVariable, requiredEnv } from "./env";
import { perChannelEnv } from "../shared/env";
import { rulesChannels, rulesEvaluation, type RulesDefinitionDeps } from "../shared/rules-evaluation";
import { createJsonLogger, errorText, type JsonLogger } from "./json-logger";
import { readSecretString } from "./secrets";
import { receiveCount, type SQSBatchResponse, type SQSEvent, type SQSHandler, type SQSRecord } from "./sqs-event";

/** Message attributes a rejected event carries in the rules DLQ. */
export const REJECTION_ATTRIBUTES = { reason: "rejectionReason", detail: "rejectionDetail" } as const;

export interface RulesHandlerDeps extends RulesDefinitionDeps {
  /** Where the `AWS_ENV` variables are read; `process.env` by default. */
  readonly env?: ConfigSource;
  /** The AWS clients; by default built from the `AWS_*` variables of `env` (Lambda's region and credentials). */
  readonly sqs?: AwsApi;
  readonly dynamodb?: AwsApi;
  readonly secretsManager?: AwsApi;
  /** Default: `DynamoDirectory` on `HERALD_RECIPIENTS_TABLE`. */
  readonly directory?: RecipientDirectory;
  /** Default: `DynamoFrequencyLimiter` on `HERALD_IDEMPOTENCY_TABLE`. */
  readonly limiter?: FrequencyLimiter;
  readonly logger?: JsonLogger;
  readonly now?: () => number;
  /** Records evaluated at once (their directory reads overlap); default 10. */
  readonly concurrency?: number;
}

/**
 * Builds the rules handler. Missing settings (a channel's queue URL, the DLQ, a table)
 * throw `ConfigError` here, at cold start, rather than failing every record later.
 */
export function createRulesHandler(deps: RulesHandlerDeps = {}): SQSHandler {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? createJsonLogger();
  const now = deps.now ?? Date.now;
  const channels = rulesChannels(deps);
  const queueUrlOf = perChannelEnv(channels.keys(), env, channelQueueUrlVariable);
  const rulesDlqUrl = requiredEnv(env, AWS_ENV.rulesDlqUrl);
  const sqs = deps.sqs ?? createAwsClient("sqs", { env });
  const dynamodb = deps.directory && deps.limiter ? undefined : (deps.dynamodb ?? createAwsClient("dynamodb", { env }));
  const directory = deps.directory ?? new DynamoDirectory(dynamodb!, requiredEnv(env, AWS_ENV.recipientsTable));
  const limiter = deps.limiter ?? new DynamoFrequencyLimiter(dynamodb!, requiredEnv(env, AWS_ENV.idempotencyTable));
  const base = rulesEvaluation(deps, { channels, directory, limiter, now });
  const unsubscribe = unsubscribeSettings(env, () => deps.secretsManager ?? createAwsClient("secretsmanager", { env }), logger);
  const concurrency = deps.concurrency ?? 10;

  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failed = new Set<string>();
    let context: EvaluationContext;
    try {
      const links = await unsubscribe();
      context = links ? { ...base, unsubscribe: links } : base;
    } catch (error) {
      logger.error({ error: errorText(error), records: event.Records.length }, "unsubscribe secret unreadable; the batch will be retried");
      return failAll(event);
    }

    // Which record each message came from, so a message SQS refused fails only its own record.
    const owners = new Map<ChannelMessage, SQSRecord>();
    await eachLimited(event.Records, concurrency, async (record) => {
      const log = logger.child({ messageId: record.messageId, attempt: receiveCount(record) });
      try {
        const evaluation = await evaluateEvent(record.body, context);
        if (!evaluation.accepted) {
          if (!(await rejectToDlq(record, evaluation.reason, evaluation.message, log))) failed.add(record.messageId);
          return;
        }
        const { event: accepted } = evaluation;
        const eventLog = log.child({ eventId: accepted.id, eventSource: accepted.source });
        eventLog.info(
          { type: accepted.type, version: evaluation.version, rules: evaluation.matchedRules, messages: evaluation.messages.length },
          "event evaluated",
        );
        for (const outcome of evaluation.outcomes) eventLog.info({ ...outcome }, "outcome");
        for (const message of evaluation.messages) owners.set(message, record);
      } catch (error) {
        failed.add(record.messageId);
        log.error({ eventId: eventIdOf(record.body), error: errorText(error) }, "evaluation failed; the event will be retried");
      }
    });

    if (owners.size > 0) {
      try {
        await sendChannelMessages(sqs, [...owners.keys()], { queueUrlOf, now });
      } catch (error) {
        const unsent = error instanceof QueueSendError ? error.unsent : [...owners.keys()];
        const records = new Set(unsent.map((message) => owners.get(message)!));
        for (const record of records) {
          failed.add(record.messageId);
          logger.error(
            { messageId: record.messageId, eventId: eventIdOf(record.body), error: errorText(error) },
            "channel messages not queued; the event will be retried",
          );
        }
      }
    }
    return { batchItemFailures: event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({ itemIdentifier: record.messageId })) };
  };

  /**
   * Keeps an event that can never be accepted, with why, where an operator finds it, and
   * acknowledges it. If even that fails, the record is retried (and reaches the DLQ by
   * redrive in the end, without the reason but not lost).
   */
  async function rejectToDlq(record: SQSRecord, reason: string, detail: string, log: JsonLogger): Promise<boolean> {
    const eventId = eventIdOf(record.body);
    try {
      await sqs.call("SendMessage", {
        QueueUrl: rulesDlqUrl,
        MessageBody: record.body,
        MessageAttributes: {
          [REJECTION_ATTRIBUTES.reason]: { DataType: "String", StringValue: reason },
          [REJECTION_ATTRIBUTES.detail]: { DataType: "String", StringValue: detail.slice(0, 1024) || reason },
        },
      });
    } catch (error) {
      log.error({ eventId, reason, error: errorText(error) }, "rejected event could not be kept in the rules DLQ; it will be retried");
      return false;
    }
    log.warn({ eventId, reason, detail }, "event rejected; kept in the rules DLQ");
    return true;
  }
}

/** Every record named as failed: the whole batch comes back. */
function failAll(event: SQSEvent): SQSBatchResponse {
  return { batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })) };
}

/**
 * Unsubscribe links need a base URL and a signing key (the secret's string value). Read
 * once per container, on first use; with either missing, no link is signed.
 */
function unsubscribeSettings(env: ConfigSource, client: () => AwsApi, logger: JsonLogger): () => Promise<UnsubscribeConfig | undefined> {
  const baseUrl = env[AWS_ENV.unsubscribeBaseUrl];
  const secretArn = env[AWS_ENV.unsubscribeSecretArn];
  if (!baseUrl || !secretArn) {
    if (baseUrl || secretArn)
      logger.warn({ baseUrl: Boolean(baseUrl), secretArn: Boolean(secretArn) }, "unsubscribe links need both settings; none will be signed");
    return async () => undefined;
  }
  // One config object for the container's life: core caches signed links per object.
  let settings: UnsubscribeConfig | undefined;
  let secrets: AwsApi | undefined;
  return async () => (settings ??= { baseUrl, secret: await readSecretString((secrets ??= client()), secretArn) });
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

/** Runs `work` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

let built: SQSHandler | undefined;

/** The Lambda entry point: built from the environment on first invocation, kept per container. */
export const handler: SQSHandler = (event) => (built ??= createRulesHandler())(event);
