/**
 * The stack the program declares, as a function of its config and channel list: the
 * program (index.ts) calls it once with the registry, and tests call it with other
 * configs and an extra channel.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ChannelAdapter } from "../handlers/core/ports";
import { schemaSet } from "../schemas/generated/schema-set";
import type { ChannelSource } from "./bundle";
import { checkSecretKeys, readStackConfig, StackConfigError, type ConfigContext, type HeraldStackConfig } from "./config";
import { NotificationFanout } from "./fanout";
import { createPlatform, requiredRegion } from "./platforms";
import { deriveTopology, type Topology } from "./topology";

/** Everything decided from config alone: checked before any resource is declared. */
export interface StackPlan {
  readonly config: HeraldStackConfig;
  readonly topology: Topology;
  readonly context: ConfigContext;
  readonly channelSources?: Readonly<Record<string, ChannelSource>>;
  /** `herald:secrets.HERALD_UNSUBSCRIBE_SECRET` is set: serve and sign unsubscribe links. */
  readonly unsubscribe: boolean;
}

/** The secret setting that signs unsubscribe links (a herald key, not a channel's). */
export const UNSUBSCRIBE_SECRET_KEY = "HERALD_UNSUBSCRIBE_SECRET";

/**
 * Reads and checks the stack config (including which secret settings are set, from
 * their names only), so that every mistake fails here, naming the key, before a single
 * resource is declared.
 */
export function planStack(adapters: readonly ChannelAdapter[], options: { channelSources?: Readonly<Record<string, ChannelSource>> } = {}): StackPlan {
  const herald = new pulumi.Config("herald");
  const context: ConfigContext = {
    channels: adapters.map((channel) => channel.name),
    secretKeys: [...new Set([...adapters.flatMap((channel) => channel.secretConfigKeys ?? []), UNSUBSCRIBE_SECRET_KEY])],
  };
  const config = readStackConfig((key) => herald.get(key), context);
  let unsubscribe = false;
  // The names of the secret settings, not their values: read raw so nothing is revealed.
  const rawSecrets = pulumi.runtime.getConfig("herald:secrets");
  if (rawSecrets !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawSecrets);
    } catch {
      throw new StackConfigError("herald:secrets", "must be an object of setting name to value (pulumi config set --secret --path herald:secrets.NAME value)");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new StackConfigError("herald:secrets", "must be an object of setting name to value");
    checkSecretKeys(parsed as Record<string, unknown>, context);
    unsubscribe = UNSUBSCRIBE_SECRET_KEY in parsed;
  }
  checkCloudSettings(config);
  return { config, topology: deriveTopology(adapters, config), context, unsubscribe, ...(options.channelSources ? { channelSources: options.channelSources } : {}) };
}

/** Declares the fan-out a plan describes and returns the stack outputs. */
export function declareStack(plan: StackPlan) {
  const { config, topology } = plan;
  const { platform, resourceOptions } = createPlatform(config);
  // Secret settings stay Outputs marked secret from the config to the cloud's secret store.
  const secrets = new pulumi.Config("herald").getSecretObject<Record<string, string>>("secrets") ?? pulumi.secret<Record<string, string>>({});
  const fanout = new NotificationFanout(
    "herald",
    {
      platform,
      topology,
      settings: config.settings,
      secrets,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      queueAgeAlarmSeconds: config.queueAgeAlarmSeconds,
      ...(plan.channelSources ? { channelSources: plan.channelSources } : {}),
      ...(plan.unsubscribe ? { unsubscribeKey: secrets.apply((values) => values[UNSUBSCRIBE_SECRET_KEY]!) } : {}),
    },
    resourceOptions,
  );

  return {
    cloud: config.cloud,
    /** Event types (and their versions) this deployment accepts: what publishers may send. */
    eventTypes: Object.fromEntries(Object.entries(schemaSet.events).map(([type, entry]) => [type, Object.keys(entry.versions).map(Number)])),
    /** Where to publish: `herald publish --target aws` reads this. */
    topicArn: fanout.topicAddress,
    queueUrls: fanout.queueUrls,
    deadLetterQueueUrls: fanout.deadLetterQueueUrls,
    tableNames: fanout.tableNames,
    alarmTopicArn: fanout.alarmTopic,
    /** Where unsubscribe links point (empty without an unsubscribe key). */
    unsubscribeUrl: fanout.unsubscribeUrl,
    /** Each consumer's cap as deployed (a cloud may round a requested cap up). */
    effectiveConcurrency: fanout.effectiveConcurrency,
  };
}

/** What a cloud needs beyond herald's own settings, checked with the rest of the config. */
function checkCloudSettings(config: HeraldStackConfig): void {
  // AWS falls back to the provider's default region; the others have none.
  if (config.cloud !== "aws") requiredRegion(config);
}
