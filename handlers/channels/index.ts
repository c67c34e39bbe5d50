import type { ChannelAdapter } from "../core/ports";
import { email } from "./email";
import { push } from "./push";
import { sms } from "./sms";

/**
 * The channel registry. Adding a channel is one module in this folder plus one line
 * here; infra (queues, functions, alarms) and the local runtime derive from this list.
 */
export const channels: readonly ChannelAdapter<any, any, any>[] = [email, push, sms];

/** Channels by name; throws on a duplicate so two modules can never share a queue. */
export function channelRegistry(list: readonly ChannelAdapter<any, any, any>[] = channels): ReadonlyMap<string, ChannelAdapter> {
  const registry = new Map<string, ChannelAdapter>();
  for (const channel of list) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(channel.name)) throw new Error(`channel name "${channel.name}" must be lower-case letters, digits and dashes`);
    if (registry.has(channel.name)) throw new Error(`two channel modules are named "${channel.name}"`);
    registry.set(channel.name, channel as ChannelAdapter);
  }
  return registry;
}
