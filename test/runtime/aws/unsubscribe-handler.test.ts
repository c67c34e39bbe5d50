import { describe, expect, it } from "vitest";
import { InMemoryDirectory } from "../../../handlers/core/in-memory-directory";
import { unsubscribeUrl } from "../../../handlers/core/unsubscribe";
import { createUnsubscribeHandler, type FunctionUrlEvent } from "../../../handlers/runtime/aws/unsubscribe-handler";

const SECRET = "unsubscribe-signing-key";
const BASE = "https://abc.lambda-url.us-east-1.on.aws/";

function setup() {
  const directory = new InMemoryDirectory([{ id: "cus_ada", contacts: { email: "ada@example.com" }, optOuts: [{ category: "security", channel: "sms" }] }]);
  const handler = createUnsubscribeHandler({ env: {}, directory, secret: async () => SECRET });
  const link = new URL(unsubscribeUrl({ baseUrl: BASE, secret: SECRET }, "cus_ada", "marketing", "email"));
  const event = (method: string, query = link.search.slice(1)): FunctionUrlEvent => ({ rawPath: "/", rawQueryString: query, requestContext: { http: { method } } });
  return { directory, handler, link, event };
}

describe("unsubscribe endpoint (function URL)", () => {
  it("shows a confirmation form on GET and changes nothing (mail scanners prefetch links)", async () => {
    const { directory, handler, event } = setup();
    const answer = await handler(event("GET"));
    expect(answer.statusCode).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^text\/html/);
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(answer.body).toContain('<form method="post"');
    expect(answer.body).toContain("marketing messages by email");
    expect((await directory.get("cus_ada"))!.optOuts).toEqual([{ category: "security", channel: "sms" }]);
  });

  it("records the opt-out on POST (RFC 8058 one-click), keeping the others", async () => {
    const { directory, handler, event } = setup();
    const answer = await handler(event("POST"));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ unsubscribed: { recipientId: "cus_ada", category: "marketing", channel: "email" } });
    expect((await directory.get("cus_ada"))!.optOuts).toEqual([
      { category: "security", channel: "sms" },
      { category: "marketing", channel: "email" },
    ]);
  });

  it("refuses an edited link, and methods other than GET and POST", async () => {
    const { directory, handler, link, event } = setup();
    const forged = new URLSearchParams(link.search);
    forged.set("r", "cus_bob");
    expect((await handler(event("POST", forged.toString()))).statusCode).toBe(400);
    expect((await handler(event("PUT"))).statusCode).toBe(405);
    expect((await directory.get("cus_ada"))!.optOuts).toHaveLength(1);
  });

  it("answers 503 when the store fails, so the mail client can retry", async () => {
    const handler = createUnsubscribeHandler({
      env: {},
      directory: { get: async () => Promise.reject(new Error("throttled")), put: async () => undefined },
      secret: async () => SECRET,
    });
    const link = new URL(unsubscribeUrl({ baseUrl: BASE, secret: SECRET }, "cus_ada", "marketing", "email"));
    const answer = await handler({ rawQueryString: link.search.slice(1), requestContext: { http: { method: "POST" } } });
    expect(answer.statusCode).toBe(503);
  });
});
