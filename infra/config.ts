/**
 * Stack configuration, read and checked before any resource is declared so that a
 * mistake fails `pulumi up` at once with the key named, not halfway through a deploy.
 */

export const CLOUDS = ["aws", "gcp", "azure"] as const;
export type Cloud = (typeof CLOUDS)[number];

/** Per-channel overrides of a channel module's defaults. */
export interface ChannelOverrides {
  readonly concurrency?: number;
  readonly maxAttempts?: number;
  readonly timeoutMs?: number;
  readonly batchSize?: number;
}

export interface HeraldStackConfig {
  readonly cloud: Cloud;
  readonly alarmEmail?: string;
  readonly channels: Readonly<Record<string, ChannelOverrides>>;
}

/** A stack setting that is missing or wrong; the message names the key. */
export class StackConfigError extends Error {
  override readonly name = "StackConfigError";
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

/** Reads `herald:*` settings through `get` (Pulumi's `Config.get`, or a map in tests). */
export function readStackConfig(get: (key: string) => string | undefined): HeraldStackConfig {
  const cloud = get("cloud");
  if (cloud === undefined) throw new StackConfigError("herald:cloud", `is not set; run \`pulumi config set herald:cloud <${CLOUDS.join("|")}>\``);
  if (!(CLOUDS as readonly string[]).includes(cloud)) {
    throw new StackConfigError("herald:cloud", `must be one of ${CLOUDS.join(", ")}, not "${cloud}"`);
  }
  const alarmEmail = get("alarmEmail");
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    throw new StackConfigError("herald:alarmEmail", `"${alarmEmail}" is not an e-mail address`);
  }
  return { cloud: cloud as Cloud, ...(alarmEmail ? { alarmEmail } : {}), channels: readChannelOverrides(get("channels")) };
}

const OVERRIDE_KEYS = ["concurrency", "maxAttempts", "timeoutMs", "batchSize"] as const;

function readChannelOverrides(raw: string | undefined): Record<string, ChannelOverrides> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new StackConfigError("herald:channels", "must be an object of channel name to settings");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new StackConfigError("herald:channels", "must be an object of channel name to settings");
  }
  const result: Record<string, ChannelOverrides> = {};
  for (const [channel, settings] of Object.entries(parsed)) {
    if (typeof settings !== "object" || settings === null) throw new StackConfigError(`herald:channels.${channel}`, "must be an object");
    const overrides: Record<string, number> = {};
    for (const [key, value] of Object.entries(settings)) {
      if (!(OVERRIDE_KEYS as readonly string[]).includes(key)) {
        throw new StackConfigError(`herald:channels.${channel}.${key}`, `is not a channel setting (use ${OVERRIDE_KEYS.join(", ")})`);
      }
      if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
        throw new StackConfigError(`herald:channels.${channel}.${key}`, `must be a positive integer, not ${JSON.stringify(value)}`);
      }
      overrides[key] = value;
    }
    result[channel] = overrides;
  }
  return result;
}
