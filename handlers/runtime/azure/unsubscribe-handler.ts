/**
 * The unsubscribe link's endpoint on Azure: an anonymous HTTP function (the link's HMAC
 * is the protection, see infra/azure). GET shows a confirmation form; POST records the
 * opt-out in Table Storage. The signing key is an app setting resolved from Key Vault.
 */
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import type { ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { answerUnsubscribe } from "../../core/unsubscribe";
import { tableFromEnv } from "./clients";
import { AZURE_ENV, requiredEnv } from "./env";
import { TableDirectory } from "./table-directory";

export interface UnsubscribeDeps {
  readonly env?: ConfigSource;
  readonly directory?: Pick<RecipientDirectory, "get" | "put">;
}

export function createUnsubscribeHandler(deps: UnsubscribeDeps = {}): (request: Pick<HttpRequest, "method" | "url">) => Promise<HttpResponseInit> {
  const env = deps.env ?? process.env;
  let directory = deps.directory;
  return async (request) => {
    try {
      const secret = requiredEnv(env, AZURE_ENV.unsubscribeSecret);
      directory ??= new TableDirectory(tableFromEnv(env, AZURE_ENV.recipientsTable));
      const url = new URL(request.url);
      const answer = await answerUnsubscribe({ method: request.method.toUpperCase(), path: url.pathname, query: url.searchParams }, secret, directory);
      return { status: answer.status, headers: { "content-type": answer.contentType, "cache-control": "no-store" }, body: answer.body };
    } catch (error) {
      console.error(JSON.stringify({ level: "error", message: "unsubscribe failed", error: (error as Error)?.message ?? String(error) }));
      return { status: 503, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: JSON.stringify({ error: "unavailable", message: "try again later" }) };
    }
  };
}

export const handler = createUnsubscribeHandler();

// host.json sets an empty route prefix, so the link's path is the function's own.
app.http("unsubscribe", { methods: ["GET", "POST"], authLevel: "anonymous", route: "unsubscribe", handler });
