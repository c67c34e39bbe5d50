import { afterEach, describe, expect, it } from "vitest";
import { MAX_EVENT_BYTES } from "../../../handlers/core/envelope";
import { shippedExamples, startTestRuntime, waitFor, type TestRuntime } from "../../support/local-runtime";
import { expectExampleDeliveries } from "../conformance/shipped-examples";

let herald: TestRuntime | undefined;
afterEach(async () => {
  await herald?.stop();
  herald = undefined;
});

const ada = { name: "Ada", contacts: { email: "ada@example.com", phone: "+14155550123" }, locale: "en", timeZone: "Europe/Lisbon" };
const grace = { name: "Grace", contacts: { email: "grace@example.com" }, locale: "de-AT", timeZone: "Europe/Vienna" };

async function inbox(channel?: string): Promise<any[]> {
  return (await herald!.get(`/v1/deliveries?limit=1000${channel ? `&channel=${channel}` : ""}`)).deliveries;
}

describe("local runtime, end to end over HTTP to the sinks", () => {
  it("delivers every shipped example over SMTP, Web Push and the Twilio API", async () => {
    herald = await startTestRuntime();
    expect((await herald.put("/v1/recipients/cus_ada", ada)).status).toBe(200);
    expect((await herald.put("/v1/recipients/cus_grace", grace)).status).toBe(200);
    expect((await herald.post("/v1/recipients/cus_ada/push-subscriptions/local", {})).status).toBe(201);

    const examples = shippedExamples();
    const response = await herald.post("/v1/events", examples.map((e) => e.event), "application/cloudevents-batch+json");
    expect(response.status).toBe(202);
    expect(response.body.accepted).toHaveLength(examples.length);

    // order v1 (ada: 3), order v2 (grace: email), payment (ada: email+sms), welcome (email),
    // login alert (ada: 3), test notification (email+sms) = 6 email, 2 push, 4 sms.
    const all = await waitFor(async () => {
      const items = await inbox();
      return items.length >= 12 && items;
    }, 20_000, "12 deliveries");
    // The same deliveries every target gives (see test/runtime/conformance/shipped-examples.ts).
    expectExampleDeliveries(all, `${herald.url}/v1/unsubscribe`);
    const orderMail = all.find((d: any) => d.channel === "email" && d.content.subject === "Your order ORD-10293 is on its way");
    expect(orderMail.content.headers["list-unsubscribe-post"]).toBe("List-Unsubscribe=One-Click");
    const loginPush = all.find((d: any) => d.channel === "push" && d.content.payload.title === "New sign-in to your account");
    expect(loginPush.content.urgency).toBe("high");

    // Outcomes are settled a commit after the sinks recorded the deliveries.
    const status = await waitFor(async () => {
      const current = await herald!.get("/v1/status");
      return current.stages.email.outcomes.sent === 6 && current;
    }, 5_000, "six sent e-mail outcomes");
    expect(status.ingest).toMatchObject({ accepted: examples.length, rejected: 0 });
    const outcomes = await herald.get(`/v1/outcomes?source=${encodeURIComponent("/shop/fulfilment")}&id=2f6c1a8e-7d4b-4c1e-9a53-0c1f2d3e4a01`);
    expect(outcomes.outcomes.map((o: any) => `${o.channel}:${o.status}`).sort()).toEqual(
      ["email:accepted", "email:sent", "push:accepted", "push:sent", "sms:accepted", "sms:sent"],
    );
  });

  it("acknowledges a duplicate publish without delivering it twice", async () => {
    herald = await startTestRuntime();
    const event = shippedExamples().find((e) => e.type === "herald.test_notification")!.event;
    expect((await herald.post("/v1/events", event)).body).toEqual({ accepted: [{ source: event.source, id: event.id }], duplicates: [] });
    await waitFor(async () => (await inbox()).length >= 2, 10_000, "first delivery");
    const again = await herald.post("/v1/events", [event, event], "application/cloudevents-batch+json");
    expect(again.status).toBe(202);
    expect(again.body.duplicates).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await inbox()).toHaveLength(2);
    expect((await herald.get("/v1/status")).ingest).toMatchObject({ accepted: 1, duplicate: 2 });
  });

  it("retries a flaky provider until it delivers", async () => {
    herald = await startTestRuntime();
    await herald.runtime.sinks.smtp!.failNext(451, 2);
    await herald.runtime.sinks.twilio!.failNext(20429, 429, 2);
    await herald.post("/v1/events", shippedExamples().find((e) => e.type === "herald.test_notification")!.event);
    const delivered = await waitFor(async () => {
      const items = await inbox();
      return items.length >= 2 && items;
    }, 15_000, "deliveries after retries");
    expect(delivered.map((d: any) => d.channel).sort()).toEqual(["email", "sms"]);
    // The sink's inbox record and the queue's settlement are separate commits: the
    // outcome can trail the delivery by a turn of the event loop.
    const status = await waitFor(async () => {
      const current = await herald!.get("/v1/status");
      return current.stages.email.outcomes.sent === 1 && current.stages.sms.outcomes.sent === 1 && current;
    }, 5_000, "sent outcomes");
    expect(status.stages.email).toMatchObject({ deadLettered: 0, outcomes: { sent: 1 } });
    expect(status.stages.sms).toMatchObject({ deadLettered: 0, outcomes: { sent: 1 } });
  });

  it("dead-letters after maxAttempts with the last error, and redrive delivers it", async () => {
    herald = await startTestRuntime({ HERALD_CHANNEL_SMS_MAX_ATTEMPTS: "3" });
    await herald.runtime.sinks.twilio!.failNext(20500, 500, 3);
    await herald.post("/v1/events", shippedExamples().find((e) => e.type === "herald.test_notification")!.event);
    const dead = await waitFor(async () => {
      const list = (await herald!.get("/v1/dlq?queue=sms")).deadLetters;
      return list.length === 1 && list[0];
    }, 15_000, "a dead letter");
    expect(dead).toMatchObject({ queue: "sms", attempts: 3 });
    expect(dead.lastError).toMatch(/^twilio-http-500|20500|5\d\d/);
    expect((await herald.get("/v1/status")).stages.sms.outcomes["dead-lettered"]).toBe(1);
    expect(await inbox("sms")).toHaveLength(0);

    expect((await herald.post("/v1/dlq/redrive", { queue: "sms" })).body).toEqual({ redriven: 1 });
    await waitFor(async () => (await inbox("sms")).length === 1, 10_000, "redriven delivery");
    expect((await herald.get("/v1/dlq?queue=sms")).deadLetters).toHaveLength(0);
  });

  it("never has more deliveries in flight per channel than its cap", async () => {
    herald = await startTestRuntime({ HERALD_CHANNEL_SMS_CONCURRENCY: "3" });
    await herald.runtime.sinks.twilio!.setLatency(40);
    const base = shippedExamples().find((e) => e.type === "herald.test_notification")!.event;
    const events = Array.from({ length: 30 }, (_, i) => ({ ...base, id: `cap-${i}`, data: { contacts: { phone: "+14155550123" }, message: `cap test ${i}` } }));
    expect((await herald.post("/v1/events", events, "application/cloudevents-batch+json")).status).toBe(202);
    await waitFor(async () => (await inbox("sms")).length === 30, 20_000, "30 sms");
    // Measured on both sides: the worker's own count and what the provider saw at once.
    expect(herald.runtime.workers.get("sms")!.peakInFlight).toBe(3);
    const peak = await herald.runtime.sinks.twilio!.peakConcurrent();
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
  });
});

describe("local runtime, bad input over HTTP", () => {
  it("answers 4xx with reasons and loses nothing else", async () => {
    herald = await startTestRuntime();
    const good = shippedExamples().find((e) => e.type === "herald.test_notification")!.event;
    const cases: Array<[string, unknown, string | undefined, number, string]> = [
      ["malformed JSON", '{"specversion":', "application/json", 400, "malformed-json"],
      ["wrong content type", JSON.stringify(good), "text/plain", 415, "unsupported-media-type"],
      ["oversize", JSON.stringify({ ...good, data: { ...good.data, message: "x".repeat(MAX_EVENT_BYTES) } }), "application/json", 413, "too-large"],
      ["unknown type", { ...good, type: "order.lost", dataschema: "https://herald.dev/schemas/events/order.lost/v1.schema.json" }, undefined, 400, "unknown-type"],
      ["unknown version", { ...good, dataschema: good.dataschema.replace("v1", "v4") }, undefined, 400, "unknown-version"],
      ["missing fields", { specversion: "1.0", type: good.type }, undefined, 400, "invalid-envelope"],
      ["bad data", { ...good, data: { message: "" } }, undefined, 400, "invalid-data"],
    ];
    for (const [what, body, contentType, status, error] of cases) {
      const response = await herald.post("/v1/events", body, contentType);
      expect(response.status, what).toBe(status);
      expect(response.body.error, what).toBe(error);
      expect(response.body.message.length, what).toBeGreaterThan(10);
    }
    const invalid = await herald.post("/v1/events", [good, { ...good, id: "second", data: {} }], "application/cloudevents-batch+json");
    expect(invalid.status).toBe(400);
    expect(invalid.body.rejected).toEqual([expect.objectContaining({ index: 1, id: "second", error: "invalid-data" })]);

    // Nothing above was stored; the valid event still goes through afterwards.
    expect((await herald.get("/v1/status")).ingest.accepted).toBe(0);
    expect((await herald.post("/v1/events", good)).status).toBe(202);
    await waitFor(async () => (await inbox()).length === 2, 10_000, "the valid event's deliveries");
  });

  it("refuses an invalid recipient with the field named", async () => {
    herald = await startTestRuntime();
    const response = await herald.put("/v1/recipients/bob", { contacts: { email: "not-an-address", phone: "0155" }, timeZone: "Mars/Olympus" });
    expect(response.status).toBe(400);
    expect(response.body.issues.map((i: any) => i.pointer)).toEqual(expect.arrayContaining(["/contacts/email", "/contacts/phone"]));
    expect((await herald.put("/v1/recipients/bob", { contacts: {}, timeZone: "Mars/Olympus" })).body.message).toMatch(/timeZone/);
    expect((await herald.post("/v1/recipients/nobody/push-subscriptions/local", {})).status).toBe(404);
  });
});

describe("local runtime, one-click unsubscribe", () => {
  it("opts out on POST only (a GET, as a mail scanner's prefetch, changes nothing) and refuses a forged link", async () => {
    herald = await startTestRuntime();
    await herald.put("/v1/recipients/cus_ada", ada);
    await herald.post("/v1/events", shippedExamples().find((e) => e.file === "v1-standard.json")!.event);
    const mail = await waitFor(async () => (await inbox("email"))[0], 10_000, "the order e-mail");
    const link = /<(http[^>]+)>/.exec(mail.content.headers["list-unsubscribe"])![1]!;
    const path = link.slice(herald.url.length);

    const page = await fetch(link);
    expect(await page.text()).toContain("Stop receiving orders messages by email?");
    expect((await herald.get("/v1/recipients/cus_ada")).optOuts).toBeUndefined();

    expect((await herald.post(path.replace("r=cus_ada", "r=cus_grace"), "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")).status).toBe(400);
    const done = await herald.post(path, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    expect(done.status).toBe(200);
    expect((await herald.get("/v1/recipients/cus_ada")).optOuts).toEqual([{ category: "orders", channel: "email" }]);
  });
});
