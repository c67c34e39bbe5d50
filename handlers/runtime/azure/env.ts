import { ConfigError } from "../../core/errors";
import type { ConfigSource } from "../../core/ports";

/**
 * The environment contract between the Azure stack (infra/azure) and the Azure
 * Functions shims in this folder: infra sets these app settings on each function app, the
 * shims read them. One place, so a rename cannot leave the two sides disagreeing. Names
 * are the GCP ones wherever the meaning is the same.
 *
 * Secrets (SMTP password, Twilio token, VAPID private key, the unsubscribe key) are app
 * settings whose values are Key Vault references (`@Microsoft.KeyVault(SecretUri=...)`):
 * the platform resolves them before the process starts, so the shims read plain
 * environment variables and hold no secret-reading code, as on GCP.
 */
export const AZURE_ENV = {
  /**
   * Table Storage account endpoint (`https://<account>.table.core.windows.net`), reached
   * with the app's managed identity: what the stack sets. Both stores' tables live there.
   */
  tablesEndpoint: "HERALD_TABLES_ENDPOINT",
  /** Or a Table Storage connection string (Azurite's well-known account in tests). */
  tablesConnection: "HERALD_TABLES_CONNECTION",
  /** The user-assigned managed identity's client id, for Table Storage and Service Bus. */
  identityClientId: "HERALD_IDENTITY_CLIENT_ID",
  /**
   * Table of idempotency keys (`idempotency:<key>` partitions) and frequency-cap windows
   * (`frequency:<scope>`). Table Storage has no TTL: rows carry `expireAt` for a sweeper.
   */
  idempotencyTable: "HERALD_IDEMPOTENCY_TABLE",
  /** Table of recipients, suppressions and the push-endpoint index (see table-directory.ts). */
  recipientsTable: "HERALD_RECIPIENTS_TABLE",
  /**
   * The Service Bus connection the triggers and the senders use. The triggers take the
   * name itself (`connection:`); the host then reads either this setting as a connection
   * string, or (what the stack sets, with local auth off) the identity-based form:
   * `HERALD_SERVICE_BUS__fullyQualifiedNamespace`, `__credential` and `__clientId`.
   */
  serviceBusConnection: "HERALD_SERVICE_BUS",
  serviceBusNamespace: "HERALD_SERVICE_BUS__fullyQualifiedNamespace",
  /** Rules function: the queue of incoming CloudEvents it is triggered by. */
  eventsQueue: "HERALD_EVENTS_QUEUE",
  /**
   * Rules function: the queue where events that fail validation are kept, with
   * `deadLetterReason` / `deadLetterErrorDescription` application properties (the names
   * Service Bus gives its own dead-letter queue's), while the v4 trigger cannot
   * dead-letter the message itself (see function-settlement.ts).
   */
  rulesDeadLetterQueue: "HERALD_RULES_DEAD_LETTER_QUEUE",
  /** Rules function: unsubscribe links (both optional; without them no link is signed). */
  unsubscribeBaseUrl: "HERALD_UNSUBSCRIBE_BASE_URL",
  /** A Key Vault reference: the unsubscribe signing key itself. */
  unsubscribeSecret: "HERALD_UNSUBSCRIBE_SECRET",
  /**
   * Channel functions: the channel's secret settings as one JSON object
   * (`{"TWILIO_AUTH_TOKEN": ...}`), a Key Vault reference; merged over the plain settings.
   */
  channelSecrets: "HERALD_CHANNEL_SECRETS",
  /** Channel functions, optional: the channel's send timeout in ms when the stack overrides the module's default. */
  channelTimeoutMs: "HERALD_CHANNEL_TIMEOUT_MS",
} as const;

/**
 * The rules queue's companion queue of events refused by validation is named
 * `<rules queue>-rejected` (infra/azure names entities as declared); `herald dlq` reads it.
 */
export const REJECTED_SUFFIX = "-rejected";

/**
 * The Service Bus queue of one channel, e.g. `HERALD_QUEUE_EMAIL`: the rules function
 * sends to every channel's; a channel function is triggered by its own (and re-sends a
 * deferred message to it).
 */
export function channelQueueVariable(channel: string): string {
  return `HERALD_QUEUE_${channel.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export { perChannelEnv, positiveIntEnv, requiredEnv } from "../shared/env";

/**
 * The environment with the channel's secret settings (one JSON app setting) merged over
 * it. Values never reach a log or an error; keys may. Same contract as on GCP.
 */
export function withChannelSecrets(env: ConfigSource): ConfigSource {
  const raw = env[AZURE_ENV.channelSecrets];
  if (raw === undefined || raw === "") return env;
  const invalid = () => new ConfigError("config-invalid", `${AZURE_ENV.channelSecrets} is not a JSON object`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalid();
  const secrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") throw new ConfigError("config-invalid", `${AZURE_ENV.channelSecrets}.${key} must be a string`);
    secrets[key] = value;
  }
  return { ...env, ...secrets };
}
