/**
 * Threat: a publisher (or anyone who can reach the ingest) sends a body that is huge or
 * nested deeply enough to exhaust memory or the stack. The real HTTP ingest of the local
 * runtime must answer with a typed 4xx, keep serving, and not buffer what it refuses.
 */
import * as http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_EVENT_BYTES, MAX_EVENT_DEPTH, parseEvent } from "../../handlers/core/envelope";
import { ValidationError } from "../../handlers/core/errors";
import { MAX_BODY_BYTES } from "../../handlers/runtime/local/http-server";
import { shippedExamples, startTestRuntime, type TestRuntime } from "../support/local-runtime";

const FIFTY_MB = 50 * 1024 * 1024;
const DEEP = 100_000;

interface StreamedPost {
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
  /** Bytes the client had handed to the socket when the answer (or the error) came. */
  readonly written: number;
}

/**
 * POSTs `total` bytes of filler, generated 64 KiB at a time so the client never holds the
 * body, with or without a Content-Length. Stops writing as soon as the server answers.
 */
function streamPost(base: string, total: number, declareLength: boolean): Promise<StreamedPost> {
  return new Promise((resolve) => {
    const url = new URL(`${base}/v1/events`);
    const request = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", ...(declareLength ? { "content-length": String(total) } : {}) },
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let written = 0;
    let done = false;
    const finish = (result: StreamedPost): void => {
      if (done) return;
      done = true;
      request.destroy();
      resolve(result);
    };
    request.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (text: string) => (body += text));
      response.on("end", () => finish({ status: response.statusCode!, body, written }));
    });
    request.on("error", (error) => finish({ error: error.message, written }));
    const pump = (): void => {
      while (!done && written < total) {
        written += chunk.length;
        if (!request.write(chunk)) {
          request.once("drain", pump);
          return;
        }
      }
      if (!done) request.end();
    };
    pump();
  });
}

/** A valid test_notification envelope with `data` replaced by `data`, serialised. */
function envelopeWithData(data: string): string {
  const event = shippedExamples().find((e) => e.type === "herald.test_notification")!.event;
  return JSON.stringify({ ...event, id: `deep-${Math.random()}`, data: "__DATA__" }).replace('"__DATA__"', data);
}

describe("oversize and deeply nested payloads at the HTTP ingest", () => {
  let runtime: TestRuntime;

  beforeAll(async () => {
    runtime = await startTestRuntime();
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  async function stillServing(): Promise<void> {
    const health = await fetch(`${runtime.url}/v1/health`);
    expect(health.status).toBe(200);
    // And still ingests: a normal event goes through after the attack.
    const event = shippedExamples().find((e) => e.type === "herald.test_notification")!.event;
    const accepted = await runtime.post("/v1/events", { ...event, id: `after-${Math.random()}` });
    expect(accepted.status).toBe(202);
  }

  it.each([
    ["with a Content-Length", true],
    ["chunked, with no length", false],
  ])("a 50 MB body %s: 413 too-large, nothing buffered, still serving", async (_label, declareLength) => {
    const before = runtime.runtime.eventLog.counters();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const result = await streamPost(runtime.url, FIFTY_MB, declareLength);
    const rssGrowth = process.memoryUsage().rss - rssBefore;

    expect(result.error).toBeUndefined();
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body!)).toMatchObject({ error: "too-large", message: expect.stringContaining(String(MAX_BODY_BYTES)) });
    // The answer came while the client was still sending: the server did not wait for 50 MB.
    expect(result.written).toBeLessThan(FIFTY_MB / 2);
    // Server and client share this process: buffering the body would show as >= 50 MB here.
    expect(rssGrowth).toBeLessThan(32 * 1024 * 1024);
    // Refused before parsing: no event was counted as accepted.
    expect(runtime.runtime.eventLog.counters().accepted ?? 0).toBe(before.accepted ?? 0);
    await stillServing();
  });

  it("a single event over 256 KB: 413, even though the body fits the request limit", async () => {
    const big = envelopeWithData(JSON.stringify({ contacts: { email: "a@example.com" }, message: "x".repeat(MAX_EVENT_BYTES) }));
    const response = await runtime.post("/v1/events", big);
    expect(response.status).toBe(413);
    expect(response.body.error).toBe("too-large");
    await stillServing();
  });

  it.each([
    ["a 100,000-deep array as the body", "[".repeat(DEEP) + "]".repeat(DEEP)],
    ["a batch holding one 100,000-deep array", "[" + "[".repeat(DEEP) + "]".repeat(DEEP) + "]"],
    ["an envelope whose data nests 40,000 objects deep", envelopeWithData('{"a":'.repeat(40_000) + "1" + "}".repeat(40_000))],
    ["an extension attribute nesting 50,000 arrays", envelopeWithData('{"contacts":{"email":"a@example.com"},"message":"m"}').replace(/^\{/, '{"ext":' + "[".repeat(50_000) + "]".repeat(50_000) + ",")],
  ])("%s: 400 too-deep (typed), not a 500 from a stack overflow", async (_label, body) => {
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    const rejectedBefore = runtime.runtime.eventLog.counters().rejected ?? 0;
    const response = await runtime.post("/v1/events", body, "application/cloudevents-batch+json");
    expect(response.status).toBe(400);
    const rejection = response.body.rejected?.[0] ?? response.body;
    expect(rejection.error).toBe("too-deep");
    expect(rejection.message).toContain(String(MAX_EVENT_DEPTH));
    expect(runtime.runtime.eventLog.counters().rejected).toBeGreaterThan(rejectedBefore);
    await stillServing();
  });

  it("the other JSON routes answer a 100,000-deep body with a typed 400 too", async () => {
    const deep = "[".repeat(DEEP) + "]".repeat(DEEP);
    const put = await runtime.put("/v1/recipients/deep", `{"contacts":{"email":"a@example.com"},"extra":${deep}}`);
    expect(put).toMatchObject({ status: 400, body: { error: "invalid-recipient" } });
    expect((await runtime.put("/v1/recipients/deep", { contacts: { email: "a@example.com" } })).status).toBe(200);
    // The subscription route reads at most 16 KiB: as deep as fits.
    const subscription = await runtime.post("/v1/recipients/deep/push-subscriptions", "[".repeat(8000) + "]".repeat(8000));
    expect(subscription).toMatchObject({ status: 400, body: { error: "invalid-subscription" } });
    await stillServing();
  });

  it("the same depth limit holds where the cloud functions parse events (parseEvent)", () => {
    const deep = envelopeWithData('{"a":'.repeat(DEEP / 4) + "1" + "}".repeat(DEEP / 4));
    expect(() => parseEvent(deep, runtime.runtime.registry)).toThrow(ValidationError);
    expect(() => parseEvent(deep, runtime.runtime.registry)).toThrow(/more than 64 levels/);
    // Nesting that real events use is untouched.
    const shipped = shippedExamples();
    for (const { event } of shipped) expect(parseEvent(JSON.stringify(event), runtime.runtime.registry).event.id).toBe(event.id);
  });
});
