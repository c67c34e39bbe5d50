/**
 * Settings of the local runtime, from the environment. A bad value fails start-up with
 * the variable named, never silently falls back.
 */
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../../core/delivery";
import { ConfigError } from "../../core/errors";
import type { ChannelAdapter, ChannelDefaults, ConfigSource } from "../../core/ports";

export interface LocalConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly dataDir: string;
  /** Each channel's defaults with `HERALD_CHANNEL_<NAME>_*` overrides applied. */
  readonly channels: ReadonlyMap<string, ChannelDefaults>;
  /** How many rules evaluations run at once. */
  readonly rulesConcurrency: number;
  readonly rulesMaxAttempts: number;
  readonly retry: RetryPolicy;
  /** How often idle workers look for delayed or returned messages. */
  readonly pollMs: number;
}

const OVERRIDES: ReadonlyArray<[keyof ChannelDefaults, string]> = [
  ["concurrency", "CONCURRENCY"],
  ["maxAttempts", "MAX_ATTEMPTS"],
  ["timeoutMs", "TIMEOUT_MS"],
  ["batchSize", "BATCH_SIZE"],
];

export function readLocalConfig(env: ConfigSource, channels: readonly ChannelAdapter[]): LocalConfig {
  const effective = new Map<string, ChannelDefaults>();
  for (const channel of channels) {
    const prefix = `HERALD_CHANNEL_${channel.name.toUpperCase().replace(/-/g, "_")}_`;
    const settings: Record<string, number> = { ...channel.defaults };
    for (const [field, suffix] of OVERRIDES) {
      const value = positiveInt(env, `${prefix}${suffix}`);
      if (value !== undefined) settings[field] = value;
    }
    effective.set(channel.name, settings as unknown as ChannelDefaults);
  }
  const host = env.HERALD_HOST ?? "127.0.0.1";
  return {
    host,
    port: port(env),
    dataDir: env.HERALD_DATA_DIR ?? ".herald",
    channels: effective,
    rulesConcurrency: positiveInt(env, "HERALD_RULES_CONCURRENCY") ?? 8,
    rulesMaxAttempts: positiveInt(env, "HERALD_RULES_MAX_ATTEMPTS") ?? 5,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      baseMs: positiveInt(env, "HERALD_RETRY_BASE_MS") ?? DEFAULT_RETRY_POLICY.baseMs,
      capMs: positiveInt(env, "HERALD_RETRY_CAP_MS") ?? DEFAULT_RETRY_POLICY.capMs,
      configBaseMs: positiveInt(env, "HERALD_RETRY_CONFIG_BASE_MS") ?? DEFAULT_RETRY_POLICY.configBaseMs,
    },
    pollMs: positiveInt(env, "HERALD_POLL_MS") ?? 100,
  };
}

function port(env: ConfigSource): number {
  const raw = env.HERALD_PORT;
  if (raw === undefined || raw === "") return 8787;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError("config-invalid", `HERALD_PORT must be a port number (0-65535), not "${raw}"`);
  return value;
}

function positiveInt(env: ConfigSource, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ConfigError("config-invalid", `${key} must be a positive integer, not "${raw}"`);
  return value;
}
