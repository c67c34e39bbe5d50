/**
 * Stack configuration, read and checked before any resource is declared so that a
 * mistake fails `pulumi up` at once with the key named, not halfway through a deploy.
 */

export const CLOUDS = ["aws", "gcp", "azure"] as const;
export type Cloud = (typeof CLOUDS)[number];

/** Per-consumer overrides of a channel module's defaults (the rules consumer takes the same, minus the secret). */
export interface ChannelOverrides {
  readonly concurrency?: number;
  readonly maxAttempts?: number;
  readonly timeoutMs?: number;
  readonly batchSize?: number;
  /** Name of the cloud secret that holds this channel's secret settings (default `herald-<stack>-<channel>`). */
  readonly secretName?: string;
}

export interface HeraldStackConfig {
  readonly cloud: Cloud;
  /** `herald:region`; when absent the cloud provider's own region setting applies. */
  readonly region?: string;
  readonly alarmEmail?: string;
  readonly channels: Readonly<Record<string, ChannelOverrides>>;
  readonly rules: ChannelOverrides;
  /** Non-secret channel settings (`HERALD_EMAIL_FROM`, `TWILIO_ACCOUNT_SID`, ...) for the functions' environment. */
  readonly settings: Readonly<Record<string, string>>;
  /** How long function logs are kept. */
  readonly logRetentionDays: number;
  /** A queue whose oldest message is older than this raises an alarm. */
  readonly queueAgeAlarmSeconds: number;
}

/** A stack setting that is missing or wrong; the message names the key. */
export class StackConfigError extends Error {
  override readonly name = "StackConfigError";
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

/** What the config is checked against: the registered channels and the config keys that are secrets. */
export interface ConfigContext {
  readonly channels: readonly string[];
  readonly secretKeys: readonly string[];
}

/** CloudWatch Logs accepts only these retention periods (days); the other clouds accept any. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * Reads `herald:*` settings through `get` (Pulumi's `Config.get`, or a map in tests).
 * Secret settings are not read here (`herald:secrets`, see infra/index.ts): reading a
 * secret as plain text would put it in this process's memory unmarked.
 */
export function readStackConfig(get: (key: string) => string | undefined, context?: ConfigContext): HeraldStackConfig {
  const cloud = get("cloud");
  if (cloud === undefined) throw new StackConfigError("herald:cloud", `is not set; run \`pulumi config set herald:cloud <${CLOUDS.join("|")}>\``);
  if (!(CLOUDS as readonly string[]).includes(cloud)) {
    throw new StackConfigError("herald:cloud", `must be one of ${CLOUDS.join(", ")}, not "${cloud}"`);
  }
  const alarmEmail = get("alarmEmail");
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    throw new StackConfigError("herald:alarmEmail", `"${alarmEmail}" is not an e-mail address`);
  }
  const region = get("region");
  if (region !== undefined && !/^[a-z][a-z0-9]{1,30}(-[a-z0-9]+)*$/.test(region)) {
    throw new StackConfigError("herald:region", `"${region}" is not a region name (e.g. eu-west-1, europe-west1, westeurope)`);
  }
  const channels = readChannelOverrides(get("channels"), context);
  const rules = readOverrides("herald:rules", parseObject("herald:rules", get("rules")) ?? {}, false);
  const settings = readSettings(get("settings"), context);
  const logRetentionDays = readPositiveInteger("herald:logRetentionDays", get("logRetentionDays")) ?? 30;
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    throw new StackConfigError("herald:logRetentionDays", `must be one of ${LOG_RETENTION_DAYS.join(", ")}`);
  }
  const queueAgeAlarmSeconds = readPositiveInteger("herald:queueAgeAlarmSeconds", get("queueAgeAlarmSeconds")) ?? 900;
  return {
    cloud: cloud as Cloud,
    ...(region ? { region } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    channels,
    rules,
    settings,
    logRetentionDays,
    queueAgeAlarmSeconds,
  };
}

const NUMERIC_KEYS = ["concurrency", "maxAttempts", "timeoutMs", "batchSize"] as const;

function parseObject(key: string, raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new StackConfigError(key, "must be an object (set it with `pulumi config set --path`)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new StackConfigError(key, "must be an object (set it with `pulumi config set --path`)");
  }
  return parsed as Record<string, unknown>;
}

function readChannelOverrides(raw: string | undefined, context: ConfigContext | undefined): Record<string, ChannelOverrides> {
  const parsed = parseObject("herald:channels", raw);
  if (parsed === undefined) return {};
  const result: Record<string, ChannelOverrides> = {};
  for (const [channel, settings] of Object.entries(parsed)) {
    const key = `herald:channels.${channel}`;
    if (context && !context.channels.includes(channel)) {
      throw new StackConfigError(key, `is not a registered channel (${context.channels.join(", ")})`);
    }
    if (typeof settings !== "object" || settings === null || Array.isArray(settings)) throw new StackConfigError(key, "must be an object");
    result[channel] = readOverrides(key, settings as Record<string, unknown>, true);
  }
  return result;
}

function readOverrides(prefix: string, settings: Record<string, unknown>, allowSecretName: boolean): ChannelOverrides {
  const overrides: Record<string, number | string> = {};
  const allowed = allowSecretName ? [...NUMERIC_KEYS, "secretName"] : [...NUMERIC_KEYS];
  for (const [key, value] of Object.entries(settings)) {
    if (!allowed.includes(key)) throw new StackConfigError(`${prefix}.${key}`, `is not a setting here (use ${allowed.join(", ")})`);
    if (key === "secretName") {
      // The strictest of the three clouds' secret-name rules (Key Vault: letters, digits, dashes).
      if (typeof value !== "string" || !/^[A-Za-z][A-Za-z0-9-]{0,126}$/.test(value)) {
        throw new StackConfigError(`${prefix}.${key}`, "must be letters, digits and dashes, starting with a letter");
      }
      overrides[key] = value;
      continue;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new StackConfigError(`${prefix}.${key}`, `must be a positive integer, not ${JSON.stringify(value)}`);
    }
    overrides[key] = value;
  }
  return overrides;
}

function readSettings(raw: string | undefined, context: ConfigContext | undefined): Record<string, string> {
  const parsed = parseObject("herald:settings", raw);
  if (parsed === undefined) return {};
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const key = `herald:settings.${name}`;
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new StackConfigError(key, "setting names are upper-case environment names (HERALD_EMAIL_FROM)");
    if (context?.secretKeys.includes(name)) {
      throw new StackConfigError(key, `is a secret; set it with \`pulumi config set --secret --path herald:secrets.${name} <value>\` and remove it from herald:settings`);
    }
    if (typeof value !== "string") throw new StackConfigError(key, "must be a string");
    result[name] = value;
  }
  return result;
}

function readPositiveInteger(key: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(value) || value < 1) throw new StackConfigError(key, `must be a positive whole number, not "${raw}"`);
  return value;
}

/**
 * Checks the secret settings (`herald:secrets`) once their values are available: every
 * key must be a secret some channel declares, so a typo is caught rather than ignored.
 */
export function checkSecretKeys(secrets: Readonly<Record<string, unknown>>, context: ConfigContext): void {
  for (const [name, value] of Object.entries(secrets)) {
    const key = `herald:secrets.${name}`;
    if (!context.secretKeys.includes(name)) {
      throw new StackConfigError(key, `is not a secret any channel reads (${context.secretKeys.join(", ")}); plain settings go in herald:settings`);
    }
    if (typeof value !== "string" || value === "") throw new StackConfigError(key, "must be a non-empty string");
  }
}
