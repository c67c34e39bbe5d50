/**
 * The managed identity credential against a local HTTP server speaking the App Service
 * identity protocol (the endpoint exists only inside a function app; this server plays
 * it: it checks the header and parameters the platform checks).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, TransientError } from "../../../handlers/core/errors";
import { ManagedIdentityCredential } from "../../../handlers/runtime/azure/managed-identity";

const HEADER = "identity-header-value";
let server: Server;
let endpoint: string;
const requests: URL[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://identity.local");
    requests.push(url);
    if (req.headers["x-identity-header"] !== HEADER) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("ManagedIdentityCredential", () => {
  it("asks the identity endpoint for the scope's resource as the given identity, and caches the token until near expiry", async () => {
    let now = 1_000_000_000_000;
    const expiresOn = Math.floor(now / 1000) + 3600;
    answer = { status: 200, body: { access_token: "token-1", expires_on: String(expiresOn), resource: "https://servicebus.azure.net", token_type: "Bearer" } };
    const credential = new ManagedIdentityCredential({ IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: HEADER }, "client-123", fetch, () => now);
    requests.length = 0;
    expect(await credential.getToken("https://servicebus.azure.net/.default")).toEqual({ token: "token-1", expiresOnTimestamp: expiresOn * 1000 });
    expect(requests).toHaveLength(1);
    expect(Object.fromEntries(requests[0]!.searchParams)).toEqual({ resource: "https://servicebus.azure.net", "api-version": "2019-08-01", client_id: "client-123" });
    await credential.getToken(["https://servicebus.azure.net/.default"]);
    expect(requests).toHaveLength(1);
    // Within five minutes of expiry, a new token is fetched.
    now += 56 * 60_000;
    answer = { status: 200, body: { access_token: "token-2", expires_on: String(expiresOn + 3600) } };
    expect((await credential.getToken("https://servicebus.azure.net/.default")).token).toBe("token-2");
    expect(requests).toHaveLength(2);
  });

  it("classifies failures: 5xx and no answer are transient, a refusal and missing settings are configuration", async () => {
    answer = { status: 500, body: {} };
    const credential = new ManagedIdentityCredential({ IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: HEADER }, "client-123");
    await expect(credential.getToken("https://storage.azure.com/.default")).rejects.toBeInstanceOf(TransientError);
    answer = { status: 400, body: { error: "identity not found" } };
    await expect(credential.getToken("https://storage.azure.com/.default")).rejects.toThrow(ConfigError);
    await expect(new ManagedIdentityCredential({ IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: "wrong" }, "c").getToken("https://storage.azure.com/.default")).rejects.toThrow(/answered 401/);
    await expect(new ManagedIdentityCredential({}, "c").getToken("https://storage.azure.com/.default")).rejects.toThrow(/no managed identity enabled/);
    await expect(new ManagedIdentityCredential({ IDENTITY_ENDPOINT: "http://127.0.0.1:9/", IDENTITY_HEADER: HEADER }, "c").getToken("https://storage.azure.com/.default")).rejects.toBeInstanceOf(TransientError);
  });
});
