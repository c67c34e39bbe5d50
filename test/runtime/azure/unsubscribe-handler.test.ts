import { describe, expect, it } from "vitest";
import { InMemoryDirectory } from "../../../handlers/core/in-memory-directory";
import { unsubscribeUrl } from "../../../handlers/core/unsubscribe";
import { createUnsubscribeHandler } from "../../../handlers/runtime/azure/unsubscribe-handler";

const SECRET = "unsubscribe-signing-key";
const BASE = "https://herald-unsubscribe.azurewebsites.net/unsubscribe";

describe("unsubscribe endpoint (Azure HTTP function)", () => {
  const directory = new InMemoryDirectory([{ id: "cus_ada", contacts: { email: "ada@example.com" } }]);
  const handler = createUnsubscribeHandler({ env: { HERALD_UNSUBSCRIBE_SECRET: SECRET }, directory });
  const link = unsubscribeUrl({ baseUrl: BASE, secret: SECRET }, "cus_ada", "orders", "email");

  it("confirms on GET without changing anything, records the opt-out on POST", async () => {
    const get = await handler({ method: "GET", url: link });
    expect(get.status).toBe(200);
    expect(String(get.body)).toContain("orders messages by email");
    expect((get.headers as Record<string, string>)["cache-control"]).toBe("no-store");
    expect((await directory.get("cus_ada"))!.optOuts).toBeUndefined();
    const post = await handler({ method: "POST", url: link });
    expect(post.status).toBe(200);
    expect((await directory.get("cus_ada"))!.optOuts).toEqual([{ category: "orders", channel: "email" }]);
  });

  it("refuses an edited link, and answers 503 without its signing key", async () => {
    expect((await handler({ method: "POST", url: link.replace("cus_ada", "cus_bob") })).status).toBe(400);
    expect((await createUnsubscribeHandler({ env: {}, directory })({ method: "GET", url: link })).status).toBe(503);
  });
});
