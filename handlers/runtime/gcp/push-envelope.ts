/**
 * The Pub/Sub push format, framework-free: what a push subscription POSTs to its
 * endpoint, and the shape of the answer. Cloud Functions gen2 (or Cloud Run, or a local
 * HTTP server) wraps a `PushHandler` in its own request/response types.
 *
 * Pub/Sub reads only the status: 102, 200, 201, 202 and 204 acknowledge the message;
 * anything else (or no answer within the subscription's ack deadline) is a nack, and the
 * message is delivered again after the subscription's retryPolicy backoff, and moved to
 * its dead-letter topic after maxDeliveryAttempts.
 */

/** An HTTP request as far as the handlers need it. `body` is the parsed JSON, or its text or bytes. */
export interface PushRequest {
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** The answer; `headers` carries `Retry-After` on a nack for later. */
export interface PushResponse {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type PushHandler = (request: PushRequest) => Promise<PushResponse>;

/** One pushed message, decoded. */
export interface PushedMessage {
  /** The message's data, decoded from base64. */
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly messageId: string;
  readonly publishTime?: string;
  readonly subscription?: string;
  /**
   * Delivery attempts so far, this one included. Pub/Sub sets it only on subscriptions
   * with a dead-letter policy (herald's always have one); 1 when absent.
   */
  readonly deliveryAttempt: number;
}

/** A status Pub/Sub takes as an acknowledgement. */
export const ACK = 204;

/** The answer to a request that is not a Pub/Sub push at all. */
export const NOT_A_PUSH = { status: 400, body: "not a Pub/Sub push request" } as const;

/**
 * The pushed message in a request body
 * (`{ message: { data, attributes, messageId, publishTime }, subscription, deliveryAttempt }`),
 * or undefined when the body is not one.
 */
export function parsePushBody(body: unknown): PushedMessage | undefined {
  let envelope: unknown = body;
  if (typeof body === "string" || body instanceof Uint8Array) {
    try {
      envelope = JSON.parse(Buffer.from(body as string | Uint8Array).toString("utf8"));
    } catch {
      return undefined;
    }
  }
  if (typeof envelope !== "object" || envelope === null) return undefined;
  const { message, subscription, deliveryAttempt } = envelope as { message?: unknown; subscription?: unknown; deliveryAttempt?: unknown };
  if (typeof message !== "object" || message === null) return undefined;
  const fields = message as { data?: unknown; attributes?: unknown; messageId?: unknown; message_id?: unknown; publishTime?: unknown };
  const messageId = typeof fields.messageId === "string" ? fields.messageId : typeof fields.message_id === "string" ? fields.message_id : undefined;
  if (messageId === undefined) return undefined;
  const attributes: Record<string, string> = {};
  if (typeof fields.attributes === "object" && fields.attributes !== null) {
    for (const [name, value] of Object.entries(fields.attributes)) if (typeof value === "string") attributes[name] = value;
  }
  const attempt = typeof deliveryAttempt === "number" && Number.isInteger(deliveryAttempt) && deliveryAttempt >= 1 ? deliveryAttempt : 1;
  return {
    // A message may have attributes and no data; that is an empty body, which evaluation rejects.
    data: typeof fields.data === "string" ? Buffer.from(fields.data, "base64") : Buffer.alloc(0),
    attributes,
    messageId,
    ...(typeof fields.publishTime === "string" ? { publishTime: fields.publishTime } : {}),
    ...(typeof subscription === "string" ? { subscription } : {}),
    deliveryAttempt: attempt,
  };
}

/** The push body for a message: what Pub/Sub would POST (tests and local replays build it). */
export function pushBody(message: {
  data: Buffer | string;
  attributes?: Record<string, string>;
  messageId: string;
  publishTime?: string;
  subscription?: string;
  deliveryAttempt?: number;
}): Record<string, unknown> {
  return {
    message: {
      data: Buffer.from(message.data).toString("base64"),
      attributes: message.attributes ?? {},
      messageId: message.messageId,
      publishTime: message.publishTime ?? new Date().toISOString(),
    },
    subscription: message.subscription ?? "projects/-/subscriptions/-",
    ...(message.deliveryAttempt !== undefined ? { deliveryAttempt: message.deliveryAttempt } : {}),
  };
}

/** A nack asking to come back in `delayMs` (rounded up to whole seconds, as Retry-After takes). */
export function nackFor(status: 429 | 503, delayMs: number, body: string): PushResponse {
  return { status, body, headers: { "Retry-After": String(Math.max(0, Math.ceil(delayMs / 1000))) } };
}
