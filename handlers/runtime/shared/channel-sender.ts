/**
 * A channel's sender from its config, or, when the channel module refuses the config (a
 * missing key, a malformed one), a sender that fails every send with that `ConfigError`:
 * the messages then retry slowly and raise the alarm instead of vanishing, until an
 * operator fixes the settings. Every runtime (local, AWS, GCP) starts its senders so.
 */
import { ConfigError } from "../../core/errors";
import type { ChannelAdapter, ChannelSender, ConfigSource, Logger } from "../../core/ports";

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
