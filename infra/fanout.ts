/**
 * `herald:index:NotificationFanout`: the whole fan-out on one cloud, from the topology.
 * Cloud-neutral: it says what exists (an entry topic, the rules consumer, one consumer
 * per channel, two stores, a secret per channel that has secrets, alarms) and how the
 * parts connect; the platform it is given decides which resources that takes.
 */
import * as pulumi from "@pulumi/pulumi";
import { bundleChannel, bundleRules, bundleShim, type ChannelSource } from "./bundle";
import type { Platform, QueueHandle, SecretHandle, StoreHandle } from "./platform";
import type { ConsumerTopology, Topology } from "./topology";

export interface NotificationFanoutArgs {
  readonly platform: Platform;
  readonly topology: Topology;
  /** Non-secret channel settings, given to every channel function. */
  readonly settings: Readonly<Record<string, string>>;
  /** Secret settings (Pulumi config secrets); each channel's secret gets the keys it declares. */
  readonly secrets: pulumi.Output<Readonly<Record<string, string>>>;
  readonly alarmEmail?: string;
  readonly queueAgeAlarmSeconds: number;
  /**
   * The key that signs unsubscribe links. With it, the stack serves the links' endpoint
   * and the rules function signs a link for every non-critical message; without it, no
   * link is signed (and the deploy says so).
   */
  readonly unsubscribeKey?: pulumi.Output<string>;
  /** Channel modules outside the `handlers/channels/<name>.ts` convention (a test's extra channel). */
  readonly channelSources?: Readonly<Record<string, ChannelSource>>;
}

export class NotificationFanout extends pulumi.ComponentResource {
  /** Where producers publish (SNS topic ARN, Pub/Sub topic id, Service Bus topic id). */
  public readonly topicAddress: pulumi.Output<string>;
  /** Queue URLs by consumer (`rules` and each channel). */
  public readonly queueUrls: pulumi.Output<Record<string, string>>;
  public readonly deadLetterQueueUrls: pulumi.Output<Record<string, string>>;
  public readonly tableNames: pulumi.Output<Record<string, string>>;
  public readonly alarmTopic: pulumi.Output<string>;
  /** The unsubscribe links' endpoint; empty when the stack has no signing key. */
  public readonly unsubscribeUrl: pulumi.Output<string>;
  /** Each consumer's cap as deployed (the cloud may round a requested cap up; see the preview). */
  public readonly effectiveConcurrency: Record<string, number>;

  constructor(name: string, args: NotificationFanoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("herald:index:NotificationFanout", name, {}, opts);
    const { platform, topology } = args;
    const child = { parent: this };

    const alarms = platform.alarmTarget(`${name}-alarms`, args.alarmEmail, child);
    const topic = platform.topic(`${name}-events`, child);
    const idempotency = platform.store(`${name}-idempotency`, "idempotency", child);
    const recipients = platform.store(`${name}-recipients`, "recipients", child);

    const channelQueues = topology.channels.map((consumer) => ({ consumer, queue: platform.queue(`${name}-${consumer.name}`, consumer, child) }));
    const rulesQueue = platform.queue(`${name}-rules`, topology.rules, child);
    platform.subscribe(`${name}-rules`, topic, rulesQueue, child);

    let unsubscribe: { url: pulumi.Output<string>; key: SecretHandle } | undefined;
    if (args.unsubscribeKey) {
      const key = platform.secret(`${name}-unsubscribe`, { owner: "unsubscribe", value: pulumi.secret(args.unsubscribeKey) }, child);
      // Recording an opt-out writes the recipient.
      const endpoint = platform.endpoint(`${name}-unsubscribe`, { name: "unsubscribe", bundle: bundleShim(platform.cloud, "unsubscribe"), stores: [{ store: recipients, access: "read-write" }], key }, child);
      unsubscribe = { url: endpoint.url, key };
    } else {
      void pulumi.log.warn("no herald:secrets.HERALD_UNSUBSCRIBE_SECRET: messages carry no unsubscribe link (bulk senders need one on non-critical e-mail)", this);
    }

    const rulesFunction = platform.function(
      `${name}-rules`,
      {
        consumer: topology.rules,
        bundle: bundleRules(platform.cloud),
        access: {
          consumes: rulesQueue,
          sendsTo: channelQueues.map(({ consumer, queue }) => ({ channel: consumer.name, queue })),
          sendsToDeadLetter: rulesQueue,
          stores: [
            { store: recipients, access: "read" },
            // Frequency-cap counters live in the idempotency table.
            { store: idempotency, access: "read-write" },
          ],
          ...(unsubscribe ? { unsubscribe } : {}),
        },
        settings: {},
      },
      child,
    );
    platform.trigger(`${name}-rules`, rulesQueue, rulesFunction, topology.rules, child);
    platform.queueAlarms(`${name}-rules`, rulesQueue, topology.rules, alarms, args.queueAgeAlarmSeconds, child);

    for (const { consumer, queue } of channelQueues) {
      const secret = this.channelSecret(name, platform, consumer, args.secrets);
      const fn = platform.function(
        `${name}-${consumer.name}`,
        {
          consumer,
          bundle: bundleChannel(platform.cloud, consumer.name, args.channelSources?.[consumer.name]),
          access: {
            consumes: queue,
            // Its own queue: a message waiting out quiet hours is sent back with a delay.
            sendsTo: [{ channel: consumer.name, queue }],
            stores: storesForChannel(idempotency, recipients),
            ...(secret ? { secret } : {}),
          },
          settings: args.settings,
        },
        child,
      );
      platform.trigger(`${name}-${consumer.name}`, queue, fn, consumer, child);
      platform.queueAlarms(`${name}-${consumer.name}`, queue, consumer, alarms, args.queueAgeAlarmSeconds, child);
    }

    const byConsumer = (pick: (queue: QueueHandle) => pulumi.Output<string>) =>
      pulumi.all(Object.fromEntries([["rules", pick(rulesQueue)], ...channelQueues.map(({ consumer, queue }) => [consumer.name, pick(queue)])])) as pulumi.Output<
        Record<string, string>
      >;
    this.topicAddress = topic.address;
    this.queueUrls = byConsumer((queue) => queue.url);
    this.deadLetterQueueUrls = byConsumer((queue) => queue.deadLetterUrl);
    this.tableNames = pulumi.all({ idempotency: idempotency.name, recipients: recipients.name });
    this.alarmTopic = alarms.address;
    this.unsubscribeUrl = unsubscribe ? unsubscribe.url : pulumi.output("");
    this.effectiveConcurrency = Object.fromEntries([topology.rules, ...topology.channels].map((c) => [c.name, platform.effectiveConcurrency(c)]));
    for (const consumer of [topology.rules, ...topology.channels]) {
      const effective = this.effectiveConcurrency[consumer.name]!;
      // Never silently something else: a cap the cloud cannot express is said at deploy.
      if (effective !== consumer.concurrency) {
        void pulumi.log.warn(`${consumer.name}: concurrency ${consumer.concurrency} is deployed as ${effective} on ${platform.cloud} (the platform's limit)`, this);
      }
      const attempts = platform.effectiveMaxAttempts?.(consumer) ?? consumer.maxAttempts;
      if (attempts !== consumer.maxAttempts) {
        void pulumi.log.warn(`${consumer.name}: maxAttempts ${consumer.maxAttempts} is deployed as ${attempts} on ${platform.cloud} (the platform's limit)`, this);
      }
    }
    this.registerOutputs({
      topicAddress: this.topicAddress,
      queueUrls: this.queueUrls,
      deadLetterQueueUrls: this.deadLetterQueueUrls,
      tableNames: this.tableNames,
      alarmTopic: this.alarmTopic,
      unsubscribeUrl: this.unsubscribeUrl,
    });
  }

  private channelSecret(
    name: string,
    platform: Platform,
    consumer: ConsumerTopology,
    secrets: pulumi.Output<Readonly<Record<string, string>>>,
  ): SecretHandle | undefined {
    if (consumer.secretKeys.length === 0) return undefined;
    // Only this channel's keys: the e-mail function never holds the Twilio token.
    const value = secrets.apply((all) => JSON.stringify(Object.fromEntries(consumer.secretKeys.filter((key) => all[key] !== undefined).map((key) => [key, all[key]!]))));
    return platform.secret(`${name}-${consumer.name}`, { owner: consumer.name, ...(consumer.secretName ? { secretName: consumer.secretName } : {}), value: pulumi.secret(value) }, { parent: this });
  }
}

/** A channel claims and completes idempotency keys, and writes suppressions and gone subscriptions. */
function storesForChannel(idempotency: StoreHandle, recipients: StoreHandle) {
  return [
    { store: idempotency, access: "read-write" as const },
    { store: recipients, access: "read-write" as const },
  ];
}
