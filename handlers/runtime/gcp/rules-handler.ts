/** The rules function's Cloud Functions entry point (`handler`): Pub/Sub pushes from the entry topic. */
import { httpFunction } from "./http";
import { createRulesPushHandler } from "./push-handler";

export const handler = httpFunction(() => createRulesPushHandler());
