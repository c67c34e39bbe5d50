/**
 * The fan-out on AWS: SNS entry topic; SQS queues with a DLQ each (RedrivePolicy and
 * RedriveAllowPolicy resources); Lambda functions on nodejs22.x behind event source
 * mappings that report per-message failures and cap concurrency; DynamoDB tables; a
 * Secrets Manager secret per channel; one role per function; CloudWatch alarms.
 *
 * Provider submodules are imported one by one: type-checking @pulumi/aws from its root
 * costs several times the memory and time.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as iam from "@pulumi/aws/iam";
import * as lambda from "@pulumi/aws/lambda";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as sns from "@pulumi/aws/sns";
import * as sqs from "@pulumi/aws/sqs";
import { AWS_ENV, channelQueueUrlVariable } from "../../handlers/runtime/aws/env";
import type { FunctionBundle } from "../bundle";
import type {
  AlarmTargetHandle,
  EndpointHandle,
  EndpointSpec,
  FunctionHandle,
  FunctionSpec,
  Platform,
  QueueHandle,
  SecretHandle,
  SecretSpec,
  StoreHandle,
  StoreKind,
  TopicHandle,
} from "../platform";
import type { ConsumerTopology } from "../topology";
import { endpointPolicy, functionPolicy, LAMBDA_ASSUME_ROLE_POLICY } from "./iam";

/** Event source mappings accept a maximumConcurrency from 2 to 1000. */
export const AWS_MIN_CONCURRENCY = 2;
export const AWS_MAX_CONCURRENCY = 1000;
/** Dead letters are kept the longest SQS allows (14 days); live queues 4 days. */
const DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60;
const QUEUE_RETENTION_SECONDS = 4 * 24 * 60 * 60;

interface AwsQueue extends QueueHandle {
  readonly arn: pulumi.Output<string>;
  readonly name: pulumi.Output<string>;
  readonly deadLetterArn: pulumi.Output<string>;
  readonly deadLetterName: pulumi.Output<string>;
}
interface AwsTopic extends TopicHandle {
  readonly arn: pulumi.Output<string>;
}
interface AwsStore extends StoreHandle {
  readonly arn: pulumi.Output<string>;
}
interface AwsSecret extends SecretHandle {
  readonly arn: pulumi.Output<string>;
}
interface AwsFunction extends FunctionHandle {
  readonly arn: pulumi.Output<string>;
}

export interface AwsPlatformOptions {
  readonly logRetentionDays: number;
}

export class AwsPlatform implements Platform {
  readonly cloud = "aws" as const;

  constructor(private readonly options: AwsPlatformOptions) {}

  effectiveConcurrency(consumer: ConsumerTopology): number {
    return Math.min(AWS_MAX_CONCURRENCY, Math.max(AWS_MIN_CONCURRENCY, consumer.concurrency));
  }

  alarmTarget(name: string, email: string | undefined, opts: pulumi.CustomResourceOptions): AlarmTargetHandle {
    // Not encrypted with the AWS-managed SNS key: CloudWatch cannot publish to a topic
    // that uses it.
    const topic = new sns.Topic(name, {}, opts);
    if (email) new sns.TopicSubscription(`${name}-email`, { topic: topic.arn, protocol: "email", endpoint: email }, opts);
    return { address: topic.arn };
  }

  topic(name: string, opts: pulumi.CustomResourceOptions): AwsTopic {
    const topic = new sns.Topic(name, { kmsMasterKeyId: "alias/aws/sns" }, opts);
    return { address: topic.arn, arn: topic.arn };
  }

  store(name: string, kind: StoreKind, opts: pulumi.CustomResourceOptions): AwsStore {
    const table = new dynamodb.Table(
      name,
      {
        billingMode: "PAY_PER_REQUEST",
        hashKey: "pk",
        attributes: [{ name: "pk", type: "S" }],
        serverSideEncryption: { enabled: true },
        // Idempotency keys and cap counters expire on their own; recipients are kept and backed up.
        ...(kind === "idempotency" ? { ttl: { attributeName: "ttl", enabled: true } } : { pointInTimeRecovery: { enabled: true } }),
      },
      opts,
    );
    return { kind, name: table.name, arn: table.arn };
  }

  secret(name: string, spec: SecretSpec, opts: pulumi.CustomResourceOptions): AwsSecret {
    const secret = new secretsmanager.Secret(name, { ...(spec.secretName ? { name: spec.secretName } : {}), recoveryWindowInDays: 7 }, opts);
    // The value comes from Pulumi config secrets and stays encrypted in the state.
    new secretsmanager.SecretVersion(name, { secretId: secret.id, secretString: pulumi.secret(spec.value) }, opts);
    return { owner: spec.owner, name: secret.name, arn: secret.arn };
  }

  queue(name: string, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): AwsQueue {
    const deadLetter = new sqs.Queue(`${name}-dlq`, { messageRetentionSeconds: DLQ_RETENTION_SECONDS, sqsManagedSseEnabled: true }, opts);
    const queue = new sqs.Queue(
      name,
      { visibilityTimeoutSeconds: consumer.visibilityTimeoutSeconds, messageRetentionSeconds: QUEUE_RETENTION_SECONDS, sqsManagedSseEnabled: true },
      opts,
    );
    // Separate resources (not the queue's own redrivePolicy input), so the two queues
    // can be created in either order and redrive can be allowed back from the DLQ.
    new sqs.RedrivePolicy(name, { queueUrl: queue.url, redrivePolicy: pulumi.jsonStringify({ deadLetterTargetArn: deadLetter.arn, maxReceiveCount: consumer.maxAttempts }) }, opts);
    new sqs.RedriveAllowPolicy(`${name}-dlq`, { queueUrl: deadLetter.url, redriveAllowPolicy: pulumi.jsonStringify({ redrivePermission: "byQueue", sourceQueueArns: [queue.arn] }) }, opts);
    return { consumer: consumer.name, url: queue.url, deadLetterUrl: deadLetter.url, arn: queue.arn, name: queue.name, deadLetterArn: deadLetter.arn, deadLetterName: deadLetter.name };
  }

  subscribe(name: string, topic: TopicHandle, queue: QueueHandle, opts: pulumi.CustomResourceOptions): void {
    const { arn: topicArn } = topic as AwsTopic;
    const target = queue as AwsQueue;
    // Only this topic may send to the queue.
    const policy = new sqs.QueuePolicy(
      name,
      {
        queueUrl: target.url,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Service: "sns.amazonaws.com" },
              Action: "sqs:SendMessage",
              Resource: target.arn,
              Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
            },
          ],
        }),
      },
      opts,
    );
    // Raw delivery: the queue holds the CloudEvent itself, not an SNS envelope around it.
    new sns.TopicSubscription(name, { topic: topicArn, protocol: "sqs", endpoint: target.arn, rawMessageDelivery: true }, { ...opts, dependsOn: [policy] });
  }

  function(name: string, spec: FunctionSpec, opts: pulumi.CustomResourceOptions): AwsFunction {
    const { access, consumer, bundle } = spec;
    const logGroup = new cloudwatch.LogGroup(name, { retentionInDays: this.options.logRetentionDays }, opts);
    const role = new iam.Role(name, { assumeRolePolicy: JSON.stringify(LAMBDA_ASSUME_ROLE_POLICY) }, opts);
    const consumes = access.consumes as AwsQueue;
    const sendsTo = access.sendsTo.map(({ queue }) => (queue as AwsQueue).arn);
    const deadLetter = access.sendsToDeadLetter as AwsQueue | undefined;
    const secret = access.secret as AwsSecret | undefined;
    const unsubscribeKey = access.unsubscribe?.key as AwsSecret | undefined;
    const policy = new iam.RolePolicy(
      name,
      {
        role: role.id,
        policy: pulumi
          .output({
            consumesQueueArn: consumes.arn,
            sendsToQueueArns: [...sendsTo, ...(deadLetter ? [deadLetter.deadLetterArn] : [])],
            tables: access.stores.map(({ store, access: level }) => ({ arn: (store as AwsStore).arn, access: level })),
            secretArns: [secret?.arn, unsubscribeKey?.arn].filter((arn) => arn !== undefined),
            logGroupArn: logGroup.arn,
          })
          .apply((resolved) => JSON.stringify(functionPolicy(resolved))),
      },
      opts,
    );
    const stores = Object.fromEntries(access.stores.map(({ store }) => [store.kind === "idempotency" ? AWS_ENV.idempotencyTable : AWS_ENV.recipientsTable, store.name]));
    const fn = new lambda.Function(
      name,
      {
        runtime: "nodejs22.x",
        architectures: ["arm64"],
        handler: "index.handler",
        code: codeArchive(bundle),
        role: role.arn,
        timeout: consumer.functionTimeoutSeconds,
        memorySize: consumer.memoryMb,
        loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
        environment: {
          variables: {
            // Plain settings only; secrets are read from Secrets Manager at start.
            ...spec.settings,
            NODE_OPTIONS: "--enable-source-maps",
            ...stores,
            ...Object.fromEntries(access.sendsTo.map(({ channel, queue }) => [channelQueueUrlVariable(channel), queue.url])),
            ...(deadLetter ? { [AWS_ENV.rulesDlqUrl]: deadLetter.deadLetterUrl } : {}),
            ...(secret ? { [AWS_ENV.secretArn]: secret.arn } : {}),
            ...(access.unsubscribe && unsubscribeKey
              ? { [AWS_ENV.unsubscribeBaseUrl]: access.unsubscribe.url, [AWS_ENV.unsubscribeSecretArn]: unsubscribeKey.arn }
              : {}),
            // A stack override of the channel's send timeout; the claim lease follows it.
            ...(consumer.kind === "channel" ? { [AWS_ENV.channelTimeoutMs]: String(consumer.timeoutMs) } : {}),
          },
        },
      },
      // The role must be able to write logs and read its queue before the first invocation.
      { ...opts, dependsOn: [policy] },
    );
    return { consumer: consumer.name, name: fn.name, arn: fn.arn };
  }

  endpoint(name: string, spec: EndpointSpec, opts: pulumi.CustomResourceOptions): EndpointHandle {
    const logGroup = new cloudwatch.LogGroup(name, { retentionInDays: this.options.logRetentionDays }, opts);
    const role = new iam.Role(name, { assumeRolePolicy: JSON.stringify(LAMBDA_ASSUME_ROLE_POLICY) }, opts);
    const key = spec.key as AwsSecret;
    const policy = new iam.RolePolicy(
      name,
      {
        role: role.id,
        policy: pulumi
          .output({
            tables: spec.stores.map(({ store, access: level }) => ({ arn: (store as AwsStore).arn, access: level })),
            secretArns: [key.arn],
            logGroupArn: logGroup.arn,
          })
          .apply((resolved) => JSON.stringify(endpointPolicy(resolved))),
      },
      opts,
    );
    const fn = new lambda.Function(
      name,
      {
        runtime: "nodejs22.x",
        architectures: ["arm64"],
        handler: "index.handler",
        code: codeArchive(spec.bundle),
        role: role.arn,
        timeout: 10,
        memorySize: 256,
        loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
        environment: {
          variables: {
            NODE_OPTIONS: "--enable-source-maps",
            ...Object.fromEntries(spec.stores.map(({ store }) => [store.kind === "idempotency" ? AWS_ENV.idempotencyTable : AWS_ENV.recipientsTable, store.name])),
            [AWS_ENV.unsubscribeSecretArn]: key.arn,
          },
        },
      },
      { ...opts, dependsOn: [policy] },
    );
    // Public on purpose: the people who click the link have no AWS identity. The link's
    // HMAC signature is what stops anyone changing someone else's preferences.
    const url = new lambda.FunctionUrl(name, { functionName: fn.name, authorizationType: "NONE" }, opts);
    new lambda.Permission(`${name}-url`, { action: "lambda:InvokeFunctionUrl", function: fn.name, principal: "*", functionUrlAuthType: "NONE" }, opts);
    new lambda.Permission(`${name}-invoke`, { action: "lambda:InvokeFunction", function: fn.name, principal: "*", invokedViaFunctionUrl: true }, opts);
    return { url: url.functionUrl };
  }

  trigger(name: string, queue: QueueHandle, fn: FunctionHandle, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): void {
    new lambda.EventSourceMapping(
      name,
      {
        eventSourceArn: (queue as AwsQueue).arn,
        functionName: (fn as AwsFunction).arn,
        batchSize: consumer.batchSize,
        // Batches over 10 need a batching window; up to 10 go at once.
        ...(consumer.batchSize > 10 ? { maximumBatchingWindowInSeconds: 1 } : {}),
        // Only the failed messages of a batch come back, not the whole batch.
        functionResponseTypes: ["ReportBatchItemFailures"],
        // The cap: Lambda's reserved concurrency would throttle messages into the DLQ instead.
        scalingConfig: { maximumConcurrency: this.effectiveConcurrency(consumer) },
      },
      opts,
    );
  }

  queueAlarms(name: string, queue: QueueHandle, consumer: ConsumerTopology, target: AlarmTargetHandle, ageSeconds: number, opts: pulumi.CustomResourceOptions): void {
    const { name: queueName, deadLetterName } = queue as AwsQueue;
    const actions = [target.address];
    new cloudwatch.MetricAlarm(
      `${name}-dlq-depth`,
      {
        alarmDescription: `herald ${consumer.name}: messages in the dead-letter queue (inspect with herald dlq list --target aws --channel ${consumer.name})`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: deadLetterName },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: actions,
        okActions: actions,
      },
      opts,
    );
    new cloudwatch.MetricAlarm(
      `${name}-oldest-age`,
      {
        alarmDescription: `herald ${consumer.name}: the oldest message has waited more than ${ageSeconds} s`,
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        dimensions: { QueueName: queueName },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 5,
        threshold: ageSeconds,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: actions,
        okActions: actions,
      },
      opts,
    );
  }
}

/** The function's code: its bundle and source map, as Lambda expects them in the zip. */
function codeArchive(bundle: FunctionBundle): pulumi.asset.AssetArchive {
  return new pulumi.asset.AssetArchive({
    "index.js": new pulumi.asset.StringAsset(bundle.code),
    "index.js.map": new pulumi.asset.StringAsset(bundle.sourceMap),
  });
}
