/**
 * The unsubscribe link's endpoint on GCP: a public Cloud Function (the link's HMAC is the
 * protection, see infra/gcp). GET shows a confirmation form; POST records the opt-out in
 * Firestore. The signing key arrives as a secret environment variable.
 */
import { Firestore } from "@google-cloud/firestore";
import type { ConfigSource } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import { answerUnsubscribe } from "../../core/unsubscribe";
import { firestoreSettings, GCP_ENV, requiredEnv } from "./env";
import { FirestoreDirectory } from "./firestore-directory";
import type { HttpFunction } from "./http";

export interface UnsubscribeHttpDeps {
  readonly env?: ConfigSource;
  readonly directory?: Pick<RecipientDirectory, "get" | "put">;
}

export function createUnsubscribeHttpHandler(deps: UnsubscribeHttpDeps = {}): HttpFunction {
  const env = deps.env ?? process.env;
  let directory = deps.directory;
  return async (req, res) => {
    try {
      const secret = requiredEnv(env, GCP_ENV.unsubscribeSecret);
      directory ??= new FirestoreDirectory(new Firestore(firestoreSettings(env)), requiredEnv(env, GCP_ENV.recipientsCollection));
      const url = new URL(req.originalUrl ?? req.url ?? "/", "http://function.invalid");
      const answer = await answerUnsubscribe({ method: req.method.toUpperCase(), path: url.pathname, query: url.searchParams }, secret, directory);
      res.status(answer.status).set("content-type", answer.contentType).set("cache-control", "no-store").send(answer.body);
    } catch (error) {
      console.error(JSON.stringify({ severity: "ERROR", message: "unsubscribe failed", error: (error as Error)?.message ?? String(error) }));
      res.status(503).set("content-type", "application/json").send(JSON.stringify({ error: "unavailable", message: "try again later" }));
    }
  };
}

/** The Cloud Functions entry point. */
export const handler = createUnsubscribeHttpHandler();
