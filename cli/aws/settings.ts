/**
 * Where the AWS commands find the deployed stack: flags first, then environment
 * variables, then the Pulumi stack's outputs. Also turns AWS SDK failures into errors
 * the CLI prints as one line.
 */
import { execFile } from "node:child_process";
import { HeraldError } from "../../handlers/core/errors";
import { channelQueueUrlVariable } from "../../handlers/runtime/aws/env";
import { UsageError } from "../usage-error";

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

/** What `pulumi stack output --json` printed, or why it could not be read. */
export type StackOutputResult = { readonly outputs: Readonly<Record<string, unknown>> } | { readonly unavailable: string };

/**
 * The deployed stack's outputs, read at most once per command and only when a flag or
 * environment variable did not already answer (running pulumi takes a second or more).
 */
export class StackOutputs {
  private result: Promise<StackOutputResult> | undefined;

  constructor(private readonly read: () => Promise<StackOutputResult> = readPulumiStackOutputs) {}

  get(): Promise<StackOutputResult> {
    this.result ??= this.read();
    return this.result;
  }
}

/** Runs `pulumi stack output --json` in the current directory (the project, with its selected stack). */
export function readPulumiStackOutputs(): Promise<StackOutputResult> {
  return new Promise((resolve) => {
    execFile("pulumi", ["stack", "output", "--json"], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return resolve({ unavailable: "no `pulumi` executable on PATH" });
        const why = String(stderr).trim().split("\n")[0] || error.message;
        return resolve({ unavailable: `\`pulumi stack output\` failed: ${why}` });
      }
      try {
        const outputs = JSON.parse(String(stdout)) as unknown;
        if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) throw new Error("not a JSON object");
        resolve({ outputs: outputs as Record<string, unknown> });
      } catch (parseError) {
        resolve({ unavailable: `\`pulumi stack output --json\` printed something unexpected (${(parseError as Error).message})` });
      }
    });
  });
}

/** The topic to publish to: `--topic-arn`, `HERALD_TOPIC_ARN`, or the stack output `topicArn`. */
export async function resolveTopicArn(flag: string | undefined, stack: StackOutputs): Promise<string> {
  if (flag) return flag;
  const fromEnv = process.env[TOPIC_ARN_VARIABLE];
  if (fromEnv) return fromEnv;
  const result = await stack.get();
  if ("outputs" in result && typeof result.outputs.topicArn === "string" && result.outputs.topicArn) return result.outputs.topicArn;
  const why = "outputs" in result ? "the stack has no `topicArn` output" : result.unavailable;
  throw new UsageError(
    `no SNS topic to publish to: pass --topic-arn <arn>, set ${TOPIC_ARN_VARIABLE}, or run from the project directory ` +
      `with the deployed stack selected so \`pulumi stack output topicArn\` answers (${why})`,
  );
}

/**
 * One channel's queue URL: the flag, the environment variable, or the stack output
 * (an object of channel to URL). `dlq` is the dead-letter queue, `source` the queue it
 * belongs to (where a redrive sends messages back).
 */
export async function resolveChannelQueueUrl(kind: "dlq" | "source", channel: string, flag: string | undefined, stack: StackOutputs): Promise<string> {
  if (flag) return flag;
  const variable = kind === "dlq" ? channelDlqUrlVariable(channel) : channelQueueUrlVariable(channel);
  const fromEnv = process.env[variable];
  if (fromEnv) return fromEnv;
  const output = kind === "dlq" ? "deadLetterQueueUrls" : "queueUrls";
  const result = await stack.get();
  if ("outputs" in result) {
    const urls = result.outputs[output];
    const url = typeof urls === "object" && urls !== null ? (urls as Record<string, unknown>)[channel] : undefined;
    if (typeof url === "string" && url) return url;
  }
  const why = "outputs" in result ? `the stack output \`${output}\` has no "${channel}" entry` : result.unavailable;
  const flagName = kind === "dlq" ? "--queue-url" : "--source-queue-url";
  const what = kind === "dlq" ? "dead-letter queue" : "queue (where redriven messages go)";
  throw new UsageError(
    `no URL for the ${channel} ${what}: pass ${flagName} <url>, set ${variable}, or run from the project directory ` +
      `with the deployed stack selected so \`pulumi stack output ${output}\` answers (${why})`,
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
