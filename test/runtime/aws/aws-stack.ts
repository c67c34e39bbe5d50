/**
 * The herald AWS stack as the shims see it, made on moto_server: the SNS topic, the rules
 * queue subscribed to it with raw delivery, one queue per channel, each with a DLQ by
 * RedrivePolicy, the two DynamoDB tables, and the channel secret in Secrets Manager
 * pointing the real channel modules at the local sinks. Each call makes a fresh set of
 * resources (unique names), so the tests of one file never see each other's messages.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";
import webpush from "web-push";
import { channels } from "../../../handlers/channels";
import { createChannelHandler, type ChannelHandlerDeps } from "../../../handlers/runtime/aws/channel-handler";
import { AWS_ENV, channelQueueUrlVariable } from "../../../handlers/runtime/aws/env";
import { createJsonLogger, type JsonLogger } from "../../../handlers/runtime/aws/json-logger";
import { createRulesHandler, type RulesHandlerDeps } from "../../../handlers/runtime/aws/rules-handler";
import type { SQSHandler } from "../../../handlers/runtime/aws/sqs-event";
import { sinkChannelEnv, startSinksInWorker, type WorkerSinks } from "../../../handlers/runtime/local/sinks/sink-worker";
import type { SinkDelivery } from "../../../handlers/runtime/local/sinks/types";
import type { MotoServer } from "../../support/moto";
import { uniqueKey } from "../conformance/fixture";
import type { AwsApi } from "../../../handlers/runtime/aws/aws-json-client";
import { createQueue, createTable, motoAwsClient, motoClients, recordCalls, type TestQueue } from "./aws-fixture";

export const UNSUBSCRIBE_BASE_URL = "https://notify.example.com/v1/unsubscribe";

/** Sinks and clients shared by a test file; stacks come and go per test. */
export interface AwsPeers {
  readonly moto: MotoServer;
  readonly sinks: WorkerSinks;
  readonly vapid: { readonly publicKey: string; readonly privateKey: string };
  /** Everything the sinks accepted, in order; tests filter by address. */
  readonly deliveries: SinkDelivery[];
  /** SDK clients for the tests' own setup and checks. */
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
  readonly secretsManager: SecretsManagerClient;
  /** The shims' own clients (what the Lambda functions build), recorded. */
  readonly aws: { readonly sqs: AwsApi; readonly dynamodb: AwsApi; readonly secretsManager: AwsApi };
  /** Every SQS call the shims made, with its input. */
  readonly sqsCommands: Array<{ action: string; input: any }>;
  /** Every Secrets Manager call the shims made. */
  readonly secretsCommands: Array<{ action: string; input: any }>;
  /** Every log line the shims wrote, parsed. */
  readonly logs: Array<Record<string, any>>;
  readonly logger: JsonLogger;
  stop(): Promise<void>;
}

export async function startPeers(moto: MotoServer): Promise<AwsPeers> {
  const vapid = webpush.generateVAPIDKeys();
  const deliveries: SinkDelivery[] = [];
  const sinks = await startSinksInWorker({
    vapidPublicKey: vapid.publicKey,
    smtp: true,
    twilio: true,
    onDelivery: (delivery) => void deliveries.push(delivery),
  });
  const { sqs, dynamodb } = motoClients(moto);
  const logs: Array<Record<string, any>> = [];
  const sns = new SNSClient(moto.clientConfig);
  const secretsManager = new SecretsManagerClient(moto.clientConfig);
  const sqsCommands: Array<{ action: string; input: any }> = [];
  const secretsCommands: Array<{ action: string; input: any }> = [];
  const aws = {
    sqs: recordCalls(motoAwsClient(moto, "sqs"), sqsCommands),
    dynamodb: motoAwsClient(moto, "dynamodb"),
    secretsManager: recordCalls(motoAwsClient(moto, "secretsmanager"), secretsCommands),
  };
  return {
    moto,
    sinks,
    vapid,
    deliveries,
    sqs,
    dynamodb,
    sns,
    secretsManager,
    aws,
    sqsCommands,
    secretsCommands,
    logs,
    logger: createJsonLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) }),
    async stop() {
      for (const client of [sqs, dynamodb, sns, secretsManager]) client.destroy();
      await sinks.close();
    },
  };
}

export interface TestStack {
  readonly topicArn: string;
  readonly rules: TestQueue & { dlq: TestQueue };
  readonly queues: Readonly<Record<string, TestQueue & { dlq: TestQueue }>>;
  readonly idempotencyTable: string;
  readonly recipientsTable: string;
  readonly secretArn: string;
  /** The functions' environment, as the Pulumi stack sets it. */
  readonly env: Record<string, string>;
  publish(event: unknown): Promise<void>;
  rulesHandler(deps?: Partial<RulesHandlerDeps>): SQSHandler;
  channelHandler(channel: string, deps?: Partial<ChannelHandlerDeps>): SQSHandler;
}

/** Every shipped example envelope, parsed (shared with the local runtime tests). */
export { shippedExamples } from "../../support/local-runtime";

/** A fresh stack; channel queues dead-letter after `maxReceiveCount` receives. */
export async function createStack(peers: AwsPeers, options: { maxReceiveCount?: number; secret?: Record<string, string> } = {}): Promise<TestStack> {
  const id = uniqueKey("herald");
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const rules = (await createQueue(peers.sqs, `${id}-rules`, 3)) as TestQueue & { dlq: TestQueue };
  const queues: Record<string, TestQueue & { dlq: TestQueue }> = {};
  for (const channel of channels)
    queues[channel.name] = (await createQueue(peers.sqs, `${id}-${channel.name}`, maxReceiveCount)) as TestQueue & { dlq: TestQueue };
  const idempotencyTable = (await createTable(peers.dynamodb, `${id}-idempotency`)).name;
  const recipientsTable = (await createTable(peers.dynamodb, `${id}-recipients`)).name;

  const { TopicArn } = await peers.sns.send(new CreateTopicCommand({ Name: `${id}-events` }));
  await peers.sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: rules.arn, Attributes: { RawMessageDelivery: "true" } }));

  const secret = options.secret ?? sinkChannelEnv(peers.sinks, peers.vapid);
  const { ARN: secretArn } = await peers.secretsManager.send(new CreateSecretCommand({ Name: `${id}-channels`, SecretString: JSON.stringify(secret) }));
  const { ARN: unsubscribeSecretArn } = await peers.secretsManager.send(
    new CreateSecretCommand({ Name: `${id}-unsubscribe`, SecretString: "unsubscribe-signing-key" }),
  );

  const env: Record<string, string> = {
    ...peers.moto.env,
    [AWS_ENV.idempotencyTable]: idempotencyTable,
    [AWS_ENV.recipientsTable]: recipientsTable,
    [AWS_ENV.secretArn]: secretArn!,
    [AWS_ENV.rulesDlqUrl]: rules.dlq.url,
    [AWS_ENV.unsubscribeBaseUrl]: UNSUBSCRIBE_BASE_URL,
    [AWS_ENV.unsubscribeSecretArn]: unsubscribeSecretArn!,
    ...Object.fromEntries(Object.entries(queues).map(([channel, queue]) => [channelQueueUrlVariable(channel), queue.url])),
  };
  // A channel function gets no queue URLs: it finds its own queue from the record's ARN.
  const channelEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("HERALD_QUEUE_URL_")));
  const clients = { ...peers.aws, logger: peers.logger };
  return {
    topicArn: TopicArn!,
    rules,
    queues,
    idempotencyTable,
    recipientsTable,
    secretArn: secretArn!,
    env,
    async publish(event) {
      await peers.sns.send(new PublishCommand({ TopicArn, Message: typeof event === "string" ? event : JSON.stringify(event) }));
    },
    rulesHandler: (deps = {}) => createRulesHandler({ env, ...clients, ...deps }),
    channelHandler: (channel, deps = {}) => {
      const adapter = channels.find((candidate) => candidate.name === channel);
      if (!adapter) throw new Error(`no channel ${channel}`);
      // random 0: a retry's backoff is 0 s, so the test sees it again without waiting.
      return createChannelHandler(adapter, { env: channelEnv, ...clients, random: () => 0, ...deps });
    },
  };
}
