import { describe, expect, it } from "vitest";
import { httpFunction, type HttpResponse } from "../../../handlers/runtime/gcp/http";

function response() {
  const sent: { status?: number; headers: Record<string, string>; body?: string } = { headers: {} };
  const res: HttpResponse = {
    status(code) {
      sent.status = code;
      return res;
    },
    set(field, value) {
      sent.headers[field] = value;
      return res;
    },
    send(body) {
      sent.body = body;
      return res;
    },
  };
  return { res, sent };
}

describe("Cloud Functions HTTP adapter", () => {
  it("passes the parsed body and headers in and the status, headers and body out; builds the handler once", async () => {
    let builds = 0;
    const fn = httpFunction(() => {
      builds += 1;
      return async (request) => ({ status: 429, body: `seen ${JSON.stringify(request.body)}`, headers: { "Retry-After": "30" } });
    });
    for (let i = 0; i < 2; i++) {
      const { res, sent } = response();
      await fn({ method: "POST", body: { message: { messageId: "m" } }, headers: {} }, res);
      expect(sent).toEqual({ status: 429, headers: { "Retry-After": "30" }, body: 'seen {"message":{"messageId":"m"}}' });
    }
    expect(builds).toBe(1);
  });

  it("answers 500 (a nack) when the handler cannot be built or throws, and tries to build it again next time", async () => {
    let builds = 0;
    const fn = httpFunction(() => {
      builds += 1;
      throw new Error("HERALD_IDEMPOTENCY_COLLECTION is not set");
    });
    const { res, sent } = response();
    await fn({ method: "POST", body: {}, headers: {} }, res);
    expect(sent.status).toBe(500);
    await fn({ method: "POST", body: {}, headers: {} }, response().res);
    expect(builds).toBe(2);
  });
});
