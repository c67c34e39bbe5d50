/**
 * Reading and redriving a channel's SQS dead-letter queue.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSServiceException,
  StartMessageMoveTaskCommand,
  type Message,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { HeraldError } from "../../handlers/core/errors";

/** SQS's limits for one SendMessageBatch call: 10 entries and 256 KiB of bodies plus attributes. */
const SQS_BATCH_ENTRIES = 10;
const SQS_BATCH_BYTES = 256 * 1024;

/** A dead-lettered message as `dlq list` and `dlq show` report it. */
export interface PeekedMessage {
  /** SQS message id (kept when SQS moves a message to its DLQ). */
  readonly id: string;
  /**
   * SQS's ApproximateReceiveCount: the deliveries that failed before it was dead-lettered,
   * plus one for every earlier peek (a peek is a receive), this one included.
   */
  readonly receiveCount: number;
  /** When the message was first sent (SQS keeps this when it dead-letters a message). */
  readonly sentAtMs: number;
  readonly body: string;
  readonly messageAttributes: Readonly<Record<string, unknown>>;
}

/** How long the messages a redrive holds back stay hidden; the run releases them itself when done. */
const HOLD_SECONDS = 300;

/** The queue's ARN (StartMessageMoveTask takes ARNs, the rest of SQS takes URLs). */
export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  const arn = Attributes?.QueueArn;
  if (!arn) throw new RedriveError("queue-arn-missing", `SQS returned no QueueArn for ${queueUrl}`);
  return arn;
}

/** ApproximateNumberOfMessages: visible messages, as SQS estimates them. */
export async function approximateDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }));
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
}

/**
 * Up to `limit` messages of a queue, without taking them.
 *
 * SQS has no true peek: this receives with VisibilityTimeout 0, so each message stays
 * visible to everyone else, but every peek still counts as a receive (the receive
 * count goes up by one). Each receive returns at most 10 messages, sampled by SQS, and
 * may return ones already seen, so it stops when it has seen as many as the queue
 * holds, when the queue answers empty, or when a few receives in a row bring nothing
 * new: on a large queue the list can be a sample, which the caller reports.
 */
export async function peekMessages(sqs: SQSClient, queueUrl: string, limit: number, stopWhen?: (message: PeekedMessage) => boolean): Promise<{ messages: PeekedMessage[]; approximateTotal: number }> {
  const approximateTotal = await approximateDepth(sqs, queueUrl);
  const seen = new Map<string, PeekedMessage>();
  // The depth is an estimate that can lag by a minute, so 0 does not skip the receive.
  for (let stale = 0; seen.size < limit && stale < 3 && (approximateTotal === 0 || seen.size < approximateTotal); ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        // Long polling asks every SQS server, so a small queue is seen whole; it only
        // waits when the queue has nothing visible.
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
        MessageAttributeNames: ["All"],
      }),
    );
    if (Messages.length === 0) break;
    let fresh = 0;
    for (const message of Messages) {
      if (!message.MessageId || seen.has(message.MessageId) || seen.size >= limit) continue;
      const peeked = toPeeked(message);
      seen.set(peeked.id, peeked);
      fresh++;
      if (stopWhen?.(peeked)) return { messages: [...seen.values()], approximateTotal };
    }
    stale = fresh === 0 ? stale + 1 : 0;
  }
  return { messages: [...seen.values()], approximateTotal };
}

function toPeeked(message: Message): PeekedMessage {
  return {
    id: message.MessageId!,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    sentAtMs: Number(message.Attributes?.SentTimestamp ?? 0),
    body: message.Body ?? "",
    messageAttributes: message.MessageAttributes ?? {},
  };
}

/** How far a redrive is: messages moved so far, of about how many (when SQS knows). */
export type RedriveProgress = (moved: number, total: number | undefined) => void;

export interface RedriveRequest {
  readonly dlqUrl: string;
  /** The queue the DLQ belongs to: where messages go back to. */
  readonly sourceUrl: string;
  /** Only these message ids (SQS's message move task moves whole queues, so this receives and sends). */
  readonly ids?: ReadonlySet<string>;
  readonly onProgress?: RedriveProgress;
  /** Between ListMessageMoveTasks polls (default 1 s). */
  readonly pollIntervalMs?: number;
  /** Told when the endpoint has no message move task API and the receive-and-send path is used. */
  readonly onFallback?: (reason: string) => void;
}

export interface RedriveOutcome {
  readonly redriven: number;
  readonly method: "move-task" | "receive-and-send";
  /** receive-and-send only: messages SQS refused to send back; they stay in the DLQ. */
  readonly notSent: ReadonlyArray<{ id: string; code: string; message: string }>;
  /** receive-and-send only: sent back but not deleted from the DLQ, so they are now in both queues. */
  readonly notDeleted: readonly string[];
  /** With `ids`: the ids that were not in the DLQ. */
  readonly notFound: readonly string[];
}

/**
 * Moves the DLQ's messages back to their source queue. Uses SQS's own message move task
 * (one API call, SQS does the moving, survives this process exiting) and falls back to
 * receiving and sending in batches when the endpoint does not implement it (some
 * emulators) or when only some ids are to move.
 */
export async function redrive(sqs: SQSClient, request: RedriveRequest): Promise<RedriveOutcome> {
  if (request.ids) return receiveAndSend(sqs, request);
  const [sourceArn, destinationArn] = await Promise.all([queueArn(sqs, request.dlqUrl), queueArn(sqs, request.sourceUrl)]);
  let taskHandle: string | undefined;
  try {
    ({ TaskHandle: taskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn })));
  } catch (error) {
    if (!isMissingApi(error)) throw error;
    request.onFallback?.(`${request.dlqUrl} does not implement StartMessageMoveTask (${(error as Error).name})`);
    return receiveAndSend(sqs, request);
  }
  return { redriven: await awaitMoveTask(sqs, sourceArn, taskHandle, request), method: "move-task", notSent: [], notDeleted: [], notFound: [] };
}

/**
 * Whether a failed call means "this endpoint has no such API". AWS answers an unknown
 * action with a modelled error; an emulator without the API may answer with anything
 * that is not an SQS error document (moto: HTTP 500 with an HTML page, which the SDK
 * cannot deserialize). A false positive costs only speed (receive-and-send moves the
 * same messages), so anything that is not a modelled SQS error counts as missing.
 */
function isMissingApi(error: unknown): boolean {
  const name = (error as Error | undefined)?.name ?? "";
  if (["UnknownOperationException", "InvalidAction", "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "NotImplemented"].includes(name)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === 501) return true;
  return status !== undefined && !(error instanceof SQSServiceException);
}

/** Polls ListMessageMoveTasks until the task ends; resolves to the messages it moved. */
async function awaitMoveTask(sqs: SQSClient, sourceArn: string, taskHandle: string | undefined, request: RedriveRequest): Promise<number> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, request.pollIntervalMs ?? 1000));
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
    // SQS reports the handle only while a task runs, and runs one task per source queue
    // at a time, newest first: once ours has ended, it is the newest entry.
    const task = Results.find((result) => taskHandle !== undefined && result.TaskHandle === taskHandle) ?? Results[0];
    if (!task) throw new RedriveError("move-task-missing", `SQS lists no message move task for ${sourceArn}`);
    const moved = task.ApproximateNumberOfMessagesMoved ?? 0;
    request.onProgress?.(moved, task.ApproximateNumberOfMessagesToMove);
    switch (task.Status) {
      case "COMPLETED":
        return moved;
      case "FAILED":
        throw new RedriveError("move-task-failed", `the message move task failed after moving ${moved} messages: ${task.FailureReason ?? "no reason given"}`);
      case "CANCELLED":
        throw new RedriveError("move-task-cancelled", `the message move task was cancelled after moving ${moved} messages`);
      default:
        // RUNNING or CANCELLING: not over yet.
        break;
    }
  }
}

/**
 * The fallback: receive up to 10, send them to the source queue, delete from the DLQ
 * only what was sent. Messages that are not to move, or that SQS refused, are held
 * (invisible) so the loop does not see them again, and released at the end.
 */
async function receiveAndSend(sqs: SQSClient, request: RedriveRequest): Promise<RedriveOutcome> {
  const total = request.ids ? request.ids.size : await approximateDepth(sqs, request.dlqUrl);
  const seen = new Set<string>();
  const held = new Map<string, string>(); // message id -> latest receipt handle, released at the end
  const notSent: Array<{ id: string; code: string; message: string }> = [];
  const notDeleted: string[] = [];
  let redriven = 0;
  try {
    for (;;) {
      if (request.ids && redriven + notSent.length === request.ids.size) break;
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: request.dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: HOLD_SECONDS,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ["All"],
        }),
      );
      // Nothing received means the DLQ is drained (long polling asked every server).
      // Everything received seen before means the run outlived HOLD_SECONDS and is
      // looping over messages it held back: stop either way.
      if (Messages.every((message) => seen.has(message.MessageId ?? ""))) {
        for (const message of Messages) held.set(message.MessageId!, message.ReceiptHandle!);
        break;
      }
      const toMove: Message[] = [];
      for (const message of Messages) {
        const id = message.MessageId!;
        if (seen.has(id) || (request.ids && !request.ids.has(id))) held.set(id, message.ReceiptHandle!);
        else toMove.push(message);
        seen.add(id);
      }
      for (const batch of sendBatches(toMove)) {
        const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: request.sourceUrl, Entries: batch.map(({ entry }) => entry) }));
        const byEntryId = new Map(batch.map(({ entry, message }) => [entry.Id!, message]));
        for (const failure of sent.Failed ?? []) {
          const message = byEntryId.get(failure.Id!)!;
          notSent.push({ id: message.MessageId!, code: failure.Code ?? "unknown", message: failure.Message ?? "" });
          held.set(message.MessageId!, message.ReceiptHandle!);
        }
        // Only what SQS confirmed as sent leaves the DLQ: a message is never dropped,
        // at worst (a failed delete) it is in both queues and the idempotency key catches it.
        const sentMessages = (sent.Successful ?? []).map((success) => byEntryId.get(success.Id!)!);
        if (sentMessages.length === 0) continue;
        const deleted = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: request.dlqUrl,
            Entries: sentMessages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
          }),
        );
        for (const failure of deleted.Failed ?? []) notDeleted.push(sentMessages[Number(failure.Id)]!.MessageId!);
        redriven += sentMessages.length;
        request.onProgress?.(redriven, total);
      }
    }
  } finally {
    await release(sqs, request.dlqUrl, held);
  }
  const notFound = request.ids ? [...request.ids].filter((id) => !seen.has(id)) : [];
  return { redriven, method: "receive-and-send", notSent, notDeleted, notFound };
}

/** Messages as SendMessageBatch entries, grouped within SQS's per-call limits. */
function sendBatches(messages: readonly Message[]): Array<Array<{ entry: SendMessageBatchRequestEntry; message: Message }>> {
  const batches: Array<Array<{ entry: SendMessageBatchRequestEntry; message: Message }>> = [];
  let current: Array<{ entry: SendMessageBatchRequestEntry; message: Message }> = [];
  let bytes = 0;
  messages.forEach((message, index) => {
    // Message attributes go along: consumers (and subscription filters upstream) rely on them.
    const entry: SendMessageBatchRequestEntry = {
      Id: String(index),
      MessageBody: message.Body ?? "",
      ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0 ? { MessageAttributes: message.MessageAttributes } : {}),
    };
    const size = Buffer.byteLength(entry.MessageBody!) + JSON.stringify(entry.MessageAttributes ?? {}).length;
    if (current.length === SQS_BATCH_ENTRIES || (current.length > 0 && bytes + size > SQS_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ entry, message });
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Makes held messages visible again at once instead of after HOLD_SECONDS (best effort: they reappear anyway). */
async function release(sqs: SQSClient, queueUrl: string, held: ReadonlyMap<string, string>): Promise<void> {
  const handles = [...held.values()];
  for (let i = 0; i < handles.length; i += 10) {
    const entries = handles.slice(i, i + 10).map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle, VisibilityTimeout: 0 }));
    await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries })).catch(() => undefined);
  }
}

/** A redrive that could not finish; exit code 1 with the reason. */
export class RedriveError extends HeraldError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
