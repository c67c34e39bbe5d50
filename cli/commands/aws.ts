/**
 * `--target aws` for `herald publish` and `herald dlq list|show|redrive`: the same
 * commands and output as against the local runtime, acting on the deployed stack's SNS
 * topic and SQS queues. local.ts declares the commands and dispatches here.
 */
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AcceptedEvent } from "../../handlers/core/envelope";
import {
  assertRegion,
  clientConfig,
  cliErrorFromAws,
  resolveChannelQueueUrl,
  resolveTopicArn,
  StackOutputs,
  TOPIC_ARN_VARIABLE,
  type AwsConnectionOptions,
} from "../aws/settings";
import { publishEvents, SNS_BATCH_ENTRIES } from "../aws/sns-publish";
import { peekMessages, redrive, type PeekedMessage } from "../aws/sqs-dlq";
import type { CliIo } from "../io";
import { DLQ_LIST_LIMIT, DLQ_SHOW_SEARCH_LIMIT, MAX_FAILURE_LINES, DeadLetterNotFound, firstLine, parseIfJson } from "../cloud-output";
import { UsageError } from "../usage-error";


/**
 * The flags only `--target aws` takes, as `[flags, description]` for commander's
 * `.option(...)`, by the key commander parses them to. local.ts declares them on each
 * command (so `--help` lists them) and passes what it parsed here.
 */
export const AWS_OPTION = {
  topicArn: ["--topic-arn <arn>", `aws: SNS topic (default: $${TOPIC_ARN_VARIABLE}, then the stack output topicArn)`],
  queueUrl: ["--queue-url <url>", "aws: the channel's dead-letter queue (default: $HERALD_DLQ_URL_<CHANNEL>, then the stack output deadLetterQueueUrls)"],
  sourceQueueUrl: ["--source-queue-url <url>", "aws: where redriven messages go (default: $HERALD_QUEUE_URL_<CHANNEL>, then the stack output queueUrls)"],
  endpointUrl: ["--endpoint-url <url>", "aws: endpoint for an emulator such as moto (default: $AWS_ENDPOINT_URL)"],
  region: ["--region <region>", "aws: region (default: the resource's, then $AWS_REGION)"],
} as const satisfies Record<string, readonly [string, string]>;


/** Options of `herald publish --target aws`. */
export interface AwsPublishOptions extends AwsConnectionOptions {
  readonly topicArn?: string;
  readonly json?: boolean;
}

/** Options of `herald dlq ... --target aws`. */
export interface AwsDlqOptions extends AwsConnectionOptions {
  readonly channel?: string;
  readonly queueUrl?: string;
  readonly sourceQueueUrl?: string;
  readonly id?: string[];
  readonly json?: boolean;
}

/**
 * Publishes validated events to the SNS topic; resolves to the exit code. Prints what
 * `herald publish` prints locally; events SNS refused are listed on stderr (exit 1).
 */
export async function publishToAws(events: readonly AcceptedEvent[], options: AwsPublishOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const topicArn = await resolveTopicArn(options.topicArn, stack);
  const sns = new SNSClient(clientConfig(options, topicArn));
  try {
    await assertRegion(sns.config);
    const progress = events.length > SNS_BATCH_ENTRIES && process.stderr.isTTY;
    const outcome = await publishEvents(sns, topicArn, events, {
      ...(progress ? { onProgress: (done: number) => process.stderr.write(`\rpublished ${done}/${events.length}`) } : {}),
    }).catch((error: unknown) => {
      throw cliErrorFromAws(error, `publishing to ${topicArn}`);
    });
    if (progress) process.stderr.write("\n");
    const accepted = outcome.published;
    // SNS does not deduplicate (standard topics); duplicates are dropped downstream by
    // the rules function's idempotency keys, so there is nothing to report here.
    if (options.json) io.out(JSON.stringify({ accepted, duplicates: [] }, null, 2));
    else io.out(`accepted ${accepted.length} event${accepted.length === 1 ? "" : "s"}`);
    for (const failure of outcome.failed.slice(0, MAX_FAILURE_LINES)) {
      io.err(`herald publish: not published: event ${failure.index} (${failure.id}): ${failure.code}: ${failure.message}`);
    }
    if (outcome.failed.length > MAX_FAILURE_LINES) io.err(`herald publish: not published: ${outcome.failed.length - MAX_FAILURE_LINES} more events`);
    if (outcome.stoppedBy) {
      const reason = cliErrorFromAws(outcome.stoppedBy, `publishing to ${topicArn}`) as Error;
      const count = outcome.notSent.length;
      io.err(`herald publish: stopped, ${count} event${count === 1 ? "" : "s"} not sent: ${reason.message}`);
      for (const event of outcome.notSent.slice(0, MAX_FAILURE_LINES)) io.err(`herald publish: not sent: event ${event.index} (${event.id})`);
      if (count > MAX_FAILURE_LINES) io.err(`herald publish: not sent: ${count - MAX_FAILURE_LINES} more events`);
    }
    return outcome.failed.length > 0 || outcome.stoppedBy ? 1 : 0;
  } finally {
    sns.destroy();
  }
}

/** `herald dlq list --target aws`: the channel's dead letters, peeked (not taken). */
export async function listAwsDeadLetters(options: AwsDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const dlqUrl = await resolveChannelQueueUrl("dlq", channel, options.queueUrl, stack);
  return withSqs(options, dlqUrl, `reading ${dlqUrl}`, async (sqs) => {
    const { messages, approximateTotal } = await peekMessages(sqs, dlqUrl, DLQ_LIST_LIMIT);
    const listed = messages.map((message) => summary(channel, message));
    if (options.json) io.out(JSON.stringify(listed, null, 2));
    else if (listed.length === 0) io.out("no dead letters");
    else for (const d of listed) io.out(`${d.id}  ${d.queue.padEnd(6)}  ${d.receiveCount} receives  ${new Date(d.sentAtMs).toISOString()}  ${firstLine(d.body)}`);
    if (listed.length < approximateTotal) io.err(`herald dlq list: showing ${listed.length} of about ${approximateTotal} (SQS has no peek; each list samples the queue)`);
    return 0;
  });
}

/** `herald dlq show <id> --target aws`: one dead letter, its body parsed when it is JSON. */
export async function showAwsDeadLetter(id: string, options: AwsDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const dlqUrl = await resolveChannelQueueUrl("dlq", channel, options.queueUrl, stack);
  return withSqs(options, dlqUrl, `reading ${dlqUrl}`, async (sqs) => {
    const { messages } = await peekMessages(sqs, dlqUrl, DLQ_SHOW_SEARCH_LIMIT, (message) => message.id === id);
    const found = messages.find((message) => message.id === id);
    if (!found) throw new DeadLetterNotFound(`no dead letter ${id} among the ${messages.length} messages of ${dlqUrl} peeked at`);
    const { body, ...rest } = summary(channel, found);
    io.out(JSON.stringify({ ...rest, messageAttributes: found.messageAttributes, body: parseIfJson(body) }, null, 2));
    return 0;
  });
}

/**
 * `herald dlq redrive --target aws`: moves the channel's dead letters back to its queue,
 * with SQS's message move task (or receive-and-send where that API is missing, or for `--id`).
 */
export async function redriveAwsDeadLetters(options: AwsDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const dlqUrl = await resolveChannelQueueUrl("dlq", channel, options.queueUrl, stack);
  const sourceUrl = await resolveChannelQueueUrl("source", channel, options.sourceQueueUrl, stack);
  return withSqs(options, dlqUrl, `redriving ${dlqUrl}`, async (sqs) => {
    const progress = process.stderr.isTTY;
    const outcome = await redrive(sqs, {
      dlqUrl,
      sourceUrl,
      ...(options.id ? { ids: new Set(options.id) } : {}),
      ...(progress ? { onProgress: (moved: number, total: number | undefined) => process.stderr.write(`\rredrove ${moved}${total === undefined ? "" : `/${total}`}`) } : {}),
      onFallback: (reason) => io.err(`herald dlq redrive: ${reason}; moving messages by receiving and sending them instead`),
    });
    if (progress) process.stderr.write("\n");
    const { redriven } = outcome;
    io.out(options.json ? JSON.stringify({ redriven }) : `redrove ${redriven} message${redriven === 1 ? "" : "s"}`);
    for (const failure of outcome.notSent) io.err(`herald dlq redrive: not sent back, still in the DLQ: ${failure.id}: ${failure.code}: ${failure.message}`);
    for (const id of outcome.notDeleted) io.err(`herald dlq redrive: sent back but not deleted from the DLQ (now in both): ${id}`);
    for (const id of outcome.notFound) io.err(`herald dlq redrive: not in the DLQ: ${id}`);
    return outcome.notSent.length > 0 || outcome.notFound.length > 0 ? 1 : 0;
  });
}

function requireChannel(options: AwsDlqOptions): string {
  if (!options.channel) throw new UsageError("--target aws needs --channel <channel>: each channel (and rules) has its own dead-letter queue");
  return options.channel;
}

/** Runs `work` with an SQS client for `queueUrl`, mapping SDK failures to CLI errors. */
async function withSqs(options: AwsConnectionOptions, queueUrl: string, doing: string, work: (sqs: SQSClient) => Promise<number>): Promise<number> {
  const sqs = new SQSClient(clientConfig(options, queueUrl));
  try {
    await assertRegion(sqs.config);
    return await work(sqs);
  } catch (error) {
    throw cliErrorFromAws(error, doing);
  } finally {
    sqs.destroy();
  }
}

/** A dead letter as `dlq list --json` prints it. */
function summary(channel: string, message: PeekedMessage): { id: string; queue: string; receiveCount: number; sentAtMs: number; body: string } {
  return { id: message.id, queue: channel, receiveCount: message.receiveCount, sentAtMs: message.sentAtMs, body: message.body };
}



