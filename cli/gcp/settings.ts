/**
 * Where the `--target gcp` commands find the deployed stack (flags, then environment
 * variables, then the Pulumi stack outputs, as for AWS), how they make a Pub/Sub client,
 * and how Pub/Sub failures become errors the CLI prints as one line.
 */
import { PubSub } from "@google-cloud/pubsub";
import { HeraldError } from "../../handlers/core/errors";
import { channelTopicVariable } from "../../handlers/runtime/gcp/env";
import { resolveStackSetting, type StackOutputs } from "../stack-outputs";
import { UsageError } from "../usage-error";

/** Connection options every `--target gcp` command takes. */
export interface GcpConnectionOptions {
  /** `--project`: for short topic or subscription names; full resource names carry their own. */
  readonly project?: string;
}

/** Environment variable with the entry topic `herald publish --target gcp` publishes to. */
export const TOPIC_VARIABLE = "HERALD_TOPIC";

/**
 * Environment variable with one channel's dead-letter subscription, e.g.
 * `HERALD_DLQ_SUBSCRIPTION_EMAIL`. Normalised like the functions' `HERALD_TOPIC_<CHANNEL>`
 * (which the redrive reads for the source topic), so the two never disagree on a name.
 */
export function channelDlqSubscriptionVariable(channel: string): string {
  return channelTopicVariable(channel).replace(/^HERALD_TOPIC_/, "HERALD_DLQ_SUBSCRIPTION_");
}

/** The entry topic: `--topic`, `HERALD_TOPIC`, or the stack output `topicArn` (on GCP a topic id). */
export function resolveTopic(flag: string | undefined, stack: StackOutputs): Promise<string> {
  return resolveStackSetting(
    { flag, flagUsage: "--topic <projects/p/topics/t or name>", variable: TOPIC_VARIABLE, output: "topicArn", missing: "no Pub/Sub topic to publish to" },
    stack,
  );
}

/** One channel's dead-letter pull subscription: `--subscription`, `HERALD_DLQ_SUBSCRIPTION_<CHANNEL>`, or `deadLetterQueueUrls`. */
export function resolveDeadLetterSubscription(channel: string, flag: string | undefined, stack: StackOutputs): Promise<string> {
  return resolveStackSetting(
    {
      flag,
      flagUsage: "--subscription <projects/p/subscriptions/s or name>",
      variable: channelDlqSubscriptionVariable(channel),
      output: "deadLetterQueueUrls",
      key: channel,
      missing: `no dead-letter subscription for ${channel}`,
    },
    stack,
  );
}

/** The topic a channel's dead letters go back to: `--source-topic`, `HERALD_TOPIC_<CHANNEL>`, or `queueUrls`. */
export function resolveSourceTopic(channel: string, flag: string | undefined, stack: StackOutputs): Promise<string> {
  return resolveStackSetting(
    {
      flag,
      flagUsage: "--source-topic <projects/p/topics/t or name>",
      variable: channelTopicVariable(channel),
      output: "queueUrls",
      key: channel,
      missing: `no topic for ${channel} (where redriven messages go)`,
    },
    stack,
  );
}

/** The project in `projects/<p>/topics/<t>` or `projects/<p>/subscriptions/<s>`, if the name is a full one. */
export function projectOf(resource: string): string | undefined {
  return /^projects\/([^/]+)\/(topics|subscriptions)\/[^/]+$/.exec(resource)?.[1];
}

/**
 * A Pub/Sub client for `resource`. The project is `--project`, else the one the resource
 * name carries (so no lookup of a default project is needed), else the library's own
 * (GOOGLE_CLOUD_PROJECT, gcloud's configuration). The library itself honours
 * `PUBSUB_EMULATOR_HOST`.
 */
export function pubsubFor(options: GcpConnectionOptions, resource: string): PubSub {
  const projectId = options.project ?? projectOf(resource);
  return new PubSub(projectId ? { projectId } : {});
}

/** A Pub/Sub call failed; printed as one line, exit code 1. */
export class GcpCallError extends HeraldError {
  readonly code = "gcp-call-failed";
}

/** gRPC status names by number, for one-line messages (`NOT_FOUND: Topic not found`). */
const GRPC_STATUS = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

/** The gRPC status name of a failed call (`NOT_FOUND`), or `undefined` for an error that is not one. */
export function grpcStatusOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? (GRPC_STATUS[code] ?? `status ${code}`) : undefined;
}

/** A failed call's reason without gRPC's `5 NOT_FOUND: ` prefix. */
export function grpcDetails(error: unknown): string {
  const details = (error as { details?: unknown } | undefined)?.details;
  if (typeof details === "string" && details) return details;
  return ((error as Error | undefined)?.message ?? String(error)).replace(/^\d+ [A-Z_]+: /, "");
}

/**
 * Maps what the Google libraries throw to the CLI's error classes: no credentials or no
 * project are usage problems (exit 2, with what to do); a gRPC status is one line with
 * the status name (exit 1). Anything else is returned unchanged.
 */
export function cliErrorFromGcp(error: unknown, doing: string): unknown {
  if (!(error instanceof Error)) return error;
  const status = grpcStatusOf(error);
  if (status) return new GcpCallError(`${doing}: ${status}: ${grpcDetails(error)}`, { cause: error });
  // google-auth-library has no error classes for these two; its messages are the only signal.
  if (/Could not load the default credentials/.test(error.message)) {
    return new UsageError(`no Google Cloud credentials for ${doing}: run \`gcloud auth application-default login\` or set GOOGLE_APPLICATION_CREDENTIALS (or PUBSUB_EMULATOR_HOST for the emulator)`);
  }
  if (/Unable to detect a Project Id/.test(error.message)) {
    return new UsageError(`no Google Cloud project for ${doing}: pass --project <id>, give full projects/<id>/... names, or set GOOGLE_CLOUD_PROJECT`);
  }
  return error;
}
