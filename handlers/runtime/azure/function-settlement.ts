/**
 * Settling a message from inside a v4 Service Bus-triggered function.
 *
 * The v4 model (@azure/functions 4.x) hands the function the body and `triggerMetadata`
 * but no settlement object: settling directly (`abandonMessage`, `deadLetterMessage`)
 * needs the SDK-binding preview (`sdkBinding: true` with
 * @azure/functions-extensions-servicebus), which this project does not ship. So, with
 * the trigger's `autoCompleteMessages` on:
 *
 * - complete: return normally; the host completes the message.
 * - abandon: wait out the delay, up to {@link MAX_HOLD_MS}, then throw; the host abandons
 *   the message and Service Bus delivers it again at once with `deliveryCount` + 1. Service
 *   Bus has no delayed abandon, so a longer backoff is cut to the hold (the message stays
 *   locked meanwhile; the queue's lock duration must exceed the hold plus the send timeout).
 * - deadLetter: when a dead-letter queue is given (the rules function's), send the body
 *   there with `deadLetterReason` / `deadLetterErrorDescription`, as Service Bus would set
 *   them, and complete; without one, throw: after maxDeliveryCount the message reaches the
 *   queue's own dead-letter queue, without our reason but not lost.
 */
import type { InvocationContext } from "@azure/functions";
import type { InboundMessage, Settlement } from "./message";
import type { OutgoingMessage, QueueSenderPort } from "./sender";

/** The longest an abandon is held before the throw: well under the default 60 s lock. */
export const MAX_HOLD_MS = 20_000;

/** Thrown to make the host abandon the message; its message says why. */
export class AbandonMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AbandonMessage";
  }
}

/** The message as the handlers take it, from what the v4 trigger hands over. */
export function inboundFromTrigger(body: unknown, context: InvocationContext): InboundMessage {
  const metadata = context.triggerMetadata ?? {};
  const deliveryCount = Number(metadata.deliveryCount);
  const messageId = metadata.messageId;
  const properties = metadata.applicationProperties;
  return {
    body,
    deliveryCount: Number.isInteger(deliveryCount) && deliveryCount > 0 ? deliveryCount : 1,
    ...(typeof messageId === "string" ? { messageId } : {}),
    ...(properties && typeof properties === "object" ? { applicationProperties: properties as Record<string, unknown> } : {}),
  };
}

export interface SettleOptions {
  /** Where `deadLetter` keeps the message with its reason (the rules dead-letter queue). */
  readonly deadLetterQueue?: QueueSenderPort;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Realises `settlement` as the v4 trigger allows (see the module comment). */
export async function settleInFunction(settlement: Settlement, message: InboundMessage, options: SettleOptions = {}): Promise<void> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  switch (settlement.kind) {
    case "complete":
      return;
    case "abandon":
      await sleep(Math.min(Math.max(0, settlement.delayMs), MAX_HOLD_MS));
      throw new AbandonMessage(`abandoned for redelivery (asked to wait ${settlement.delayMs} ms)`);
    case "deadLetter": {
      if (!options.deadLetterQueue) throw new AbandonMessage(`cannot be processed (${settlement.reason}); left to the queue's dead-lettering`);
      const batch = await options.deadLetterQueue.createMessageBatch();
      const kept: OutgoingMessage = {
        body: bodyBytes(message.body),
        contentType: "application/json",
        // Not the original id: duplicate detection on the dead-letter queue must not drop a second, different rejection.
        messageId: `${message.messageId ?? "unknown"}:dead-letter`,
        applicationProperties: {
          deadLetterReason: settlement.reason,
          deadLetterErrorDescription: settlement.description,
          ...(message.messageId ? { originalMessageId: message.messageId } : {}),
        },
      };
      if (!batch.tryAddMessage(kept)) throw new AbandonMessage("the rejected event does not fit a dead-letter message");
      await options.deadLetterQueue.sendMessages(batch);
      return;
    }
  }
}

/** The body as the bytes that arrived (an object the host parsed is serialised back). */
function bodyBytes(body: unknown): Buffer {
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body ?? null), "utf8");
}
