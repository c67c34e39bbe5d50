/**
 * Publishing validated events to the herald entry topic on Pub/Sub. The client library
 * batches (up to {@link PUBLISH_BATCH_MESSAGES} messages a Publish call) and retries
 * retryable failures itself; this module feeds it a window of events at a time so a
 * large file neither sits in memory as thousands of pending promises nor keeps going
 * after Pub/Sub refused the topic outright.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { AcceptedEvent } from "../../handlers/core/envelope";
import { eventAttributes, type PublishedEvent, type PublishOutcome, type UnpublishedEvent } from "../cloud-output";
import { grpcDetails, grpcStatusOf } from "./settings";

/** Messages per Publish call (Pub/Sub allows 1,000 and 10 MB; events are at most a few hundred KB). */
export const PUBLISH_BATCH_MESSAGES = 100;
/** Events handed to the client before waiting for them: also the progress step. */
export const PUBLISH_WINDOW = 500;

/**
 * Statuses that would refuse every other event too (no such topic, no permission):
 * after a window with one of them the run stops instead of failing event by event.
 */
const STOPPING_STATUSES = new Set(["NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED"]);

export type { PublishedEvent, PublishOutcome, UnpublishedEvent } from "../cloud-output";


/** Publishes every event (data: the CloudEvent JSON) to `topicName`; never throws for a refused message. */
export async function publishEvents(
  pubsub: PubSub,
  topicName: string,
  events: readonly AcceptedEvent[],
  options: { readonly onProgress?: (published: number) => void } = {},
): Promise<PublishOutcome> {
  // A short wait lets the whole window fill batches; it adds at most 10 ms per call.
  const topic = pubsub.topic(topicName, { batching: { maxMessages: PUBLISH_BATCH_MESSAGES, maxMilliseconds: 10 } });
  const published: PublishedEvent[] = [];
  const failed: UnpublishedEvent[] = [];
  let stoppedBy: Error | undefined;
  let next = 0;
  try {
    while (next < events.length && !stoppedBy) {
      const start = next;
      const window = events.slice(start, start + PUBLISH_WINDOW);
      next += window.length;
      const results = await Promise.allSettled(
        window.map((accepted) => topic.publishMessage({ data: Buffer.from(JSON.stringify(accepted.event), "utf8"), attributes: eventAttributes(accepted) })),
      );
      results.forEach((result, offset) => {
        const { event } = window[offset]!;
        if (result.status === "fulfilled") {
          published.push({ id: event.id, source: event.source, messageId: result.value });
          return;
        }
        const status = grpcStatusOf(result.reason);
        failed.push({ index: start + offset, id: event.id, source: event.source, code: status ?? "error", message: grpcDetails(result.reason) });
        if (status && STOPPING_STATUSES.has(status)) stoppedBy ??= result.reason as Error;
      });
      options.onProgress?.(published.length);
    }
  } finally {
    // Nothing is left in the batcher after the awaits above; flush anyway so no timer holds the process.
    await topic.flush().catch(() => undefined);
  }
  const notSent = events.slice(next).map(({ event }, offset) => ({ index: next + offset, id: event.id, source: event.source }));
  return { published, failed, notSent, ...(stoppedBy ? { stoppedBy } : {}) };
}
