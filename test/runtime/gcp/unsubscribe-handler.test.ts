import { describe, expect, it } from "vitest";
import { InMemoryDirectory } from "../../../handlers/core/in-memory-directory";
import { unsubscribeUrl } from "../../../handlers/core/unsubscribe";
import type { HttpResponse } from "../../../handlers/runtime/gcp/http";
import { createUnsubscribeHttpHandler } from "../../../handlers/runtime/gcp/unsubscribe-handler";

const SECRET = "unsubscribe-signing-key";

function response() {
  const sent: { status?: number; headers: Record<string, string>; body?: string } = { headers: {} };
  const res: HttpResponse = {
    status: (code) => ((sent.status = code), res),
    set: (field, value) => ((sent.headers[field] = value), res),
    send: (body) => ((sent.body = body), res),
  };
  return { res, sent };
}

describe("unsubscribe endpoint (Cloud Function)", () => {
  const directory = new InMemoryDirectory([{ id: "cus_ada", contacts: { email: "ada@example.com" } }]);
  const handler = createUnsubscribeHttpHandler({ env: { HERALD_UNSUBSCRIBE_SECRET: SECRET }, directory });
  const link = new URL(unsubscribeUrl({ baseUrl: "https://europe-west1-p.cloudfunctions.net/herald-unsubscribe", secret: SECRET }, "cus_ada", "orders", "email"));

  it("confirms on GET without changing anything, records the opt-out on POST", async () => {
    const get = response();
    await handler({ method: "GET", body: undefined, headers: {}, originalUrl: `/${link.search}` }, get.res);
    expect(get.sent.status).toBe(200);
    expect(get.sent.body).toContain("orders messages by email");
    expect((await directory.get("cus_ada"))!.optOuts).toBeUndefined();
    const post = response();
    await handler({ method: "POST", body: undefined, headers: {}, originalUrl: `/${link.search}` }, post.res);
    expect(post.sent.status).toBe(200);
    expect((await directory.get("cus_ada"))!.optOuts).toEqual([{ category: "orders", channel: "email" }]);
  });

  it("refuses an edited link, and answers 503 without its signing key", async () => {
    const forged = response();
    await handler({ method: "POST", body: undefined, headers: {}, originalUrl: `/${link.search.replace("cus_ada", "cus_bob")}` }, forged.res);
    expect(forged.sent.status).toBe(400);
    const unkeyed = response();
    await createUnsubscribeHttpHandler({ env: {}, directory })({ method: "GET", body: undefined, headers: {}, originalUrl: `/${link.search}` }, unkeyed.res);
    expect(unkeyed.sent.status).toBe(503);
  });
});
