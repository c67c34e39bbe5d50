/**
 * What the Azure handlers take and give: one Service Bus message in, how to settle it
 * out. Framework-free, so the handlers run the same under the v4 Functions trigger
 * (rules-handler.ts, channel-handler.ts), a plain `ServiceBusReceiver` loop, or a test.
 */

/** One received Service Bus message, as the trigger hands it over. */
export interface InboundMessage {
  /**
   * The body: the Functions host gives an object for JSON content, a string or bytes
   * otherwise; every form is accepted.
   */
  readonly body: unknown;
  readonly messageId?: string;
  /** How many times Service Bus delivered it, this time included (from 1): the attempt number. */
  readonly deliveryCount: number;
  readonly applicationProperties?: Readonly<Record<string, unknown>>;
}

/**
 * What to do with the message: the names are Service Bus's settlement operations.
 * - `complete`: done (sent, a duplicate, failed for good, or handed on);
 * - `abandon`: deliver it again after `delayMs`; Service Bus counts the delivery, and
 *   dead-letters the message after the queue's maxDeliveryCount;
 * - `deadLetter`: it can never be processed; keep it with the reason for someone to look at.
 */
export type Settlement =
  | { readonly kind: "complete" }
  | { readonly kind: "abandon"; readonly delayMs: number }
  | { readonly kind: "deadLetter"; readonly reason: string; readonly description: string };

/** A handler of one message. Never throws: every failure is a settlement. */
export type MessageHandler = (message: InboundMessage) => Promise<Settlement>;

export const COMPLETE: Settlement = { kind: "complete" };

/** Service Bus caps the dead-letter description; the detail is cut well below. */
export const MAX_DESCRIPTION_CHARS = 500;

/** The body as text (UTF-8 for bytes), or the object itself when the host already parsed JSON. */
export function bodyOf(message: InboundMessage): string | Uint8Array | object | undefined {
  const { body } = message;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return typeof body === "object" && body !== null ? body : undefined;
}

/** The body parsed as JSON, when it is JSON. */
export function jsonBodyOf(message: InboundMessage): unknown {
  const body = bodyOf(message);
  if (body === undefined) return undefined;
  if (typeof body === "string" || body instanceof Uint8Array) {
    try {
      return JSON.parse(typeof body === "string" ? body : Buffer.from(body).toString("utf8"));
    } catch {
      return undefined;
    }
  }
  return body;
}
