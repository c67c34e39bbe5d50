/**
 * The slice of Lambda's SQS event and partial batch response the shims use, typed here
 * rather than through @types/aws-lambda: the shape is small and stable, and one less
 * dependency keeps the function bundles lean.
 */

/** One SQS message as the event source mapping hands it to the function. */
export interface SQSRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** System attributes; SQS sends them as strings (`ApproximateReceiveCount: "2"`). */
  readonly attributes: { readonly ApproximateReceiveCount?: string; readonly [name: string]: string | undefined };
  readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string; readonly dataType: string }>>;
  /** `arn:aws:sqs:<region>:<account>:<queue name>`. */
  readonly eventSourceARN: string;
  readonly eventSource?: string;
  readonly awsRegion?: string;
}

export interface SQSEvent {
  readonly Records: readonly SQSRecord[];
}

/**
 * With `ReportBatchItemFailures` on the event source mapping, Lambda deletes every record
 * not named here and leaves the named ones on the queue (with whatever visibility the
 * handler gave them), so one bad message never makes a whole batch run again.
 */
export interface SQSBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

export type SQSHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Queue name and owning account from a queue ARN, for `GetQueueUrl`. */
export function parseQueueArn(arn: string): { readonly region: string; readonly accountId: string; readonly queueName: string } {
  const parts = arn.split(":");
  if (parts.length !== 6 || parts[0] !== "arn" || parts[2] !== "sqs") throw new Error(`not an SQS queue ARN: ${arn}`);
  return { region: parts[3]!, accountId: parts[4]!, queueName: parts[5]! };
}

/** Which delivery of the message this is (from 1), as SQS counts receives. */
export function receiveCount(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isInteger(count) && count >= 1 ? count : 1;
}
