/**
 * The fan-out's shape, derived from the channel registry and the stack config: the rules
 * consumer, then one consumer per channel, each with the settings every cloud maps to its
 * own resources. Pure, so each mapping is unit-tested without Pulumi.
 */
import type { ChannelAdapter } from "../handlers/core/ports";
import { StackConfigError, type ChannelOverrides, type HeraldStackConfig } from "./config";

export interface ConsumerTopology {
  /** `rules`, or the channel name: the suffix of every resource this consumer owns. */
  readonly name: string;
  readonly kind: "rules" | "channel";
  /** Most messages in flight at once (the channel's cap). */
  readonly concurrency: number;
  /** Deliveries before a message goes to the dead-letter queue. */
  readonly maxAttempts: number;
  /** One message's budget (a send, or evaluating one event). */
  readonly timeoutMs: number;
  /** Messages handed to one function invocation. */
  readonly batchSize: number;
  /**
   * The function's timeout: a channel function sends a batch one message at a time (so
   * the cap counts sends, not invocations), so it must cover the whole batch.
   */
  readonly functionTimeoutSeconds: number;
  /** How long a received message stays invisible: six times the function timeout, as SQS advises for Lambda. */
  readonly visibilityTimeoutSeconds: number;
  readonly memoryMb: number;
  /** Config keys this consumer reads from its secret (empty: it has none). */
  readonly secretKeys: readonly string[];
  readonly secretName?: string;
}

export interface Topology {
  readonly rules: ConsumerTopology;
  readonly channels: readonly ConsumerTopology[];
}

/** Defaults for the rules consumer: evaluation is CPU-light, so batches are larger. */
export const RULES_DEFAULTS = { concurrency: 10, maxAttempts: 5, timeoutMs: 30_000, batchSize: 10 } as const;

/** The longest a Lambda function may run; also a sane bound for the other clouds. */
export const MAX_FUNCTION_TIMEOUT_SECONDS = 900;
/** The longest SQS keeps a message invisible. */
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;
/** Start-up and bookkeeping around the sends of one invocation. */
const INVOCATION_MARGIN_SECONDS = 10;

export function deriveTopology(adapters: readonly ChannelAdapter[], config: HeraldStackConfig): Topology {
  const rules = consumer("rules", "rules", RULES_DEFAULTS, config.rules, [], "herald:rules");
  const channels = adapters.map((adapter) =>
    consumer(adapter.name, "channel", adapter.defaults, config.channels[adapter.name] ?? {}, adapter.secretConfigKeys ?? [], `herald:channels.${adapter.name}`),
  );
  return { rules, channels };
}

function consumer(
  name: string,
  kind: ConsumerTopology["kind"],
  defaults: { concurrency: number; maxAttempts: number; timeoutMs: number; batchSize: number },
  overrides: ChannelOverrides,
  secretKeys: readonly string[],
  configKey: string,
): ConsumerTopology {
  const concurrency = overrides.concurrency ?? defaults.concurrency;
  const maxAttempts = overrides.maxAttempts ?? defaults.maxAttempts;
  const timeoutMs = overrides.timeoutMs ?? defaults.timeoutMs;
  const batchSize = overrides.batchSize ?? defaults.batchSize;
  const perMessageSeconds = Math.ceil(timeoutMs / 1000);
  const functionTimeoutSeconds =
    kind === "channel" ? perMessageSeconds * batchSize + INVOCATION_MARGIN_SECONDS : perMessageSeconds + INVOCATION_MARGIN_SECONDS;
  if (functionTimeoutSeconds > MAX_FUNCTION_TIMEOUT_SECONDS) {
    throw new StackConfigError(
      `${configKey}.batchSize`,
      `${batchSize} messages of up to ${perMessageSeconds} s each need ${functionTimeoutSeconds} s, more than a function may run (${MAX_FUNCTION_TIMEOUT_SECONDS} s); lower batchSize or timeoutMs`,
    );
  }
  if (batchSize > 10_000) throw new StackConfigError(`${configKey}.batchSize`, "must be at most 10000");
  return {
    name,
    kind,
    concurrency,
    maxAttempts,
    timeoutMs,
    batchSize,
    functionTimeoutSeconds,
    visibilityTimeoutSeconds: Math.min(MAX_VISIBILITY_SECONDS, functionTimeoutSeconds * 6),
    memoryMb: kind === "rules" ? 512 : 256,
    secretKeys,
    ...(overrides.secretName ? { secretName: overrides.secretName } : {}),
  };
}
