/**
 * `--target azure` for `herald publish` and `herald dlq list|show|redrive`: the same
 * commands and output as for the other targets, on the deployed stack's Service Bus
 * entry topic and per-consumer queues. local.ts declares the commands and dispatches here.
 */
import type { AcceptedEvent } from "../../handlers/core/envelope";
import { channelQueueVariable } from "../../handlers/runtime/azure/env";
import { cliErrorFromAzure, peekDeadLetters, publishToTopic, redriveDeadLetters, serviceBusFor, type CliBus } from "../azure/service-bus";
import { DLQ_LIST_LIMIT, DLQ_SHOW_SEARCH_LIMIT, MAX_FAILURE_LINES, DeadLetterNotFound, firstLine, parseIfJson } from "../cloud-output";
import type { CliIo } from "../io";
import { resolveStackSetting, StackOutputs } from "../stack-outputs";
import { UsageError } from "../usage-error";

/** Environment variable with the entry topic's address, `<namespace>.servicebus.windows.net/<topic>`. */
export const TOPIC_ADDRESS_VARIABLE = "HERALD_TOPIC_ADDRESS";

/** The flags only `--target azure` takes (see AWS_OPTION in ./aws.ts). */
export const AZURE_OPTION = {
  topicAddress: ["--topic-address <address>", `azure: <namespace>.servicebus.windows.net/<topic> (default: $${TOPIC_ADDRESS_VARIABLE}, then the stack output topicArn)`],
  queueAddress: ["--queue-address <address>", "azure: the channel's queue, <namespace>.servicebus.windows.net/<queue> (default: $HERALD_QUEUE_<CHANNEL>, then the stack output queueUrls)"],
} as const satisfies Record<string, readonly [string, string]>;


export interface AzurePublishOptions {
  readonly topicAddress?: string;
  readonly json?: boolean;
}

export interface AzureDlqOptions {
  readonly channel?: string;
  readonly queueAddress?: string;
  readonly id?: string[];
  readonly json?: boolean;
}

/** Publishes validated events to the entry topic; resolves to the exit code. */
export async function publishToAzure(events: readonly AcceptedEvent[], options: AzurePublishOptions, io: CliIo, stack = new StackOutputs(), connect = serviceBusFor): Promise<number> {
  const address = await resolveStackSetting(
    { flag: options.topicAddress, flagUsage: AZURE_OPTION.topicAddress[0], variable: TOPIC_ADDRESS_VARIABLE, output: "topicArn", missing: "no Service Bus topic to publish to" },
    stack,
  );
  const { namespace, entity } = parseAddress(address);
  return withBus(connect, namespace, `publishing to ${entity}`, async (bus) => {
    const progress = events.length > 100 && process.stderr.isTTY;
    const outcome = await publishToTopic(bus, entity, events, progress ? { onProgress: (done) => process.stderr.write(`\rpublished ${done}/${events.length}`) } : {});
    if (progress) process.stderr.write("\n");
    // Duplicate detection drops a repeated event id silently; it cannot be told apart here.
    if (options.json) io.out(JSON.stringify({ accepted: outcome.published, duplicates: [] }, null, 2));
    else io.out(`accepted ${outcome.published.length} event${outcome.published.length === 1 ? "" : "s"}`);
    for (const failure of outcome.failed.slice(0, MAX_FAILURE_LINES)) io.err(`herald publish: not published: event ${failure.index} (${failure.id}): ${failure.code}: ${failure.message}`);
    if (outcome.stoppedBy) {
      io.err(`herald publish: stopped, ${outcome.notSent.length} event(s) not sent: ${(cliErrorFromAzure(outcome.stoppedBy, `publishing to ${entity}`) as Error).message}`);
      for (const event of outcome.notSent.slice(0, MAX_FAILURE_LINES)) io.err(`herald publish: not sent: event ${event.index} (${event.id})`);
    }
    return outcome.failed.length > 0 || outcome.notSent.length > 0 ? 1 : 0;
  });
}

export async function listAzureDeadLetters(options: AzureDlqOptions, io: CliIo, stack = new StackOutputs(), connect = serviceBusFor): Promise<number> {
  const { channel, namespace, entity } = await resolveQueue(options, stack);
  return withBus(connect, namespace, `reading the dead letters of ${entity}`, async (bus) => {
    const listed = await peekDeadLetters(bus, entity, channel, DLQ_LIST_LIMIT);
    // id, queue and body as every target prints them; then what Service Bus adds.
    if (options.json) io.out(JSON.stringify(listed.map(({ applicationProperties: _, id, body, ...rest }) => ({ id, queue: channel, ...rest, body })), null, 2));
    else if (listed.length === 0) io.out("no dead letters");
    else {
      for (const d of listed) {
        const when = d.enqueuedAtMs === null ? "?" : new Date(d.enqueuedAtMs).toISOString();
        io.out(`${d.id}  ${channel.padEnd(6)}  ${d.deliveryCount ?? "?"} deliveries  ${when}  ${d.reason ? `${d.reason}: ` : ""}${firstLine(d.description ?? d.body)}`);
      }
    }
    if (listed.length >= DLQ_LIST_LIMIT) io.err(`herald dlq list: showing the first ${DLQ_LIST_LIMIT}; there may be more`);
    return 0;
  });
}

export async function showAzureDeadLetter(id: string, options: AzureDlqOptions, io: CliIo, stack = new StackOutputs(), connect = serviceBusFor): Promise<number> {
  const { channel, namespace, entity } = await resolveQueue(options, stack);
  return withBus(connect, namespace, `reading the dead letters of ${entity}`, async (bus) => {
    const found = (await peekDeadLetters(bus, entity, channel, DLQ_SHOW_SEARCH_LIMIT)).find((d) => d.id === id);
    if (!found) throw new DeadLetterNotFound(`no dead letter ${id} among the first ${DLQ_SHOW_SEARCH_LIMIT} of ${entity}`);
    const { id: _, ...rest } = found;
    io.out(JSON.stringify({ id: found.id, queue: channel, ...rest, body: parseIfJson(found.body) }, null, 2));
    return 0;
  });
}

export async function redriveAzureDeadLetters(options: AzureDlqOptions, io: CliIo, stack = new StackOutputs(), connect = serviceBusFor): Promise<number> {
  const { channel, namespace, entity } = await resolveQueue(options, stack);
  return withBus(connect, namespace, `redriving the dead letters of ${entity}`, async (bus) => {
    const progress = process.stderr.isTTY;
    const outcome = await redriveDeadLetters(bus, entity, channel, {
      ...(options.id ? { ids: new Set(options.id) } : {}),
      ...(progress ? { onProgress: (moved: number) => process.stderr.write(`\rredrove ${moved}`) } : {}),
    });
    if (progress) process.stderr.write("\n");
    io.out(options.json ? JSON.stringify({ redriven: outcome.redriven }) : `redrove ${outcome.redriven} message${outcome.redriven === 1 ? "" : "s"}`);
    for (const missing of outcome.notFound) io.err(`herald dlq redrive: not in the DLQ: ${missing}`);
    return outcome.notFound.length > 0 ? 1 : 0;
  });
}


async function resolveQueue(options: AzureDlqOptions, stack: StackOutputs): Promise<{ channel: string; namespace: string | undefined; entity: string }> {
  if (!options.channel) throw new UsageError("--target azure needs --channel <channel>: each channel (and rules) has its own queue and dead-letter queue");
  const address = await resolveStackSetting(
    {
      flag: options.queueAddress,
      flagUsage: AZURE_OPTION.queueAddress[0],
      variable: channelQueueVariable(options.channel),
      output: "queueUrls",
      key: options.channel,
      missing: `no Service Bus queue for ${options.channel}`,
    },
    stack,
  );
  return { channel: options.channel, ...parseAddress(address) };
}

/** `<namespace>.servicebus.windows.net/<entity>`, or a bare entity name (with a connection string in the environment). */
export function parseAddress(address: string): { namespace: string | undefined; entity: string } {
  const match = /^(?:sb:\/\/)?([^/]+)\/([^/]+)$/.exec(address.trim());
  if (match) return { namespace: match[1], entity: match[2]! };
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(address)) return { namespace: undefined, entity: address };
  throw new UsageError(`"${address}" is not a Service Bus address: expected <namespace>.servicebus.windows.net/<topic or queue>`);
}

async function withBus(connect: (namespace: string | undefined) => CliBus, namespace: string | undefined, doing: string, work: (bus: CliBus) => Promise<number>): Promise<number> {
  const bus = connect(namespace);
  try {
    return await work(bus);
  } catch (error) {
    throw cliErrorFromAzure(error, doing);
  } finally {
    // An open AMQP connection would keep the process alive after the command is done.
    await bus.close().catch(() => undefined);
  }
}


