/**
 * Where the AWS commands find the deployed stack: flags first, then environment
 * variables, then the Pulumi stack's outputs. Also turns AWS SDK failures into errors
 * the CLI prints as one line.
 */
import { HeraldError } from "../../handlers/core/errors";
import { channelQueueUrlVariable } from "../../handlers/runtime/aws/env";
import { resolveStackSetting, StackOutputs } from "../stack-outputs";
import { UsageError } from "../usage-error";

// Moved to ../stack-outputs (shared with --target gcp); re-exported for the AWS code and its tests.
export { readPulumiStackOutputs, StackOutputs, type StackOutputResult } from "../stack-outputs";

/** Connection options every `--target aws` command takes. */
export interface AwsConnectionOptions {
  /** `--endpoint-url`: an emulator (moto, LocalStack). Without it the SDK reads `AWS_ENDPOINT_URL`. */
  readonly endpointUrl?: string;
  /** `--region`; without it, the region in the resource's ARN, then the SDK's own chain (`AWS_REGION`, profile). */
  readonly region?: string;
}

/** Environment variable with the SNS topic ARN `herald publish --target aws` publishes to. */
export const TOPIC_ARN_VARIABLE = "HERALD_TOPIC_ARN";

/** Environment variable with one channel's dead-letter queue URL, e.g. `HERALD_DLQ_URL_EMAIL`. */
export function channelDlqUrlVariable(channel: string): string {
  // Same normalisation as the Lambda contract's queue variables, so the two never disagree.
  return channelQueueUrlVariable(channel).replace(/^HERALD_QUEUE_URL_/, "HERALD_DLQ_URL_");
}

/** SDK client settings from the flags; `undefined` fields are left to the SDK's own resolution. */
export function clientConfig(options: AwsConnectionOptions, resource?: string): { endpoint?: string; region?: string } {
  // An ARN or a queue URL names its region; a client in another region could not reach it,
  // so that beats AWS_REGION. An explicit --region still wins (e.g. for an emulator's ARNs).
  const region = options.region ?? (resource ? regionOf(resource) : undefined);
  return { ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}), ...(region ? { region } : {}) };
}

/** The region in `arn:aws:sns:eu-west-1:...` or `https://sqs.eu-west-1.amazonaws.com/...`, if any. */
export function regionOf(resource: string): string | undefined {
  if (resource.startsWith("arn:")) return resource.split(":")[3] || undefined;
  return /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\//.exec(resource)?.[1];
}

/** The topic to publish to: `--topic-arn`, `HERALD_TOPIC_ARN`, or the stack output `topicArn`. */
export function resolveTopicArn(flag: string | undefined, stack: StackOutputs): Promise<string> {
  return resolveStackSetting({ flag, flagUsage: "--topic-arn <arn>", variable: TOPIC_ARN_VARIABLE, output: "topicArn", missing: "no SNS topic to publish to" }, stack);
}

/**
 * One channel's queue URL: the flag, the environment variable, or the stack output
 * (an object of channel to URL). `dlq` is the dead-letter queue, `source` the queue it
 * belongs to (where a redrive sends messages back).
 */
export function resolveChannelQueueUrl(kind: "dlq" | "source", channel: string, flag: string | undefined, stack: StackOutputs): Promise<string> {
  return resolveStackSetting(
    {
      flag,
      flagUsage: kind === "dlq" ? "--queue-url <url>" : "--source-queue-url <url>",
      variable: kind === "dlq" ? channelDlqUrlVariable(channel) : channelQueueUrlVariable(channel),
      output: kind === "dlq" ? "deadLetterQueueUrls" : "queueUrls",
      key: channel,
      missing: `no URL for the ${channel} ${kind === "dlq" ? "dead-letter queue" : "queue (where redriven messages go)"}`,
    },
    stack,
  );
}

/** An AWS API refused or failed a call; printed as one line, exit code 1. */
export class AwsCallError extends HeraldError {
  readonly code = "aws-call-failed";
}

/**
 * Maps what the AWS SDK throws to the CLI's error classes: missing credentials or
 * region are usage problems (exit 2, with what to set); a service error is one line
 * with the service's error name (exit 1). Anything else is returned unchanged.
 */
export function cliErrorFromAws(error: unknown, doing: string): unknown {
  if (!(error instanceof Error)) return error;
  // Branch on the SDK's error names (stable API), never on message text.
  if (error.name === "CredentialsProviderError") {
    return new UsageError(`no AWS credentials for ${doing}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${error.message})`);
  }
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  if (metadata) return new AwsCallError(`${doing}: ${error.name}: ${error.message.split("\n")[0]}`, { cause: error });
  return error;
}

/**
 * Resolves the client's region up front, so a missing region is a usage error that says
 * what to set rather than the SDK's failure on the first call.
 */
export async function assertRegion(config: { region: () => Promise<string> }): Promise<void> {
  try {
    await config.region();
  } catch {
    throw new UsageError("no AWS region: pass --region <region> or set AWS_REGION");
  }
}
