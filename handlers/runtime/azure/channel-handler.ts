/**
 * A channel function's v4 entry point. The bundle's entry is
 * `createChannelHandler(<that channel's module>)`, so each bundle carries only its own
 * channel's SDK: it registers one Service Bus queue trigger on the channel's queue
 * (`%HERALD_QUEUE_<CHANNEL>%`), one message per invocation; the function app's
 * concurrency settings cap the channel's sends in flight.
 */
import { app, type InvocationContext } from "@azure/functions";
import type { ChannelAdapter } from "../../core/ports";
import { createChannelMessageHandler } from "./channel-message-handler";
import { AZURE_ENV, channelQueueVariable } from "./env";
import { inboundFromTrigger, settleInFunction } from "./function-settlement";
import type { MessageHandler } from "./message";

/** Registers `adapter`'s channel function; returns the handler the trigger calls (tests call it too). */
export function createChannelHandler(adapter: ChannelAdapter): (body: unknown, context: InvocationContext) => Promise<void> {
  // Built on the first message (see rules-handler.ts), then kept for the instance's life.
  let handler: MessageHandler | undefined;
  const handle = async (body: unknown, context: InvocationContext) => {
    handler ??= createChannelMessageHandler(adapter);
    const message = inboundFromTrigger(body, context);
    // No dead-letter queue of our own: an unreadable message is left to the queue's.
    await settleInFunction(await handler(message), message);
  };
  app.serviceBusQueue(`channel-${adapter.name}`, {
    connection: AZURE_ENV.serviceBusConnection,
    queueName: `%${channelQueueVariable(adapter.name)}%`,
    cardinality: "one",
    autoCompleteMessages: true,
    handler: handle,
  });
  return handle;
}
