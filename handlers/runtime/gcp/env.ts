import type { ConfigSource } from "../../core/ports";

/**
 * The environment contract between the GCP stack (infra/gcp, to come) and the Cloud
 * Functions shims in this folder: infra sets these variables on each function, the shims
 * read them. One place, so a rename cannot leave the two sides disagreeing.
 *
 * Secrets (SMTP password, Twilio token, VAPID private key) arrive as plain environment
 * variables through Cloud Functions' `secretEnvironmentVariables`, resolved from Secret
 * Manager by the platform at instance start: a channel's `readConfig` gets
 * `process.env` and there is no secret-reading code here, unlike on AWS.
 */
export const GCP_ENV = {
  /** The project every client works in; Cloud Functions sets it, locally the emulator tests do. */
  projectId: "GOOGLE_CLOUD_PROJECT",
  /** Optional: the Firestore database id, when the stack uses a named database rather than `(default)`. */
  firestoreDatabase: "HERALD_FIRESTORE_DATABASE",
  /**
   * Firestore collection of idempotency keys (`idempotency#<key>` documents) and
   * frequency-cap windows (`frequency#<scope>`); a TTL policy on the `expireAt` field
   * removes what is no longer needed.
   */
  idempotencyCollection: "HERALD_IDEMPOTENCY_COLLECTION",
  /**
   * Firestore collection of recipients. Suppressions and the push-endpoint index live in
   * the sibling collections `<name>-suppressions` and `<name>-push-endpoints`.
   */
  recipientsCollection: "HERALD_RECIPIENTS_COLLECTION",
  /** Rules function: the topic where events that fail validation are kept with the reason. */
  rulesDeadLetterTopic: "HERALD_RULES_DEAD_LETTER_TOPIC",
  /** Rules function: unsubscribe links (both optional; without them no link is signed). */
  unsubscribeBaseUrl: "HERALD_UNSUBSCRIBE_BASE_URL",
  /** A secret environment variable: the unsubscribe signing key itself. */
  unsubscribeSecret: "HERALD_UNSUBSCRIBE_SECRET",
  /**
   * Channel functions: the channel's secret settings as one JSON object (`{"TWILIO_AUTH_TOKEN": ...}`),
   * a secret environment variable resolved from Secret Manager; merged over the plain ones.
   */
  channelSecrets: "HERALD_CHANNEL_SECRETS",
  /** Channel functions, optional: the channel's send timeout in ms when the stack overrides the module's default. */
  channelTimeoutMs: "HERALD_CHANNEL_TIMEOUT_MS",
} as const;

/**
 * The Pub/Sub topic (name or full `projects/<p>/topics/<t>` path) of one channel, e.g.
 * `HERALD_TOPIC_EMAIL`: the rules function publishes to every channel's.
 */
export function channelTopicVariable(channel: string): string {
  return `HERALD_TOPIC_${channel.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export { positiveIntEnv, requiredEnv } from "../shared/env";

/** Settings for the clients a function builds itself: the project and, if named, the Firestore database. */
export function firestoreSettings(env: ConfigSource): { projectId?: string; databaseId?: string } {
  const projectId = env[GCP_ENV.projectId];
  const databaseId = env[GCP_ENV.firestoreDatabase];
  return { ...(projectId ? { projectId } : {}), ...(databaseId ? { databaseId } : {}) };
}
