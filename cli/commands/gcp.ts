/**
 * `--target gcp` for `herald publish` and `herald dlq list|show|redrive`: the same
 * commands and output as against the local runtime and AWS, acting on the deployed
 * stack's Pub/Sub entry topic and per-channel dead-letter subscriptions. local.ts
 * declares the commands and dispatches here.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { AcceptedEvent } from "../../handlers/core/envelope";
import { peekMessages, redrive, REJECTION_REASON_ATTRIBUTE, subscriberFor, type PeekedMessage } from "../gcp/pubsub-dlq";
import { publishEvents, PUBLISH_WINDOW } from "../gcp/pubsub-publish";
import {
  cliErrorFromGcp,
  pubsubFor,
  resolveDeadLetterSubscription,
  resolveSourceTopic,
  resolveTopic,
  TOPIC_VARIABLE,
  type GcpConnectionOptions,
} from "../gcp/settings";
import type { CliIo } from "../io";
import { DLQ_LIST_LIMIT, DLQ_SHOW_SEARCH_LIMIT, MAX_FAILURE_LINES, DeadLetterNotFound, firstLine, parseIfJson } from "../cloud-output";
import { StackOutputs } from "../stack-outputs";
import { UsageError } from "../usage-error";


/**
 * The flags only `--target gcp` takes, as `[flags, description]` for commander's
 * `.option(...)`, by the key commander parses them to (see AWS_OPTION in ./aws.ts).
 */
export const GCP_OPTION = {
  topic: ["--topic <topic>", `gcp: entry topic, projects/<p>/topics/<t> or a name (default: $${TOPIC_VARIABLE}, then the stack output topicArn)`],
  subscription: ["--subscription <subscription>", "gcp: the channel's dead-letter subscription (default: $HERALD_DLQ_SUBSCRIPTION_<CHANNEL>, then the stack output deadLetterQueueUrls)"],
  sourceTopic: ["--source-topic <topic>", "gcp: where redriven messages go (default: $HERALD_TOPIC_<CHANNEL>, then the stack output queueUrls)"],
  project: ["--project <id>", "gcp: project for short names (default: the one in a full name, then GOOGLE_CLOUD_PROJECT)"],
} as const satisfies Record<string, readonly [string, string]>;


/** Options of `herald publish --target gcp`. */
export interface GcpPublishOptions extends GcpConnectionOptions {
  readonly topic?: string;
  readonly json?: boolean;
}

/** Options of `herald dlq ... --target gcp`. */
export interface GcpDlqOptions extends GcpConnectionOptions {
  readonly channel?: string;
  readonly subscription?: string;
  readonly sourceTopic?: string;
  readonly id?: string[];
  readonly json?: boolean;
}

/**
 * Publishes validated events to the entry topic; resolves to the exit code. Prints what
 * `herald publish` prints for the other targets; events Pub/Sub refused are listed on stderr (exit 1).
 */
export async function publishToGcp(events: readonly AcceptedEvent[], options: GcpPublishOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const topic = await resolveTopic(options.topic, stack);
  return withPubSub(options, topic, `publishing to ${topic}`, async (pubsub) => {
    const progress = events.length > PUBLISH_WINDOW && process.stderr.isTTY;
    const outcome = await publishEvents(pubsub, topic, events, {
      ...(progress ? { onProgress: (done: number) => process.stderr.write(`\rpublished ${done}/${events.length}`) } : {}),
    });
    if (progress) process.stderr.write("\n");
    const accepted = outcome.published;
    // Pub/Sub does not deduplicate either; the rules function's idempotency keys do, downstream.
    if (options.json) io.out(JSON.stringify({ accepted, duplicates: [] }, null, 2));
    else io.out(`accepted ${accepted.length} event${accepted.length === 1 ? "" : "s"}`);
    for (const failure of outcome.failed.slice(0, MAX_FAILURE_LINES)) {
      io.err(`herald publish: not published: event ${failure.index} (${failure.id}): ${failure.code}: ${failure.message}`);
    }
    if (outcome.failed.length > MAX_FAILURE_LINES) io.err(`herald publish: not published: ${outcome.failed.length - MAX_FAILURE_LINES} more events`);
    if (outcome.stoppedBy && outcome.notSent.length > 0) {
      const count = outcome.notSent.length;
      io.err(`herald publish: stopped, ${count} event${count === 1 ? "" : "s"} not sent: ${(cliErrorFromGcp(outcome.stoppedBy, `publishing to ${topic}`) as Error).message}`);
      for (const event of outcome.notSent.slice(0, MAX_FAILURE_LINES)) io.err(`herald publish: not sent: event ${event.index} (${event.id})`);
      if (count > MAX_FAILURE_LINES) io.err(`herald publish: not sent: ${count - MAX_FAILURE_LINES} more events`);
    }
    return outcome.failed.length > 0 || outcome.notSent.length > 0 ? 1 : 0;
  });
}

/** `herald dlq list --target gcp`: the channel's dead letters, pulled and released (not taken). */
export async function listGcpDeadLetters(options: GcpDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const name = await resolveDeadLetterSubscription(channel, options.subscription, stack);
  return withPubSub(options, name, `reading ${name}`, async (pubsub) => {
    const { subscriber, subscription } = await subscriberFor(pubsub);
    try {
      const listed = (await peekMessages(subscriber, subscription(name), DLQ_LIST_LIMIT)).map((message) => summary(channel, message));
      if (options.json) io.out(JSON.stringify(listed, null, 2));
      else if (listed.length === 0) io.out("no dead letters");
      else for (const d of listed) io.out(`${d.id}  ${d.queue.padEnd(6)}  ${d.deliveryAttempts ?? "?"} attempts  ${new Date(d.publishedAtMs).toISOString()}  ${d.rejectionReason ? `${d.rejectionReason}: ` : ""}${firstLine(d.body)}`);
      if (listed.length === DLQ_LIST_LIMIT) io.err(`herald dlq list: showing the first ${DLQ_LIST_LIMIT}; there may be more`);
      return 0;
    } finally {
      await subscriber.close();
    }
  });
}

/** `herald dlq show <id> --target gcp`: one dead letter with its attributes, its data parsed when it is JSON. */
export async function showGcpDeadLetter(id: string, options: GcpDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const name = await resolveDeadLetterSubscription(channel, options.subscription, stack);
  return withPubSub(options, name, `reading ${name}`, async (pubsub) => {
    const { subscriber, subscription } = await subscriberFor(pubsub);
    try {
      const messages = await peekMessages(subscriber, subscription(name), DLQ_SHOW_SEARCH_LIMIT, (message) => message.id === id);
      const found = messages.find((message) => message.id === id);
      if (!found) throw new DeadLetterNotFound(`no dead letter ${id} among the ${messages.length} messages of ${name} pulled`);
      const { body, ...rest } = summary(channel, found);
      io.out(JSON.stringify({ ...rest, attributes: found.attributes, body: parseIfJson(body) }, null, 2));
      return 0;
    } finally {
      await subscriber.close();
    }
  });
}

/**
 * `herald dlq redrive --target gcp`: publishes the channel's dead letters back to its
 * topic and acks them in the dead-letter subscription (only those published).
 */
export async function redriveGcpDeadLetters(options: GcpDlqOptions, io: CliIo, stack = new StackOutputs()): Promise<number> {
  const channel = requireChannel(options);
  const name = await resolveDeadLetterSubscription(channel, options.subscription, stack);
  const sourceTopic = await resolveSourceTopic(channel, options.sourceTopic, stack);
  return withPubSub(options, name, `redriving ${name}`, async (pubsub) => {
    const { subscriber, subscription } = await subscriberFor(pubsub);
    const progress = process.stderr.isTTY;
    try {
      const outcome = await redrive(pubsub, subscriber, {
        subscription: subscription(name),
        sourceTopic,
        ...(options.id ? { ids: new Set(options.id) } : {}),
        ...(progress ? { onProgress: (moved: number, total: number | undefined) => process.stderr.write(`\rredrove ${moved}${total === undefined ? "" : `/${total}`}`) } : {}),
      });
      if (progress) process.stderr.write("\n");
      const { redriven } = outcome;
      io.out(options.json ? JSON.stringify({ redriven }) : `redrove ${redriven} message${redriven === 1 ? "" : "s"}`);
      for (const failure of outcome.notSent) io.err(`herald dlq redrive: not published to ${sourceTopic}, still in the DLQ: ${failure.id}: ${failure.code}: ${failure.message}`);
      for (const id of outcome.notAcked) io.err(`herald dlq redrive: published but not acked in the DLQ (now in both): ${id}`);
      for (const id of outcome.notFound) io.err(`herald dlq redrive: not in the DLQ: ${id}`);
      return outcome.notSent.length > 0 || outcome.notFound.length > 0 ? 1 : 0;
    } finally {
      await subscriber.close();
    }
  });
}

function requireChannel(options: GcpDlqOptions): string {
  if (!options.channel) throw new UsageError("--target gcp needs --channel <channel>: each channel (and rules) has its own dead-letter subscription");
  return options.channel;
}

/** Runs `work` with a Pub/Sub client for `resource`, mapping library failures to CLI errors and closing the client. */
async function withPubSub(options: GcpConnectionOptions, resource: string, doing: string, work: (pubsub: PubSub) => Promise<number>): Promise<number> {
  const pubsub = pubsubFor(options, resource);
  try {
    return await work(pubsub);
  } catch (error) {
    throw cliErrorFromGcp(error, doing);
  } finally {
    // Open gRPC channels would keep the process alive after the command is done.
    await pubsub.close().catch(() => undefined);
  }
}

/** A dead letter as `dlq list --json` prints it. */
function summary(channel: string, message: PeekedMessage): { id: string; queue: string; deliveryAttempts: number | null; publishedAtMs: number; rejectionReason?: string; body: string } {
  const reason = message.attributes[REJECTION_REASON_ATTRIBUTE];
  return {
    id: message.id,
    queue: channel,
    deliveryAttempts: message.deliveryAttempts ?? null,
    publishedAtMs: message.publishedAtMs,
    ...(reason ? { rejectionReason: reason } : {}),
    body: message.body,
  };
}



