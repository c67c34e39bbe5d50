/**
 * The Azure message handlers in one import, for tests and tools. Function entry files
 * import rules-message-handler.ts or channel-message-handler.ts directly, so a channel's
 * bundle never pulls in the rules function's channel registry.
 */
export { createChannelMessageHandler, type ChannelMessageHandlerDeps, type SharedDeps } from "./channel-message-handler";
export { createRulesMessageHandler, type RulesMessageHandlerDeps } from "./rules-message-handler";
export { COMPLETE, type InboundMessage, type MessageHandler, type Settlement } from "./message";
