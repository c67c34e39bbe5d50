/**
 * The Table Storage stores pass the same conformance suites as the in-memory, SQLite,
 * DynamoDB and Firestore ones, against Azurite: inserts that fail with 409, ETag-
 * conditioned takeovers and completions, contended frequency windows, partition-range
 * listing with paging. Plus what only this store has to get right: keys Table Storage
 * refuses (`/`, `#`, `?`, `\`, `%`) round-trip.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableDirectory } from "../../../handlers/runtime/azure/table-directory";
import { TableFrequencyLimiter, TableIdempotencyStore } from "../../../handlers/runtime/azure/table-idempotency";
import { escapeKey, unescapeKey } from "../../../handlers/runtime/azure/table-keys";
import { describeDirectoryConformance } from "../conformance/directory";
import { describeFrequencyLimiterConformance } from "../conformance/frequency-limiter";
import { describeIdempotencyConformance } from "../conformance/idempotency";
import { startAzurite, type Azurite } from "./azurite";

let azurite: Azurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

// A fresh table per test: the directory suite lists everything in it.
describeIdempotencyConformance("table storage", async () => ({ store: new TableIdempotencyStore(await azurite.createTable("idempotency")) }));
describeDirectoryConformance("table storage", async () => ({ store: new TableDirectory(await azurite.createTable("recipients")) }));
describeFrequencyLimiterConformance("table storage", async () => ({ store: new TableFrequencyLimiter(await azurite.createTable("idempotency")) }));

describe("Table Storage keys", () => {
  it("escapes the characters keys refuse, reversibly, keeping plain ids as they are", () => {
    expect(escapeKey("cus_ada")).toBe("cus_ada");
    const odd = "a/b\\c#d?e%f\u0001g";
    expect(escapeKey(odd)).not.toMatch(/[/\\#?\u0000-\u001f]/);
    expect(unescapeKey(escapeKey(odd))).toBe(odd);
  });

  it("stores recipients, suppressions and idempotency keys whose ids Table Storage would refuse", async () => {
    const directory = new TableDirectory(await azurite.createTable("recipients"));
    const odd = { id: "tenant/42#ada?%", contacts: { email: "ada@example.com", push: [{ endpoint: "https://push.example/x?y=1#z", expirationTime: null, keys: { p256dh: "p", auth: "a" } }] } };
    await directory.put(odd);
    expect(await directory.get(odd.id)).toEqual(odd);
    expect((await directory.list()).map((r) => r.id)).toEqual([odd.id]);
    await directory.suppress({ channel: "push", address: "https://push.example/x?y=1#z", reason: "subscription-gone", at: "t" });
    expect((await directory.suppression("push", "https://push.example/x?y=1#z"))?.reason).toBe("subscription-gone");
    await directory.removePushSubscription("https://push.example/x?y=1#z");
    expect((await directory.get(odd.id))?.contacts.push).toEqual([]);

    const store = new TableIdempotencyStore(await azurite.createTable("idempotency"));
    const claim = await store.claim("a/b#c?d\\e", 30_000, Date.now());
    expect(claim.state).toBe("claimed");
    expect((await store.claim("a/b#c?d\\e", 30_000, Date.now())).state).toBe("in-flight");
  });
});
