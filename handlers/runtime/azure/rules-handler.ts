/**
 * The rules function's v4 entry point: triggered by the events queue
 * (`%HERALD_EVENTS_QUEUE%`, resolved from the app settings by the host), one message per
 * invocation. Settled as function-settlement.ts explains; rejected events go to the
 * rules dead-letter queue with their reason.
 */
import { app, type InvocationContext } from "@azure/functions";
import { serviceBusFromEnv } from "./clients";
import { AZURE_ENV, requiredEnv } from "./env";
import { inboundFromTrigger, settleInFunction } from "./function-settlement";
import type { MessageHandler } from "./message";
import { createRulesMessageHandler } from "./rules-message-handler";
import type { QueueSenderPort } from "./sender";

// Built on the first message, not at import: a missing setting then fails that
// invocation (retried, logged) instead of the host's indexing of the whole app.
let messageHandler: MessageHandler | undefined;
let deadLetterQueue: QueueSenderPort | undefined;

/** What the trigger calls: one message, settled. */
export async function handler(body: unknown, context: InvocationContext): Promise<void> {
  if (!messageHandler) {
    const serviceBus = serviceBusFromEnv(process.env);
    deadLetterQueue = serviceBus.createSender(requiredEnv(process.env, AZURE_ENV.rulesDeadLetterQueue));
    messageHandler = createRulesMessageHandler({ serviceBus });
  }
  const message = inboundFromTrigger(body, context);
  await settleInFunction(await messageHandler(message), message, deadLetterQueue ? { deadLetterQueue } : {});
}

app.serviceBusQueue("rules", {
  connection: AZURE_ENV.serviceBusConnection,
  queueName: `%${AZURE_ENV.eventsQueue}%`,
  cardinality: "one",
  autoCompleteMessages: true,
  handler,
});
