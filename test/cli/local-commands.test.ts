import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import { itConformsAsCliTarget } from "../runtime/conformance/cli-target";
import { shippedExamples, startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";

/** `herald <args> --url <runtime>` in process, with what it printed. */
async function herald(runtime: TestRuntime, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, "--url", runtime.url], { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("herald commands against a running local runtime", () => {
  let runtime: TestRuntime;
  let dir: string;
  const file = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
    return path;
  };
  const testEvent = () => shippedExamples().find((e) => e.type === "herald.test_notification")!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "herald-cli-"));
    // One attempt per SMS, so a failing provider dead-letters at once.
    runtime = await startTestRuntime({ HERALD_CHANNEL_SMS_MAX_ATTEMPTS: "1" });
  });
  afterAll(async () => {
    await runtime?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("publish sends a shipped example; inbox and status show what happened", async () => {
    const example = testEvent();
    const published = await herald(runtime, "publish", join("schemas/events", example.type, "examples", example.file));
    expect(published).toMatchObject({ code: 0, out: "accepted 1 event" });
    await waitFor(async () => (await runtime.get("/v1/deliveries")).deliveries.length >= 2, 15_000, "two deliveries");
    const inbox = await herald(runtime, "inbox", "--json");
    expect(inbox.code).toBe(0);
    expect((JSON.parse(inbox.out) as Array<{ channel: string }>).map((d) => d.channel).sort()).toEqual(["email", "sms"]);
    const status = await herald(runtime, "status", "--json");
    expect(JSON.parse(status.out).ingest.accepted).toBeGreaterThanOrEqual(1);
    expect((await herald(runtime, "status")).out).toMatch(/^events: \d+ accepted/);
  });

  it("publish refuses an invalid event with the reason and exit code 1, and sends nothing", async () => {
    const before = (await runtime.get("/v1/status")).ingest.accepted ?? 0;
    const bad = { ...testEvent().event, id: "cli-bad", data: { message: "no contacts" } };
    const result = await herald(runtime, "publish", file("bad.json", bad));
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/rejected: .*contacts/);
    expect((await runtime.get("/v1/status")).ingest.accepted ?? 0).toBe(before);
  });

  it("recipients put, get and list", async () => {
    const recipient = { id: "cus_cli", contacts: { email: "cli@example.com" }, locale: "en" };
    expect(await herald(runtime, "recipients", "put", file("recipient.json", recipient))).toMatchObject({ code: 0, out: "stored cus_cli" });
    expect(JSON.parse((await herald(runtime, "recipients", "get", "cus_cli")).out)).toMatchObject(recipient);
    expect((await herald(runtime, "recipients", "list")).out).toMatch(/^cus_cli {2}email$/m);
  });

  let conformanceFiles = 0;
  itConformsAsCliTarget(
    "local",
    () => {
      let published: Array<{ source: string; id: string }> = [];
      const smsDelivered = async () => (await runtime.get("/v1/deliveries?channel=sms&limit=1000")).deliveries.length as number;
      let deliveredBefore = 0;
      return {
        publish: async (path) => {
          published = JSON.parse(readFileSync(path, "utf8")) as Array<{ source: string; id: string }>;
          return herald(runtime, "publish", path, "--json");
        },
        // The local entry is the ingest: an event reached it once rules have recorded its outcomes.
        publishedIds: async () => {
          await waitFor(async () => (await Promise.all(published.map(async (e) => (await runtime.get(`/v1/outcomes?source=${encodeURIComponent(e.source)}&id=${encodeURIComponent(e.id)}`)).outcomes.length > 0))).every(Boolean), 15_000, "outcomes of every published event");
          return published.map((e) => e.id);
        },
        seedDeadLetters: async (count) => {
          // One attempt per SMS (see beforeAll): a provider failure dead-letters at once, as in production.
          await runtime.runtime.sinks.twilio!.failNext(20500, 500, count);
          const before = (await runtime.get("/v1/dlq?queue=sms")).deadLetters.length as number;
          const events = Array.from({ length: count }, (_, i) => ({ ...testEvent().event, id: `conformance-dlq-${Date.now()}-${i}`, data: { contacts: { phone: "+14155550123" }, message: `dlq ${i}` } }));
          expect((await herald(runtime, "publish", file(`conformance-${++conformanceFiles}.json`, events))).code).toBe(0);
          await waitFor(async () => (await runtime.get("/v1/dlq?queue=sms")).deadLetters.length === before + count, 15_000, "dead letters");
          deliveredBefore = await smsDelivered();
          return ((await runtime.get("/v1/dlq?queue=sms")).deadLetters as Array<{ id: number }>).slice(before).map((d) => String(d.id));
        },
        dlq: (...args) => herald(runtime, "dlq", ...args, "--channel", "sms"),
        redriven: async (count) => {
          await waitFor(async () => (await smsDelivered()) >= deliveredBefore + count, 15_000, "redriven sms delivered");
          const now = await smsDelivered();
          const came = now - deliveredBefore;
          deliveredBefore = now;
          return came;
        },
      };
    },
    (events) => file(`conformance-${++conformanceFiles}.json`, events),
  );

  it("dlq list, show and redrive: dead letters go back and are delivered", async () => {
    await runtime.runtime.sinks.twilio!.failNext(20500, 500, 3);
    const base = testEvent().event;
    const events = Array.from({ length: 3 }, (_, i) => ({ ...base, id: `cli-dlq-${i}`, data: { contacts: { phone: "+14155550123" }, message: `dlq ${i}` } }));
    expect((await herald(runtime, "publish", file("batch.json", events))).code).toBe(0);
    await waitFor(async () => (await runtime.get("/v1/dlq?queue=sms")).deadLetters.length === 3, 15_000, "three dead letters");

    const list = await herald(runtime, "dlq", "list", "--channel", "sms", "--json");
    const dead = JSON.parse(list.out) as Array<{ id: number; queue: string; attempts: number; lastError: string }>;
    expect(dead).toHaveLength(3);
    expect(dead.every((d) => d.queue === "sms" && d.attempts === 1)).toBe(true);
    const shown = JSON.parse((await herald(runtime, "dlq", "show", String(dead[0]!.id))).out);
    expect(shown).toMatchObject({ id: dead[0]!.id, queue: "sms" });

    const smsBefore = (await runtime.get("/v1/deliveries?channel=sms&limit=1000")).deliveries.length;
    expect(await herald(runtime, "dlq", "redrive", "--channel", "sms")).toMatchObject({ code: 0, out: "redrove 3 messages" });
    await waitFor(async () => (await runtime.get("/v1/deliveries?channel=sms&limit=1000")).deliveries.length === smsBefore + 3, 15_000, "redriven sms");
    expect((await herald(runtime, "dlq", "list")).out).toBe("no dead letters");
  });
});
