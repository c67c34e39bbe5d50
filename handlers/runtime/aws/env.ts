/**
 * The environment contract between the AWS stack (infra/aws) and the Lambda shims in this
 * folder: infra sets these variables on each function, the shims read them. One place,
 * so a rename cannot leave the two sides disagreeing.
 */
export const AWS_ENV = {
  /** DynamoDB table of idempotency keys (and frequency-cap counters); partition key `pk` (S), TTL attribute `ttl`. */
  idempotencyTable: "HERALD_IDEMPOTENCY_TABLE",
  /** DynamoDB table of recipients, suppressions and push endpoints; partition key `pk` (S). */
  recipientsTable: "HERALD_RECIPIENTS_TABLE",
  /** Channel functions: ARN of the Secrets Manager secret whose value is a JSON object of config keys. */
  secretArn: "HERALD_SECRET_ARN",
  /** Rules function: the rules queue's DLQ, where events that fail validation are kept with the reason. */
  rulesDlqUrl: "HERALD_RULES_DLQ_URL",
  /** Rules function: unsubscribe links (both optional; without them no link is signed). */
  unsubscribeBaseUrl: "HERALD_UNSUBSCRIBE_BASE_URL",
  unsubscribeSecretArn: "HERALD_UNSUBSCRIBE_SECRET_ARN",
  /** Channel functions, optional: the channel's send timeout in ms when the stack overrides the module's default. */
  channelTimeoutMs: "HERALD_CHANNEL_TIMEOUT_MS",
} as const;

/**
 * The SQS queue URL of one channel, e.g. `HERALD_QUEUE_URL_EMAIL`: the rules function has
 * every channel's; a channel function has its own (deferred messages go back to it).
 */
export function channelQueueUrlVariable(channel: string): string {
  return `HERALD_QUEUE_URL_${channel.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export { positiveIntEnv, requiredEnv } from "../shared/env";
