/**
 * The console end to end in headless Chromium against a real local runtime: publish from
 * the page and watch the delivery arrive; refuse invalid, malformed and oversized input in
 * the page; fill a DLQ from a failing channel and empty it from the page; and check that
 * the page makes no request beyond the runtime and breaks no CSP rule.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createConsole } from "../../console/server/console";
import { startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { screenshot, sharedBrowser, watchPage } from "./browser";

const EXAMPLE = "herald.test_notification · v1-email-and-sms.json";

/** Retries an assertion on what the page shows: live updates land within a few hundred ms. */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 100 });

describe("herald console", { timeout: 30_000 }, () => {
  let herald: TestRuntime;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;
  const chromium = sharedBrowser();
  beforeEach(() => chromium.ready());

  beforeAll(async () => {
    let launched: Browser | undefined;
    [herald, launched] = await Promise.all([
      // Two SMS attempts, then the DLQ: the DLQ test fails the Twilio sink that often.
      startTestRuntime({ HERALD_CHANNEL_SMS_MAX_ATTEMPTS: "2" }, { extensions: (runtime) => [createConsole(runtime)] }),
      chromium.launch(),
    ]);
    if (!launched) return;
    browser = launched;
    page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    page.setDefaultTimeout(10_000);
    seen = watchPage(page, herald.url);
    // The AWS preview runs the Pulumi program in a child process (~10 s): started now, it is
    // ready by the time its test clicks the button (which then gets the cached graph).
    void fetch(`${herald.url}/api/console/preview?cloud=aws`).catch(() => undefined);
  });

  /** Shows one of the console's pages by its navigation link (loading the console first when a test runs alone). */
  async function open(title: string): Promise<void> {
    if (!page.url().startsWith(herald.url)) await page.goto(`${herald.url}/console/`);
    await page.click(`nav >> text="${title}"`);
  }

  afterAll(async () => {
    await browser?.close();
    await herald?.stop();
  });

  it("opens at / with a strict CSP, and shows the live topology", async () => {
    const response = await page.goto(`${herald.url}/`);
    expect(new URL(page.url()).pathname).toBe("/console/");
    const csp = response!.headers()["content-security-policy"]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)|https?:/);
    await eventually(() => page.locator(".live").textContent()).toContain("live");
    // The graph: ingest, the rules queue, each channel's queue with its cap, DLQs, sinks.
    for (const node of ["ingest", "rules", "q-email", "q-push", "q-sms", "dlq-sms", "sink-email"]) await page.locator(`[data-node="${node}"]`).waitFor();
    const smsCap = herald.runtime.config.channels.get("sms")!.concurrency;
    expect(await page.locator('[data-node="q-sms"]').textContent()).toContain(`cap ${smsCap}`);
    await screenshot(page, "topology");
  });

  it("publishes an example from the page and shows the delivery, the follow view and the e-mail in a sandboxed frame", async () => {
    await open("Events");
    await page.selectOption("#example", { label: EXAMPLE });
    const title = `console ${Date.now()}`;
    const event = JSON.parse(await page.inputValue("#event-text"));
    event.data.title = title;
    // A subscription on the embedded push service, so all three channels deliver.
    event.data.contacts.pushSubscription = await herald.runtime.pushSink.createSubscription();
    await page.fill("#event-text", JSON.stringify(event, null, 2));
    await page.click('button:has-text("Publish")');
    await eventually(() => page.locator("#verdict").textContent()).toContain(`accepted herald.test_notification ${event.id}`);

    // Followed without a reload: both messages reach "sent", pushed by the live stream.
    const sent = (channel: string) => page.locator(`#follow-messages tr[data-channel="${channel}"][data-state="sent"]`);
    await sent("email").waitFor({ timeout: 15_000 });
    await sent("sms").waitFor({ timeout: 15_000 });
    await sent("push").waitFor({ timeout: 15_000 });
    expect(await page.locator('#followed dd[data-fact="stage"]').textContent()).toBe("evaluated");
    expect(await page.locator("#followed").textContent()).toContain(event.id);
    await screenshot(page, "events-follow");

    await open("Deliveries");
    await page.click("#tab-email");
    await page.locator(`#inbox .summary:has-text("${title}")`).waitFor();
    const frame = page.locator("iframe.mail");
    expect(await frame.getAttribute("sandbox")).toBe("");
    await eventually(() => page.frameLocator("iframe.mail").locator("body").textContent()).toContain("If you can read this");
    await screenshot(page, "deliveries-email");

    await page.click("#tab-sms");
    await page.locator(`#inbox .summary`).first().waitFor();
    expect(await page.locator('dd[data-fact="segments"]').textContent()).toMatch(/^\d+ segments? \(GSM-7, \d+ characters\)$/);
    await screenshot(page, "deliveries-sms");

    await page.click("#tab-push");
    await eventually(() => page.locator("pre.payload").textContent()).toContain(title);
    expect(await page.locator('dd[data-fact="encrypted size"]').textContent()).toMatch(/^\d+ bytes \(aes128gcm\)$/);
    await screenshot(page, "deliveries-push");
  });

  it("refuses an invalid event in the page with the schema error, and sends nothing", async () => {
    await open("Events");
    await page.selectOption("#example", { label: EXAMPLE });
    const event = JSON.parse(await page.inputValue("#event-text"));
    delete event.data.message;
    event.data.title = "";
    await page.fill("#event-text", JSON.stringify(event));
    const posts = seen.posts.length;
    await page.click('button:has-text("Publish")');
    const verdict = page.locator("#verdict");
    await eventually(() => verdict.textContent()).toContain("Data does not match its schema: not sent.");
    expect(await verdict.locator("li", { hasText: "/data/message" }).textContent()).toContain("is required");
    expect(await verdict.locator("li", { hasText: "/data/title" }).textContent()).toMatch(/must NOT have fewer than 1 character/);
    expect(seen.posts.slice(posts)).toEqual([]);
    await screenshot(page, "events-invalid");
  });

  it("says what is wrong with malformed JSON and with a huge paste", async () => {
    await open("Events");
    await page.fill("#event-text", '{ "specversion": "1.0", "id": ');
    await page.click('button:has-text("Validate")');
    await eventually(() => page.locator("#verdict").textContent()).toMatch(/^Not valid JSON: not sent\. event is not valid JSON: .+/);
    await screenshot(page, "events-malformed");

    // Over the 256 KB event limit: in the editor, refused on publish.
    await page.fill("#event-text", `{"data": "${"x".repeat(300_000)}"}`);
    await page.click('button:has-text("Publish")');
    await eventually(() => page.locator("#verdict").textContent()).toBe("Too large: not sent. event is 300012 bytes; the limit is 262144 bytes (256 KB)");
    await screenshot(page, "events-too-large");
    // Megabytes pasted: refused as they are pasted, the editor keeps what it had.
    await page.fill("#event-text", "{}");
    // A paste as the browser delivers one (run in the page: this file is type-checked without the DOM library).
    await page.evaluate(`(() => {
      const data = new DataTransfer();
      data.setData("text/plain", "x".repeat(5000000));
      document.querySelector("#event-text").dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    })()`);
    await eventually(() => page.locator("#verdict").textContent()).toBe("Paste refused: not sent. the text is 4.8 MB; an event may be at most 256 KB (262144 bytes), so it was not pasted");
    expect(await page.inputValue("#event-text")).toBe("{}");
    await screenshot(page, "events-paste-refused");
    // And the server holds the same line for anything that skips the page.
    const direct = await fetch(`${herald.url}/api/console/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(direct.status).toBe(400);
    expect(((await direct.json()) as { error: string }).error).toBe("malformed-json");
  });

  it("fills a failing channel's DLQ, then redrives it from the page until it is empty", async () => {
    // Four failures: two events, two attempts each, then both SMS are dead letters.
    await herald.runtime.sinks.twilio!.failNext(20500, 500, 4);
    const events = [1, 2].map((n) => ({
      specversion: "1.0",
      id: `dlq-${Date.now()}-${n}`,
      source: "/console/test",
      type: "herald.test_notification",
      dataschema: "https://herald.dev/schemas/events/herald.test_notification/v1.schema.json",
      data: { contacts: { phone: "+14155550123" }, message: `dead letter ${n}` },
    }));
    expect((await herald.post("/v1/events", events, "application/cloudevents-batch+json")).status).toBe(202);
    await waitFor(async () => (await herald.get("/v1/status")).stages.sms.deadLettered === 2, 15_000, "two SMS dead letters");

    await open("DLQ");
    await page.click("#dlq-tab-sms");
    const rows = page.locator("#dlq-table tbody tr");
    await eventually(() => rows.count()).toBe(2);
    expect(await rows.first().textContent()).toMatch(/20500|500/);
    expect(await rows.first().locator("td").nth(2).textContent()).toBe("2");
    expect(await page.locator("#dlq-tab-sms .count").textContent()).toBe("2");
    await rows.first().locator('button:has-text("Inspect")').click();
    expect(await page.locator("pre.payload").textContent()).toContain("dead letter");
    await screenshot(page, "dlq-full");

    // Follow the first one from its row: each attempt, the outcome and its reason.
    await rows.first().locator("a").click();
    const followed = page.locator('#follow-messages tr[data-channel="sms"]');
    await eventually(() => followed.getAttribute("data-state")).toBe("dead-lettered");
    const history = await followed.locator(".history li").allTextContents();
    expect(history).toHaveLength(2);
    expect(history[0]).toMatch(/^#1 retry .*twilio-20500/);
    expect(history[1]).toMatch(/^#2 dead-lettered .*twilio-20500/);
    expect(await followed.textContent()).toMatch(/DLQ #\d+/);
    await screenshot(page, "events-follow-dead-letter");
    await open("DLQ");
    await page.click("#dlq-tab-sms");
    await eventually(() => rows.count()).toBe(2);

    const received = (await herald.get("/v1/status")).inbox.sms ?? 0;
    await page.click("#redrive-all");
    await eventually(() => page.locator("#redrive-progress").textContent()).toContain("redrove 2 of 2");
    // The live stream empties the table once the redriven messages are delivered.
    await page.locator("#dlq-empty").waitFor({ timeout: 15_000 });
    await waitFor(async () => ((await herald.get("/v1/status")).inbox.sms ?? 0) === received + 2, 15_000, "the redriven SMS delivered");
    expect((await herald.get("/v1/status")).stages.sms.deadLettered).toBe(0);
    await screenshot(page, "dlq-redriven");
  });

  it("shows schemas, versions, compatibility and which rules read which fields", async () => {
    await open("Schemas and rules");
    const orderShipped = page.locator("#type-order\\.shipped");
    await orderShipped.waitFor();
    const text = (await orderShipped.textContent())!;
    expect(text).toContain("BACKWARD_TRANSITIVE");
    expect(text).toMatch(/v1, v2/);
    expect(text).toContain("v1-standard.json");
    expect(text).toMatch(/data\.\w+/);
    await screenshot(page, "schemas");
    // Keys 1 to 5 switch pages when no field has focus.
    await page.locator("main").focus();
    await page.keyboard.press("4");
    await page.locator("h1", { hasText: "Dead letters" }).waitFor();
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe("DLQ");
  });

  it("draws a cloud stack's topology from herald preview, with each consumer's cap and DLQ", { timeout: 90_000 }, async () => {
    await open("Topology");
    await page.click('button:has-text("Preview AWS")');
    const graph = page.locator("#cloud-graph svg");
    await graph.waitFor({ timeout: 80_000 });
    for (const node of ["topic", "q_rules", "fn_rules", "dlq_rules", "q_sms", "fn_sms", "dlq_sms"]) await graph.locator(`[data-node="${node}"]`).waitFor();
    const labels = await graph.locator(".edge-label").allTextContents();
    // The same caps `herald preview` prints: the module defaults, as AWS can express them.
    expect(labels).toContain("batch, cap 5");
    expect(labels).toContain("maxReceiveCount");
    expect(await graph.locator('[data-node="topic"]').textContent()).toContain("SNS herald-events");
    await screenshot(page, "topology-aws");
  });

  it("made no request beyond the runtime and logged no error (CSP violations included)", () => {
    expect(seen.foreign).toEqual([]);
    // The malformed and invalid tests answer 400s on purpose; nothing else may fail.
    expect(seen.errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });
});
