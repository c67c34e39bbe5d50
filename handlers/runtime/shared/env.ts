/** Reading a cloud function's environment: what the stack must have set, checked at cold start. */
import { ConfigError } from "../../core/errors";
import type { ConfigSource, Logger } from "../../core/ports";
import type { UnsubscribeConfig } from "../../core/unsubscribe";

/** A variable the function cannot run without; a missing one fails the cold start, naming it. */
export function requiredEnv(env: ConfigSource, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError("config-missing", `${name} is not set`);
  return value;
}

/** An optional positive integer; a malformed one fails the cold start rather than being ignored. */
export function positiveIntEnv(env: ConfigSource, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ConfigError("config-invalid", `${name} must be a positive integer, not "${raw}"`);
  return value;
}

/**
 * One address per channel (a queue URL, a topic), each from its own variable; all
 * missing ones are named at once, at cold start. The lookup refuses a channel it was
 * not built for with a `ConfigError`.
 */
export function perChannelEnv(channels: Iterable<string>, env: ConfigSource, variableOf: (channel: string) => string): (channel: string) => string {
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const channel of channels) {
    const value = env[variableOf(channel)];
    if (value) found.set(channel, value);
    else missing.push(variableOf(channel));
  }
  if (missing.length > 0) throw new ConfigError("config-missing", `the rules function needs ${missing.join(", ")}`);
  return (channel) => {
    const value = found.get(channel);
    if (!value) throw new ConfigError("config-missing", `no ${variableOf(channel)} for channel ${channel}`);
    return value;
  };
}

/**
 * Unsubscribe links from two plain settings (the base URL, and the signing key the
 * platform resolved from its secret store): both or neither; one alone is logged.
 * One object for the function's life: core caches signed links per config object.
 */
export function unsubscribeFromEnv(baseUrl: string | undefined, secret: string | undefined, logger: Logger): UnsubscribeConfig | undefined {
  if (baseUrl && secret) return { baseUrl, secret };
  if (baseUrl || secret) logger.warn({ baseUrl: Boolean(baseUrl), secret: Boolean(secret) }, "unsubscribe links need both settings; none will be signed");
  return undefined;
}
