/**
 * Secrets Manager for the Lambda shims. A secret is read once per container (the promise
 * is cached at module level, so concurrent first reads share one request) and kept for
 * the container's life: rotating a secret takes effect as containers are replaced, or at
 * once on the next deploy. A failed read is not cached, so the next invocation tries again.
 *
 * Secret values never reach a log line or an error message; keys may.
 */
import { ConfigError } from "../../core/errors";
import type { ConfigSource } from "../../core/ports";
import type { AwsApi } from "./aws-json-client";
import { AWS_ENV } from "./env";

const cache = new Map<string, Promise<string>>();

/** The secret's string value, fetched at most once per container while it succeeds. */
export function readSecretString(client: AwsApi, secretId: string): Promise<string> {
  let value = cache.get(secretId);
  if (!value) {
    value = client.call<{ SecretString?: string }>("GetSecretValue", { SecretId: secretId }).then((result) => {
      if (result.SecretString === undefined) throw new ConfigError("secret-not-string", `secret ${secretId} has no string value`);
      return result.SecretString;
    });
    cache.set(secretId, value);
    const cached = value;
    cached.catch(() => {
      if (cache.get(secretId) === cached) cache.delete(secretId);
    });
  }
  return value;
}

/**
 * A secret holding a JSON object of config keys (`{"TWILIO_AUTH_TOKEN": "...", ...}`).
 * Numbers and booleans are taken as their text; anything else fails naming the key.
 */
export async function readSecretConfig(client: AwsApi, secretId: string): Promise<Record<string, string>> {
  const raw = await readSecretString(client, secretId);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The parser's message would quote the secret; say only what is wrong.
    throw new ConfigError("secret-invalid", `secret ${secretId} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError("secret-invalid", `secret ${secretId} must be a JSON object of config keys`);
  }
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === "string") config[key] = value;
    else if (typeof value === "number" || typeof value === "boolean") config[key] = String(value);
    else throw new ConfigError("secret-invalid", `secret ${secretId}: ${key} must be a string`);
  }
  return config;
}

/**
 * What a channel's `readConfig` gets on Lambda: the function's environment with the
 * secret's keys merged over it (the secret wins, so a stale variable cannot shadow it).
 * Without `HERALD_SECRET_ARN` it is the environment alone.
 */
export async function channelConfigSource(client: AwsApi, env: ConfigSource = process.env): Promise<ConfigSource> {
  const secretArn = env[AWS_ENV.secretArn];
  if (!secretArn) return env;
  return { ...env, ...(await readSecretConfig(client, secretArn)) };
}

/** Forgets every cached secret (tests; a container never needs to). */
export function forgetCachedSecrets(): void {
  cache.clear();
}
