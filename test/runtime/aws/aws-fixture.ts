/**
 * AWS resources on moto for the shim tests, and the part of Lambda's SQS event source
 * mapping the tests play themselves: receive a batch, hand it to the handler as an
 * SQSEvent, delete what the handler did not name in `batchItemFailures`.
 */
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { createAwsClient, type AwsApi, type AwsServiceName } from "../../../handlers/runtime/aws/aws-json-client";
import type { MotoServer } from "../../support/moto";
import type { SQSBatchResponse, SQSEvent, SQSHandler } from "../../../handlers/runtime/aws/sqs-event";

/** A table shaped like the stack's: partition key `pk` (S), on demand. */
export async function createTable(dynamodb: DynamoDBClient, name: string): Promise<{ name: string; drop: () => Promise<void> }> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  return { name, drop: async () => void (await dynamodb.send(new DeleteTableCommand({ TableName: name }))) };
}

export interface TestQueue {
  readonly url: string;
  readonly arn: string;
}

/** A queue and, when `maxReceiveCount` is given, its DLQ wired by RedrivePolicy. */
export async function createQueue(sqs: SQSClient, name: string, maxReceiveCount?: number): Promise<TestQueue & { dlq?: TestQueue }> {
  let dlq: TestQueue | undefined;
  if (maxReceiveCount !== undefined) dlq = await makeQueue(sqs, `${name}-dlq`, {});
  const queue = await makeQueue(
    sqs,
    name,
    dlq ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount }), VisibilityTimeout: "30" } : { VisibilityTimeout: "30" },
  );
  return { ...queue, ...(dlq ? { dlq } : {}) };
}

async function makeQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<TestQueue> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

/**
 * Receives up to `max` messages as Lambda's poller would. `visibilitySeconds` 0 leaves
 * them visible, so a test sees at once whether the handler hid a record (a retry) or not.
 */
export async function receiveEvent(sqs: SQSClient, queue: TestQueue, options: { max?: number; visibilitySeconds?: number } = {}): Promise<SQSEvent> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: options.max ?? 10,
      VisibilityTimeout: options.visibilitySeconds ?? 30,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      MessageAttributeNames: ["All"],
    }),
  );
  return { Records: (Messages ?? []).map((message) => toRecord(message, queue.arn)) };
}

function toRecord(message: Message, arn: string): SQSEvent["Records"][number] {
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1" },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        { dataType: value.DataType!, ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}) },
      ]),
    ),
    eventSourceARN: arn,
    eventSource: "aws:sqs",
    awsRegion: "us-east-1",
  };
}

/** Deletes every record the handler did not name as failed, as the event source mapping does. */
export async function settle(sqs: SQSClient, queue: TestQueue, event: SQSEvent, response: SQSBatchResponse): Promise<void> {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  for (const record of event.Records) {
    if (!failed.has(record.messageId)) await sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: record.receiptHandle }));
  }
}

/** One poll: receive, handle, settle. */
export async function invoke(sqs: SQSClient, queue: TestQueue, handler: SQSHandler, options: { max?: number; visibilitySeconds?: number } = {}) {
  const event = await receiveEvent(sqs, queue, options);
  const response = await handler(event);
  await settle(sqs, queue, event, response);
  return { event, response };
}

/** Every message now visible on the queue, removed from it (at most `limit`). */
export async function drain(sqs: SQSClient, queue: TestQueue, limit = 100): Promise<Message[]> {
  const all: Message[] = [];
  while (all.length < limit) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    if (!Messages || Messages.length === 0) break;
    for (const message of Messages) {
      all.push(message);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: message.ReceiptHandle! }));
    }
  }
  return all;
}

/** Approximate counts SQS reports (moto reports them exactly). */
export async function queueCounts(sqs: SQSClient, queue: TestQueue): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/**
 * Redrive without StartMessageMoveTask (moto 5.2 lacks it): move every message from the
 * DLQ back to its source queue as a new message, deleting it from the DLQ after the send.
 */
export async function redrive(sqs: SQSClient, dlq: TestQueue, target: TestQueue): Promise<number> {
  let moved = 0;
  for (;;) {
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 0 }));
    if (!Messages || Messages.length === 0) return moved;
    for (const message of Messages) {
      await sqs.send(new SendMessageCommand({ QueueUrl: target.url, MessageBody: message.Body! }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: dlq.url, ReceiptHandle: message.ReceiptHandle! }));
      moved++;
    }
  }
}

/** SDK clients on moto, for the tests' own setup and checks (an independent peer of the shims' client). */
export function motoClients(moto: MotoServer) {
  return { sqs: new SQSClient(moto.clientConfig), dynamodb: new DynamoDBClient(moto.clientConfig) };
}

/** The shims' own AWS client for `service`, on moto. */
export function motoAwsClient(moto: MotoServer, service: AwsServiceName): AwsApi {
  return createAwsClient(service, { ...moto.clientConfig, env: {} });
}

/** `api`, recording the action and input of every call into `into` (before it is made). */
export function recordCalls(api: AwsApi, into: Array<{ action: string; input: any }>): AwsApi {
  return {
    call: (action, input) => {
      into.push({ action, input });
      return api.call(action, input);
    },
  };
}
