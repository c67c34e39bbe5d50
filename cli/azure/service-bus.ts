/**
 * `--target azure` on Service Bus: publishing events to the entry topic, and reading and
 * redriving a queue's dead letters (its built-in `$deadletterqueue`, plus, for rules,
 * the `-rejected` queue of events refused by validation).
 *
 * The functions take a {@link CliBus}, the part of `ServiceBusClient` they use, so the
 * tests run them on the in-process fake (no Service Bus emulator runs without Docker).
 * The namespace has local (SAS) auth off, so the real client authenticates as the
 * operator, with the Azure CLI's token; a connection string is taken from the
 * environment only (never a flag: it would sit in shell history).
 */
import { execFile } from "node:child_process";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ServiceBusClient } from "@azure/service-bus";
import type { AcceptedEvent } from "../../handlers/core/envelope";
import { HeraldError } from "../../handlers/core/errors";
import { REJECTED_SUFFIX } from "../../handlers/runtime/azure/env";
import type { MessageBatchPort, OutgoingMessage, QueueSenderPort } from "../../handlers/runtime/azure/sender";
import { eventAttributes, type PublishedEvent, type PublishOutcome, type UnpublishedEvent } from "../cloud-output";
import { UsageError } from "../usage-error";

/** Environment variable with a Service Bus connection string (an emulator, or a namespace with SAS auth on). */
export const CONNECTION_VARIABLE = "HERALD_SERVICE_BUS_CONNECTION";

/** A received or peeked message: the fields of `ServiceBusReceivedMessage` used here. */
export interface CliReceivedMessage {
  readonly body: unknown;
  readonly messageId?: string | number | Buffer;
  readonly sequenceNumber?: { toString(): string };
  readonly deliveryCount?: number;
  readonly enqueuedTimeUtc?: Date;
  readonly contentType?: string;
  readonly subject?: string;
  readonly applicationProperties?: Record<string, unknown>;
  readonly deadLetterReason?: string;
  readonly deadLetterErrorDescription?: string;
}

/** The part of `ServiceBusReceiver` used here (peek-lock mode). */
export interface CliReceiver {
  peekMessages(maxMessageCount: number): Promise<CliReceivedMessage[]>;
  receiveMessages(maxMessageCount: number, options: { maxWaitTimeInMs: number }): Promise<CliReceivedMessage[]>;
  completeMessage(message: CliReceivedMessage): Promise<void>;
  abandonMessage(message: CliReceivedMessage): Promise<void>;
  close(): Promise<void>;
}

/** The part of `ServiceBusClient` used here. */
export interface CliBus {
  createSender(entity: string): QueueSenderPort;
  createReceiver(queue: string, options: { subQueueType?: "deadLetter"; receiveMode: "peekLock" }): CliReceiver;
  close(): Promise<void>;
}

/**
 * The Azure CLI's token for Service Bus (`az account get-access-token`): operators have
 * `az login` already, and @azure/identity would be a large dependency for this one use.
 */
export class AzureCliCredential implements TokenCredential {
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const resource = (Array.isArray(scopes) ? scopes[0]! : scopes).replace(/\/\.default$/, "");
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile("az", ["account", "get-access-token", "--resource", resource, "--output", "json"], { timeout: 60_000 }, (error, out, err) => {
        if (!error) return resolve(String(out));
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return reject(new UsageError(`no Azure credentials: install the Azure CLI and run \`az login\`, or set ${CONNECTION_VARIABLE}`));
        reject(new UsageError(`no Azure credentials (\`az account get-access-token\` failed: ${String(err).trim().split("\n")[0]}); run \`az login\``));
      });
    });
    const parsed = JSON.parse(stdout) as { accessToken?: string; expires_on?: number | string; expiresOn?: string };
    const expires = parsed.expires_on !== undefined ? Number(parsed.expires_on) * 1000 : Date.parse(String(parsed.expiresOn));
    if (!parsed.accessToken || !Number.isFinite(expires)) throw new UsageError("`az account get-access-token` printed no token");
    return { token: parsed.accessToken, expiresOnTimestamp: expires };
  }
}

/** The client for `namespace` (`<name>.servicebus.windows.net`), or for the connection string in the environment. */
export function serviceBusFor(namespace: string | undefined): CliBus {
  const connection = process.env[CONNECTION_VARIABLE];
  const client = connection ? new ServiceBusClient(connection) : new ServiceBusClient(requireNamespace(namespace), new AzureCliCredential());
  // ServiceBusClient has these members; its wider types (Long sequence numbers, options
  // objects) are what the port narrows.
  return client as unknown as CliBus;
}

function requireNamespace(namespace: string | undefined): string {
  if (!namespace) throw new UsageError(`no Service Bus namespace: pass --namespace <name>.servicebus.windows.net, or set ${CONNECTION_VARIABLE}`);
  return namespace;
}

/** A Service Bus call failed; printed as one line, exit code 1. */
export class AzureCallError extends HeraldError {
  readonly code = "azure-call-failed";
}

/** What the SDK throws (`ServiceBusError` with a `code`, or an AMQP error), as one CLI line. */
export function cliErrorFromAzure(error: unknown, doing: string): unknown {
  if (!(error instanceof Error) || error instanceof HeraldError) return error;
  const code = (error as { code?: unknown }).code;
  return new AzureCallError(`${doing}: ${typeof code === "string" ? `${code}: ` : ""}${error.message.split("\n")[0]}`, { cause: error });
}

/**
 * Publishes every event to `topic` in batches as large as Service Bus accepts. The
 * message id is the event id: the topic's duplicate detection drops a second publish of
 * the same event within its window. A failed batch stops the run (the link or the topic
 * is broken, so the next would fail too); its events are reported as not sent.
 */
export async function publishToTopic(
  bus: CliBus,
  topic: string,
  events: readonly AcceptedEvent[],
  options: { readonly onProgress?: (published: number) => void } = {},
): Promise<PublishOutcome> {
  const sender = bus.createSender(topic);
  const published: PublishedEvent[] = [];
  const failed: UnpublishedEvent[] = [];
  let stoppedBy: Error | undefined;
  let next = 0;
  try {
    while (next < events.length && !stoppedBy) {
      const batch = await sender.createMessageBatch();
      const start = next;
      while (next < events.length) {
        const accepted = events[next]!;
        const message: OutgoingMessage = {
          body: Buffer.from(JSON.stringify(accepted.event), "utf8"),
          contentType: "application/cloudevents+json",
          messageId: accepted.event.id,
          subject: accepted.event.type,
          applicationProperties: eventAttributes(accepted),
        };
        if (batch.tryAddMessage(message)) {
          next++;
          continue;
        }
        if (batch.count === 0) {
          // Larger than a whole batch (Standard tier: 256 KB): refused alone, the rest go on.
          failed.push({ index: next, id: accepted.event.id, source: accepted.event.source, code: "MessageSizeExceeded", message: `the event is larger than a Service Bus message may be (${batch.maxSizeInBytes} bytes)` });
          next++;
          continue;
        }
        break;
      }
      if (batch.count === 0) continue;
      try {
        await sender.sendMessages(batch);
        for (const { event } of events.slice(start, next).filter((_, offset) => !failed.some((f) => f.index === start + offset))) {
          published.push({ id: event.id, source: event.source, messageId: event.id });
        }
        options.onProgress?.(published.length);
      } catch (error) {
        stoppedBy = error as Error;
        next = start;
      }
    }
  } finally {
    await sender.close().catch(() => undefined);
  }
  const failedIndexes = new Set(failed.map((f) => f.index));
  const notSent = events
    .map(({ event }, index) => ({ index, id: event.id, source: event.source }))
    .slice(next)
    .filter(({ index }) => !failedIndexes.has(index));
  return { published, failed, notSent, ...(stoppedBy ? { stoppedBy } : {}) };
}

/** A dead letter as `dlq list` and `dlq show` report it. */
export interface DeadLetter {
  readonly id: string;
  /** The queue it was dead-lettered from (the rules rejections: `<rules>-rejected`). */
  readonly from: string;
  readonly deliveryCount: number | null;
  readonly enqueuedAtMs: number | null;
  /** Service Bus's `deadLetterReason`, or the rules function's reason for a rejected event. */
  readonly reason: string | null;
  readonly description: string | null;
  readonly applicationProperties: Record<string, unknown>;
  readonly body: string;
}

/** Where a queue's dead letters are: its dead-letter subqueue, and for the rules queue also its rejected queue. */
export function deadLetterSources(queue: string, channel: string): Array<{ readonly queue: string; readonly subQueueType?: "deadLetter" }> {
  return [{ queue, subQueueType: "deadLetter" }, ...(channel === "rules" ? [{ queue: `${queue}${REJECTED_SUFFIX}` }] : [])];
}

/** Up to `limit` dead letters of `queue`, peeked (Service Bus peeks without locking or counting a delivery). */
export async function peekDeadLetters(bus: CliBus, queue: string, channel: string, limit: number): Promise<DeadLetter[]> {
  const found: DeadLetter[] = [];
  for (const source of deadLetterSources(queue, channel)) {
    const receiver = bus.createReceiver(source.queue, { ...(source.subQueueType ? { subQueueType: source.subQueueType } : {}), receiveMode: "peekLock" });
    try {
      while (found.length < limit) {
        // The receiver remembers where the last peek stopped.
        const peeked = await receiver.peekMessages(Math.min(100, limit - found.length));
        if (peeked.length === 0) break;
        found.push(...peeked.map((message) => deadLetterOf(message, source.queue)));
      }
    } finally {
      await receiver.close();
    }
  }
  return found;
}

export interface RedriveOutcome {
  readonly redriven: number;
  /** Ids asked for and not found in the dead letters. */
  readonly notFound: string[];
}

/**
 * Moves dead letters (all, or those with `ids`) back to `queue`: each batch is sent, then
 * its originals completed. The copy's message id is derived from the dead letter's
 * sequence number, so if a run dies between send and complete, the next run's copy of
 * the same dead letter is dropped by the queue's duplicate detection instead of doubled.
 */
export async function redriveDeadLetters(
  bus: CliBus,
  queue: string,
  channel: string,
  options: { readonly ids?: ReadonlySet<string>; readonly onProgress?: (moved: number) => void } = {},
): Promise<RedriveOutcome> {
  const sender = bus.createSender(queue);
  const remaining = options.ids ? new Set(options.ids) : undefined;
  let redriven = 0;
  try {
    for (const source of deadLetterSources(queue, channel)) {
      const receiver = bus.createReceiver(source.queue, { ...(source.subQueueType ? { subQueueType: source.subQueueType } : {}), receiveMode: "peekLock" });
      const seen = new Set<string>();
      try {
        while (!remaining || remaining.size > 0) {
          const received = await receiver.receiveMessages(100, { maxWaitTimeInMs: 2_000 });
          const fresh = received.filter((message) => !seen.has(String(message.sequenceNumber)));
          if (fresh.length === 0) {
            for (const message of received) await receiver.abandonMessage(message);
            break;
          }
          for (const message of fresh) seen.add(String(message.sequenceNumber));
          const chosen = fresh.filter((message) => !remaining || remaining.has(idOf(message)));
          // Not asked for: released at once for the next receive (abandon on a DLQ dead-letters nothing further).
          for (const message of fresh.filter((m) => !chosen.includes(m))) await receiver.abandonMessage(message);
          await sendCopies(sender, chosen);
          for (const message of chosen) {
            await receiver.completeMessage(message);
            remaining?.delete(idOf(message));
          }
          redriven += chosen.length;
          options.onProgress?.(redriven);
        }
      } finally {
        await receiver.close();
      }
    }
  } finally {
    await sender.close().catch(() => undefined);
  }
  return { redriven, notFound: remaining ? [...remaining] : [] };
}

async function sendCopies(sender: QueueSenderPort, messages: readonly CliReceivedMessage[]): Promise<void> {
  let batch: MessageBatchPort = await sender.createMessageBatch();
  for (const message of messages) {
    const copy = redriveCopy(message);
    if (batch.tryAddMessage(copy)) continue;
    if (batch.count > 0) await sender.sendMessages(batch);
    batch = await sender.createMessageBatch();
    if (!batch.tryAddMessage(copy)) throw new AzureCallError(`dead letter ${idOf(message)} is too large to send back`);
  }
  if (batch.count > 0) await sender.sendMessages(batch);
}

/** The message sent back: the same body and properties, minus the dead-letter ones; an id unique to this dead letter. */
function redriveCopy(message: CliReceivedMessage): OutgoingMessage {
  const body = Buffer.isBuffer(message.body) ? message.body : Buffer.from(typeof message.body === "string" ? message.body : JSON.stringify(message.body), "utf8");
  const properties = Object.fromEntries(
    Object.entries(message.applicationProperties ?? {}).filter(([key, value]) => !key.startsWith("deadLetter") && ["string", "number", "boolean"].includes(typeof value)),
  ) as Record<string, string | number | boolean>;
  return {
    body,
    contentType: message.contentType ?? "application/json",
    // At most 128 characters: the original id (shortened) and the dead letter's sequence number.
    messageId: `${idOf(message).slice(0, 90)}~redrive~${String(message.sequenceNumber ?? "0")}`,
    ...(message.subject ? { subject: message.subject } : {}),
    applicationProperties: properties,
  };
}

function idOf(message: CliReceivedMessage): string {
  const id = message.messageId;
  return Buffer.isBuffer(id) ? id.toString("hex") : String(id ?? message.sequenceNumber ?? "");
}

function deadLetterOf(message: CliReceivedMessage, from: string): DeadLetter {
  const properties = message.applicationProperties ?? {};
  const body = Buffer.isBuffer(message.body) ? message.body.toString("utf8") : typeof message.body === "string" ? message.body : JSON.stringify(message.body);
  // The rules function keeps rejected events with the property names Service Bus uses for its own dead letters.
  const reason = message.deadLetterReason ?? (typeof properties.deadLetterReason === "string" ? properties.deadLetterReason : null);
  const description = message.deadLetterErrorDescription ?? (typeof properties.deadLetterErrorDescription === "string" ? properties.deadLetterErrorDescription : null);
  return {
    id: idOf(message),
    from,
    deliveryCount: message.deliveryCount ?? null,
    enqueuedAtMs: message.enqueuedTimeUtc ? message.enqueuedTimeUtc.getTime() : null,
    reason,
    description,
    applicationProperties: properties,
    body,
  };
}
