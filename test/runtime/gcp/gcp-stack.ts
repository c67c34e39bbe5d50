/**
 * The herald GCP stack as the shims see it, made on the emulators: the events topic with
 * a pull subscription for the rules function, a topic and pull subscription per channel,
 * the rules dead-letter topic with a subscription to inspect it, and two Firestore
 * collections. Each call makes fresh names, so the tests of a file never see each
 * other's messages or documents.
 *
 * The tests play Pub/Sub's push delivery themselves: pull (the emulator's REST API),
 * hand each message to the handler in the push format, ack on 2xx, nack (ack deadline 0,
 * so it is redelivered at once) otherwise. `deliveryAttempt` is counted here per message
 * id, as Pub/Sub counts it on a subscription with a dead-letter policy.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { PubSub } from "@google-cloud/pubsub";
import webpush from "web-push";
import { channels } from "../../../handlers/channels";
import { channelTopicVariable, GCP_ENV } from "../../../handlers/runtime/gcp/env";
import { createJsonLogger, type JsonLogger } from "../../../handlers/runtime/gcp/json-logger";
import { pushBody, type PushHandler, type PushResponse } from "../../../handlers/runtime/gcp/push-envelope";
import { createChannelPushHandler, type ChannelPushHandlerDeps } from "../../../handlers/runtime/gcp/channel-push-handler";
import { createRulesPushHandler, type RulesPushHandlerDeps } from "../../../handlers/runtime/gcp/push-handler";
import { sinkChannelEnv, startSinksInWorker, type WorkerSinks } from "../../../handlers/runtime/local/sinks/sink-worker";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import { TEST_PROJECT, type GcpEmulator } from "../../support/gcp-emulators";
import { uniqueKey } from "../conformance/fixture";

export const UNSUBSCRIBE_BASE_URL = "https://notify.example.com/v1/unsubscribe";

/** Sinks, clients and logs shared by a test file; stacks come and go per test. */
export interface GcpPeers {
  readonly pubsubEmulator: GcpEmulator;
  readonly pubsub: PubSub;
  readonly firestore: Firestore;
  readonly sinks: WorkerSinks;
  readonly vapid: { readonly publicKey: string; readonly privateKey: string };
  /** Everything the sinks accepted, in order. */
  readonly deliveries: SinkDelivery[];
  /** Every log line the shims wrote, parsed. */
  readonly logs: Array<Record<string, any>>;
  readonly logger: JsonLogger;
  stop(): Promise<void>;
}

export async function startPeers(pubsubEmulator: GcpEmulator, pubsub: PubSub, firestore: Firestore): Promise<GcpPeers> {
  const vapid = webpush.generateVAPIDKeys();
  const deliveries: SinkDelivery[] = [];
  const sinks = await startSinksInWorker({ vapidPublicKey: vapid.publicKey, smtp: true, twilio: true, onDelivery: (delivery) => void deliveries.push(delivery) });
  const logs: Array<Record<string, any>> = [];
  return {
    pubsubEmulator,
    pubsub,
    firestore,
    sinks,
    vapid,
    deliveries,
    logs,
    logger: createJsonLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) }),
    stop: () => sinks.close(),
  };
}

/** A message as a pull returns it. */
export interface PulledMessage {
  readonly ackId: string;
  readonly message: { data?: string; attributes?: Record<string, string>; messageId: string; publishTime?: string };
}

/** One message handed to a handler: what it was, which attempt, what the handler answered. */
export interface Handed {
  readonly messageId: string;
  readonly data: string;
  readonly attributes: Record<string, string>;
  readonly attempt: number;
  readonly response: PushResponse;
}

export interface TestSubscription {
  readonly name: string;
  /** Pulls what is there now (up to `max`), without waiting. */
  pull(max?: number): Promise<PulledMessage[]>;
  ack(ackIds: readonly string[]): Promise<void>;
  /** Ack deadline 0: available again at once. */
  nack(ackIds: readonly string[]): Promise<void>;
  /** Pull, hand each to `handler` as a push, ack 2xx and nack the rest; once. `forceNack` nacks even a 2xx (a lost ack). */
  push(handler: PushHandler, options?: { forceNack?: boolean }): Promise<Handed[]>;
  /** `push` until a pull comes back empty or `maxRounds` passed; everything handed. */
  pushUntilEmpty(handler: PushHandler, maxRounds?: number): Promise<Handed[]>;
  /** Pulls and acks everything there is. */
  drain(): Promise<PulledMessage[]>;
}

export interface TestStack {
  readonly events: TestSubscription;
  readonly channelSubscriptions: Readonly<Record<string, TestSubscription>>;
  readonly rulesDeadLetter: TestSubscription;
  readonly idempotencyCollection: string;
  readonly recipientsCollection: string;
  /** The functions' environment, as the stack would set it (channel secrets included). */
  readonly env: Record<string, string>;
  publish(event: unknown): Promise<void>;
  rulesHandler(deps?: Partial<RulesPushHandlerDeps>): PushHandler;
  channelHandler(channel: string, deps?: Partial<ChannelPushHandlerDeps>): PushHandler;
}

/** A fresh stack. */
export async function createStack(peers: GcpPeers): Promise<TestStack> {
  const id = uniqueKey("herald");
  const { pubsub } = peers;
  const subscriptionFor = async (topicName: string): Promise<TestSubscription> => {
    const [topic] = await pubsub.createTopic(topicName);
    const [subscription] = await topic.createSubscription(`${topicName}-sub`, { ackDeadlineSeconds: 60 });
    return restSubscription(peers.pubsubEmulator.host, subscription.name);
  };
  const eventsTopic = `${id}-events`;
  const events = await subscriptionFor(eventsTopic);
  const rulesDeadLetter = await subscriptionFor(`${id}-rules-dead-letter`);
  const channelSubscriptions: Record<string, TestSubscription> = {};
  for (const channel of channels) channelSubscriptions[channel.name] = await subscriptionFor(`${id}-${channel.name}`);
  const idempotencyCollection = `${id}-idempotency`;
  const recipientsCollection = `${id}-recipients`;
  // As the stack sets it: plain settings as variables, the secret ones (those the channel
  // modules declare) in one JSON secret variable that the channel handler merges.
  const channelSettings = sinkChannelEnv(peers.sinks, peers.vapid);
  const secretKeys = new Set(channels.flatMap((channel) => channel.secretConfigKeys ?? []));
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(channelSettings).filter(([key]) => !secretKeys.has(key))),
    [GCP_ENV.channelSecrets]: JSON.stringify(Object.fromEntries(Object.entries(channelSettings).filter(([key]) => secretKeys.has(key)))),
    [GCP_ENV.projectId]: TEST_PROJECT,
    [GCP_ENV.idempotencyCollection]: idempotencyCollection,
    [GCP_ENV.recipientsCollection]: recipientsCollection,
    [GCP_ENV.rulesDeadLetterTopic]: `${id}-rules-dead-letter`,
    [GCP_ENV.unsubscribeBaseUrl]: UNSUBSCRIBE_BASE_URL,
    [GCP_ENV.unsubscribeSecret]: "unsubscribe-signing-key",
    ...Object.fromEntries(channels.map((channel) => [channelTopicVariable(channel.name), `${id}-${channel.name}`])),
  };
  const clients = { pubsub, firestore: peers.firestore, logger: peers.logger };
  const eventTopic = pubsub.topic(eventsTopic);
  return {
    events,
    channelSubscriptions,
    rulesDeadLetter,
    idempotencyCollection,
    recipientsCollection,
    env,
    async publish(event) {
      await eventTopic.publishMessage({ data: Buffer.from(typeof event === "string" ? event : JSON.stringify(event)) });
    },
    rulesHandler: (deps = {}) => createRulesPushHandler({ env, ...clients, ...deps }),
    channelHandler: (channel, deps = {}) => {
      const adapter = channels.find((candidate) => candidate.name === channel);
      if (!adapter) throw new Error(`no channel ${channel}`);
      // random 0: a retry's backoff is 0 s.
      return createChannelPushHandler(adapter, { env, ...clients, random: () => 0, ...deps });
    },
  };
}

/** A subscription driven through the emulator's REST API (synchronous pull, ack, modifyAckDeadline). */
function restSubscription(host: string, name: string): TestSubscription {
  const attempts = new Map<string, number>();
  const call = async (verb: string, body: unknown): Promise<any> => {
    const response = await fetch(`http://${host}/v1/${name}:${verb}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${verb} on ${name}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const self: TestSubscription = {
    name,
    async pull(max = 100) {
      const result = (await call("pull", { maxMessages: max, returnImmediately: true })) as { receivedMessages?: PulledMessage[] };
      return result.receivedMessages ?? [];
    },
    async ack(ackIds) {
      if (ackIds.length > 0) await call("acknowledge", { ackIds });
    },
    async nack(ackIds) {
      if (ackIds.length > 0) await call("modifyAckDeadline", { ackIds, ackDeadlineSeconds: 0 });
    },
    async push(handler, options = {}) {
      const handed: Handed[] = [];
      for (const pulled of await self.pull()) {
        const { message } = pulled;
        const attempt = (attempts.get(message.messageId) ?? 0) + 1;
        attempts.set(message.messageId, attempt);
        const body = pushBody({
          data: Buffer.from(message.data ?? "", "base64"),
          attributes: message.attributes ?? {},
          messageId: message.messageId,
          ...(message.publishTime ? { publishTime: message.publishTime } : {}),
          subscription: name,
          deliveryAttempt: attempt,
        });
        const response = await handler({ body, headers: { "content-type": "application/json" } });
        const acked = response.status >= 200 && response.status < 300 && !options.forceNack;
        await (acked ? self.ack([pulled.ackId]) : self.nack([pulled.ackId]));
        handed.push({
          messageId: message.messageId,
          data: Buffer.from(message.data ?? "", "base64").toString("utf8"),
          attributes: message.attributes ?? {},
          attempt,
          response,
        });
      }
      return handed;
    },
    async pushUntilEmpty(handler, maxRounds = 20) {
      const all: Handed[] = [];
      for (let round = 0; round < maxRounds; round++) {
        const handed = await self.push(handler);
        if (handed.length === 0) break;
        all.push(...handed);
      }
      return all;
    },
    async drain() {
      const all: PulledMessage[] = [];
      for (;;) {
        const pulled = await self.pull();
        if (pulled.length === 0) return all;
        await self.ack(pulled.map((message) => message.ackId));
        all.push(...pulled);
      }
    },
  };
  return self;
}

/** Every shipped example envelope, parsed (shared with the local runtime tests). */
export { shippedExamples } from "../../support/local-runtime";
