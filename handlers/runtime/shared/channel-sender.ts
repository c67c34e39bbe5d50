/**
 * A channel's sender from its config, or, when the channel module refuses the config (a
 * missing key, a malformed one), a sender that fails every send with that `ConfigError`:
 * the messages then retry slowly and raise the alarm instead of vanishing, until an
 * operator fixes the settings. Every runtime (local, AWS, GCP) starts its senders so.
 */
import type { DeliveryContext, IdempotencyStore, RetryPolicy } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import type { ChannelAdapter, ChannelSender, ConfigSource, Logger } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";

export function senderOrConfigFailure(adapter: ChannelAdapter, source: ConfigSource | (() => ConfigSource), logger: Logger): ChannelSender {
  try {
    return adapter.createSender(adapter.readConfig(typeof source === "function" ? source() : source), { logger });
  } catch (error) {
    const reason = error instanceof ConfigError ? error : new ConfigError("config-invalid", (error as Error).message);
    logger.error({ channel: adapter.name, code: reason.code, error: reason.message, alarm: true }, "channel not configured; its messages will retry slowly");
    return failingSender(reason);
  }
}

/** A sender that fails every send with `reason`. */
export function failingSender(reason: ConfigError): ChannelSender {
  return {
    send: async () => {
      throw reason;
    },
    close: async () => {},
  };
}

/** What a cloud channel function delivers with, but its sender (each shim builds that lazily). */
export interface ChannelDeliveryParts {
  readonly adapter: ChannelAdapter;
  /** The send timeout the stack sets for the channel, when it overrides the module's default. */
  readonly timeoutMs: number | undefined;
  readonly idempotency: IdempotencyStore;
  readonly directory: RecipientDirectory;
  readonly logger: Logger;
  readonly now: () => number;
  readonly retry?: RetryPolicy | undefined;
  readonly random?: (() => number) | undefined;
}

/**
 * The delivery context of a cloud channel function, given its sender. The stack may give
 * the channel a longer timeout than its module's default; the claim lease follows it.
 */
export function channelDeliveryContext(parts: ChannelDeliveryParts): (sender: ChannelSender) => DeliveryContext {
  const { adapter, timeoutMs, retry, random, ...rest } = parts;
  const effective: ChannelAdapter = timeoutMs ? { ...adapter, defaults: { ...adapter.defaults, timeoutMs } } : adapter;
  return (sender) => ({ ...rest, adapter: effective, sender, ...(retry ? { retry } : {}), ...(random ? { random } : {}) });
}
