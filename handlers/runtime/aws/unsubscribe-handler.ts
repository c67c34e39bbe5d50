/**
 * The unsubscribe link's endpoint on AWS: a Lambda function URL (payload format 2.0).
 * The link is signed with the key in the unsubscribe secret, so the URL can be public:
 * nobody can opt someone else out by editing it. GET shows a confirmation form; POST
 * (the form, or a mail client's RFC 8058 one-click) records the opt-out in DynamoDB.
 */
import type { ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { answerUnsubscribe } from "../../core/unsubscribe";
import { createAwsClient, type AwsApi } from "./aws-json-client";
import { DynamoDirectory } from "./dynamo-directory";
import { AWS_ENV, requiredEnv } from "./env";
import { createJsonLogger, errorText } from "./json-logger";
import { readSecretString } from "./secrets";

/** The parts of a function URL request (payload format 2.0) this handler reads. */
export interface FunctionUrlEvent {
  readonly rawPath?: string;
  readonly rawQueryString?: string;
  readonly requestContext: { readonly http: { readonly method: string } };
}

export interface FunctionUrlResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface UnsubscribeHandlerDeps {
  readonly env?: ConfigSource;
  readonly directory?: Pick<RecipientDirectory, "get" | "put">;
  readonly secret?: () => Promise<string>;
}

export function createUnsubscribeHandler(deps: UnsubscribeHandlerDeps = {}): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const env = deps.env ?? process.env;
  const directory = deps.directory ?? new DynamoDirectory(createAwsClient("dynamodb", { env }), requiredEnv(env, AWS_ENV.recipientsTable));
  const secretArn = deps.secret ? undefined : requiredEnv(env, AWS_ENV.unsubscribeSecretArn);
  let secrets: AwsApi | undefined;
  const secret = deps.secret ?? (() => readSecretString((secrets ??= createAwsClient("secretsmanager", { env })), secretArn!));
  const logger = createJsonLogger();
  return async (event): Promise<FunctionUrlResult> => {
    try {
      const answer = await answerUnsubscribe(
        { method: event.requestContext.http.method.toUpperCase(), path: event.rawPath ?? "/", query: new URLSearchParams(event.rawQueryString ?? "") },
        await secret(),
        directory,
      );
      if (answer.status === 200 && event.requestContext.http.method.toUpperCase() === "POST") logger.info({ status: answer.status }, "opt-out recorded");
      // Never cached: the page and the result are per link.
      return { statusCode: answer.status, headers: { "content-type": answer.contentType, "cache-control": "no-store" }, body: answer.body };
    } catch (error) {
      logger.error({ error: errorText(error) }, "unsubscribe failed");
      return { statusCode: 503, headers: { "content-type": "application/json" }, body: JSON.stringify({ error: "unavailable", message: "try again later" }) };
    }
  };
}

let built: ReturnType<typeof createUnsubscribeHandler> | undefined;
/** The Lambda entry point, built on first use from the environment the stack sets. */
export const handler = (event: FunctionUrlEvent) => (built ??= createUnsubscribeHandler())(event);
