/**
 * A `TokenCredential` for the function app's user-assigned managed identity, through the
 * App Service identity endpoint the Functions host exposes to the worker
 * (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01).
 *
 * Why not @azure/identity: its DefaultAzureCredential chain (and its MSAL dependency)
 * would add hundreds of kilobytes and most of a cold start to every bundle, for the one
 * protocol a function app ever uses. Tokens are cached per resource until five minutes
 * before they expire, as the SDK would.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ConfigError, TransientError } from "../../core/errors";
import type { ConfigSource } from "../../core/ports";

const API_VERSION = "2019-08-01";
const REFRESH_MARGIN_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 10_000;

export class ManagedIdentityCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>();

  constructor(
    private readonly env: ConfigSource,
    /** The user-assigned identity's client id; the app may hold several identities. */
    private readonly clientId: string,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    // One resource per request: a scope is `<resource>/.default`.
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    if (!scope) throw new ConfigError("config-invalid", "a token was asked for no scope");
    const resource = scope.replace(/\/\.default$/, "");
    const cached = this.cache.get(resource);
    if (cached && cached.expiresOnTimestamp - REFRESH_MARGIN_MS > this.now()) return cached;
    const endpoint = this.env.IDENTITY_ENDPOINT;
    const header = this.env.IDENTITY_HEADER;
    if (!endpoint || !header) {
      throw new ConfigError("config-missing", "IDENTITY_ENDPOINT and IDENTITY_HEADER are not set: the function app has no managed identity enabled");
    }
    const url = new URL(endpoint);
    url.searchParams.set("resource", resource);
    url.searchParams.set("api-version", API_VERSION);
    url.searchParams.set("client_id", this.clientId);
    let response: Response;
    try {
      response = await this.fetchImpl(url, { headers: { "X-IDENTITY-HEADER": header }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      throw new TransientError("identity-unavailable", `the managed identity endpoint did not answer: ${(error as Error).message}`);
    }
    if (!response.ok) {
      // The body may echo request details; the status is enough to act on, and never a secret.
      const message = `the managed identity endpoint answered ${response.status} for ${resource}`;
      if (response.status >= 500 || response.status === 429) throw new TransientError("identity-unavailable", message);
      throw new ConfigError("config-invalid", `${message}: check that the identity ${this.clientId} is assigned to the app`);
    }
    const body = (await response.json()) as { access_token?: unknown; expires_on?: unknown };
    const expiresOn = Number(body.expires_on);
    if (typeof body.access_token !== "string" || !Number.isFinite(expiresOn)) {
      throw new TransientError("identity-unavailable", "the managed identity endpoint answered without a token");
    }
    const token: AccessToken = { token: body.access_token, expiresOnTimestamp: expiresOn * 1000 };
    this.cache.set(resource, token);
    return token;
  }
}
