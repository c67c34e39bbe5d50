/**
 * `herald publish` and `herald dlq list|show|redrive` with `--target gcp`, in process,
 * against the gcloud Pub/Sub emulator (started once for the file). Each test works on
 * topics and subscriptions of its own, so no test sees another's messages.
 *
 * The emulator does not dead-letter by itself, so the tests put "dead letters" on the
 * dead-letter topic directly, with the attributes Pub/Sub (or the rules function) would
 * add, and the commands are pointed at its pull subscription as the stack outputs would.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PubSub, v1 } from "@google-cloud/pubsub";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { REJECTION_ATTRIBUTES } from "../../handlers/runtime/gcp/push-handler";
import { main } from "../../cli/main";
import { REJECTION_REASON_ATTRIBUTE } from "../../cli/gcp/pubsub-dlq";
import { itConformsAsCliTarget } from "../runtime/conformance/cli-target";
import { startPubSubEmulator, TEST_PROJECT, type GcpEmulator } from "../support/gcp-emulators";

const EXAMPLE = "schemas/events/herald.test_notification/examples/v1-email-and-sms.json";
const exampleEvent = () => JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;

/** A message as read back from a subscription. */
interface Pulled {
  id: string;
  data: string;
  attributes: Record<string, string>;
}

describe("herald publish and dlq with --target gcp, against the Pub/Sub emulator", () => {
  let emulator: GcpEmulator;
  let admin: PubSub;
  let subscriber: v1.SubscriberClient;
  let dir: string;
  let serial = 0;

  /** `herald <args>` in process, with what it printed. */
  async function herald(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }
  const gcp = (...args: string[]) => herald(...args, "--target", "gcp");

  const file = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const topicPath = (name: string) => `projects/${TEST_PROJECT}/topics/${name}`;
  const subscriptionPath = (name: string) => `projects/${TEST_PROJECT}/subscriptions/${name}`;

  /** A fresh topic with a pull subscription of the same name, as the stack makes each dead-letter topic. */
  async function topicWithSubscription(prefix: string): Promise<{ topic: string; subscription: string; name: string }> {
    const name = `${prefix}-${++serial}`;
    const [topic] = await admin.createTopic(name);
    await topic.createSubscription(name, { ackDeadlineSeconds: 60 });
    return { topic: topicPath(name), subscription: subscriptionPath(name), name };
  }

  /** A channel's topic and its dead-letter topic and subscription, each with a pull subscription to read them. */
  async function channel(): Promise<{ source: { topic: string; subscription: string }; dlq: { topic: string; subscription: string } }> {
    return { source: await topicWithSubscription("herald-sms"), dlq: await topicWithSubscription("herald-sms-dlq") };
  }

  /** Publishes straight to a topic (the test standing in for Pub/Sub's dead-lettering); resolves to the message ids. */
  async function put(topic: string, messages: Array<{ data: string; attributes?: Record<string, string> }>): Promise<string[]> {
    const handle = admin.topic(topic);
    const ids = await Promise.all(messages.map((m) => handle.publishMessage({ data: Buffer.from(m.data), attributes: m.attributes ?? {} })));
    await handle.flush();
    return ids;
  }

  /** Takes (acks) every message of a subscription. */
  async function drain(subscription: string): Promise<Pulled[]> {
    const all: Pulled[] = [];
    for (;;) {
      let received;
      try {
        const [response] = await subscriber.pull({ subscription, maxMessages: 100 }, { timeout: 1_000 });
        received = response.receivedMessages ?? [];
      } catch (error) {
        if ((error as { code?: number }).code === 4) return all; // DEADLINE_EXCEEDED: nothing more
        throw error;
      }
      if (received.length === 0) return all;
      await subscriber.acknowledge({ subscription, ackIds: received.map((r) => r.ackId!) });
      for (const r of received) all.push({ id: r.message!.messageId!, data: Buffer.from(r.message!.data!).toString("utf8"), attributes: { ...r.message!.attributes } });
    }
  }
  const datas = (messages: Pulled[]) => messages.map((m) => m.data).sort();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "herald-cli-gcp-"));
    emulator = await startPubSubEmulator();
    // For every client in this process, the CLI's included: the emulator, and no probe
    // of the GCE metadata server (see test/runtime/gcp/gcp-fixture.ts).
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
    process.env.METADATA_SERVER_DETECTION = "none";
    admin = new PubSub({ projectId: TEST_PROJECT });
    subscriber = new v1.SubscriberClient((await admin.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0]);
  });
  afterAll(async () => {
    await subscriber?.close();
    await admin?.close();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    // Nothing from the developer's shell may pick the project, topic or subscriptions.
    for (const name of ["HERALD_TOPIC", "HERALD_TOPIC_SMS", "HERALD_DLQ_SUBSCRIPTION_SMS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "PUBSUB_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS"]) vi.stubEnv(name, undefined);
    // No pulumi on PATH unless a test puts a fake one there.
    const emptyBin = join(dir, "empty-bin");
    mkdirSync(emptyBin, { recursive: true });
    vi.stubEnv("PATH", emptyBin);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("publishes a shipped example: the subscription gets the event as the data, with type and version attributes", async () => {
    const { topic, subscription } = await topicWithSubscription("herald-events");
    const result = await gcp("publish", EXAMPLE, "--topic", topic);
    expect(result).toEqual({ code: 0, out: "accepted 1 event", err: "" });

    const [message, ...rest] = await drain(subscription);
    expect(rest).toHaveLength(0);
    expect(JSON.parse(message!.data)).toEqual(exampleEvent());
    expect(message!.attributes).toEqual({ type: "herald.test_notification", version: "1" });
  });

  it("--json names each event with its Pub/Sub message id; a short topic name from HERALD_TOPIC with --project; version from the dataschema", async () => {
    const { name, subscription } = await topicWithSubscription("herald-events");
    vi.stubEnv("HERALD_TOPIC", name);
    const v2 = "schemas/events/order.shipped/examples/v2-with-estimate.json";
    const event = JSON.parse(readFileSync(v2, "utf8")) as { id: string; source: string };
    const result = await gcp("publish", v2, "--project", TEST_PROJECT, "--json");
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.out) as { accepted: Array<{ id: string; source: string; messageId: string }>; duplicates: unknown[] };
    expect(printed).toEqual({ accepted: [{ id: event.id, source: event.source, messageId: expect.stringMatching(/\S/) }], duplicates: [] });
    const [message] = await drain(subscription);
    expect(message!.id).toBe(printed.accepted[0]!.messageId);
    expect(message!.attributes).toEqual({ type: "order.shipped", version: "2" });
  });

  it("publishes a file of many events once each, in input order in --json", async () => {
    const { topic, subscription } = await topicWithSubscription("herald-events");
    const events = Array.from({ length: 120 }, (_, i) => ({ ...exampleEvent(), id: `cli-gcp-${i}` }));
    const result = await gcp("publish", file("many.json", events), "--topic", topic, "--json");
    expect(result.code).toBe(0);
    expect((JSON.parse(result.out) as { accepted: Array<{ id: string }> }).accepted.map((a) => a.id)).toEqual(events.map((e) => e.id));
    const got = (await drain(subscription)).map((m) => (JSON.parse(m.data) as { id: string }).id);
    expect(got.sort()).toEqual(events.map((e) => e.id).sort());
  });

  it("an invalid event is rejected as by the local target, exit 1, and nothing is published", async () => {
    const { topic, subscription } = await topicWithSubscription("herald-events");
    const path = file("bad.json", [exampleEvent(), { ...exampleEvent(), id: "cli-bad", data: { message: "no contacts" } }]);
    const result = await gcp("publish", path, "--topic", topic);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^herald publish: rejected: event 1: invalid-data: .*contacts/);
    expect(result.out).toBe("");
    // Same lines as --target local (which also validates before any request).
    expect((await herald("publish", path, "--url", "http://127.0.0.1:9")).err).toBe(result.err);
    expect(await drain(subscription)).toHaveLength(0);
  });

  it("without a topic anywhere, exit 2 and say how to give one", async () => {
    const result = await gcp("publish", EXAMPLE);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^herald: no Pub\/Sub topic to publish to: pass --topic <projects\/p\/topics\/t or name>, set HERALD_TOPIC, or .*pulumi stack output topicArn/);
    expect(result.err).toContain("no `pulumi` executable on PATH");
  });

  it("a topic that does not exist: exit 1 with Pub/Sub's NOT_FOUND, nothing counted as accepted", async () => {
    const result = await gcp("publish", EXAMPLE, "--topic", topicPath("herald-no-such-topic"));
    expect(result.code).toBe(1);
    expect(result.out).toBe("accepted 0 events");
    expect(result.err).toMatch(/^herald publish: not published: event 0 \(\S+\): NOT_FOUND: /);
  });

  it("reads the topic, subscription and source topic from `pulumi stack output --json` when pulumi is on PATH", async () => {
    const entry = await topicWithSubscription("herald-events");
    const { source, dlq } = await channel();
    await put(dlq.topic, [{ data: "{}" }]);
    const bin = join(dir, "pulumi-bin");
    mkdirSync(bin, { recursive: true });
    const outputs = file("outputs.json", { topicArn: entry.topic, queueUrls: { sms: source.topic }, deadLetterQueueUrls: { sms: dlq.subscription } });
    writeFileSync(join(bin, "pulumi"), `#!/bin/sh\n[ "$*" = "stack output --json" ] || exit 3\nexec /bin/cat '${outputs}'\n`);
    chmodSync(join(bin, "pulumi"), 0o755);
    vi.stubEnv("PATH", bin);

    expect(await gcp("publish", EXAMPLE)).toMatchObject({ code: 0, out: "accepted 1 event" });
    expect(await drain(entry.subscription)).toHaveLength(1);
    const listed = await gcp("dlq", "list", "--channel", "sms", "--json");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toHaveLength(1);
    expect(await gcp("dlq", "redrive", "--channel", "sms")).toMatchObject({ code: 0, out: "redrove 1 message" });
    expect(datas(await drain(source.subscription))).toEqual(["{}"]);
    // A channel the stack does not have: the guidance names the output that lacks it.
    const missing = await gcp("dlq", "list", "--channel", "fax");
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('the stack output `deadLetterQueueUrls` has no "fax" entry');
  });

  itConformsAsCliTarget(
    "gcp",
    () => {
      let sms: ReturnType<typeof channel> | undefined;
      let entry: ReturnType<typeof topicWithSubscription> | undefined;
      const queues = () => (sms ??= channel());
      const topic = () => (entry ??= topicWithSubscription("herald-events"));
      return {
        publish: async (path) => gcp("publish", path, "--topic", (await topic()).topic, "--json"),
        publishedIds: async () => (await drain((await topic()).subscription)).map((m) => (JSON.parse(m.data) as { id: string }).id),
        seedDeadLetters: async (count) => put((await queues()).dlq.topic, Array.from({ length: count }, (_, i) => ({ data: JSON.stringify({ n: i }) }))),
        dlq: async (...args) => {
          const { dlq, source } = await queues();
          return gcp("dlq", ...args, "--channel", "sms", "--subscription", dlq.subscription, ...(args[0] === "redrive" ? ["--source-topic", source.topic] : []));
        },
        redriven: async () => (await drain((await queues()).source.subscription)).length,
      };
    },
    (events) => file(`conformance-${++serial}.json`, events),
  );

  it("dlq list and show read the dead letters without taking them", async () => {
    const { dlq } = await channel();
    // Attribute names as the producers set them: Pub/Sub's dead-lettering, and the rules function's rejection.
    expect(REJECTION_REASON_ATTRIBUTE).toBe(REJECTION_ATTRIBUTES.reason);
    const ids = await put(dlq.topic, [
      { data: JSON.stringify({ id: "a" }), attributes: { channel: "sms", CloudPubSubDeadLetterSourceDeliveryCount: "5" } },
      { data: JSON.stringify({ id: "b" }), attributes: { [REJECTION_ATTRIBUTES.reason]: "invalid-data", [REJECTION_ATTRIBUTES.detail]: "no contacts" } },
      { data: "line one\nline two" },
    ]);
    vi.stubEnv("HERALD_DLQ_SUBSCRIPTION_SMS", dlq.subscription);

    const list = await gcp("dlq", "list", "--channel", "sms");
    expect(list.code).toBe(0);
    const lines = list.out.split("\n");
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\S+ {2}sms {5}(\d+|\?) attempts {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}\S.*$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${ids[0]}  sms     5 attempts  .*  \\{"id":"a"\\}$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${ids[1]}  sms     \\? attempts  .*  invalid-data: \\{"id":"b"\\}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/ {2}line one$/));

    const json = await gcp("dlq", "list", "--channel", "sms", "--json");
    const listed = JSON.parse(json.out) as Array<{ id: string; queue: string; body: string; deliveryAttempts: number | null; publishedAtMs: number }>;
    expect(listed.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(listed.every((d) => d.queue === "sms" && Math.abs(d.publishedAtMs - Date.now()) < 60_000)).toBe(true);

    const shown = await gcp("dlq", "show", ids[1]!, "--channel", "sms");
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({ id: ids[1], queue: "sms", rejectionReason: "invalid-data", body: { id: "b" }, attributes: { rejectionDetail: "no contacts" } });
    const unknown = await gcp("dlq", "show", "424242", "--channel", "sms");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^herald: no dead letter 424242 among the 3 messages/);

    // Still all there, and deliverable at once (the lease was given back): listing took nothing.
    expect(datas(await drain(dlq.subscription))).toEqual([JSON.stringify({ id: "a" }), JSON.stringify({ id: "b" }), "line one\nline two"].sort());
  });

  it("dlq list of an empty dead-letter subscription says so", async () => {
    const { dlq } = await channel();
    expect(await gcp("dlq", "list", "--channel", "sms", "--subscription", dlq.subscription)).toEqual({ code: 0, out: "no dead letters", err: "" });
  });

  it("dlq redrive publishes every dead letter (data and attributes) to the source topic and takes it off the DLQ", async () => {
    const { source, dlq } = await channel();
    const bodies = Array.from({ length: 13 }, (_, i) => JSON.stringify({ id: `m${i}` }));
    await put(dlq.topic, bodies.map((data) => ({ data, attributes: { channel: "sms", eventId: "e1", CloudPubSubDeadLetterSourceDeliveryCount: "5" } })));
    vi.stubEnv("HERALD_TOPIC_SMS", source.topic);

    const result = await gcp("dlq", "redrive", "--channel", "sms", "--subscription", dlq.subscription);
    expect(result).toEqual({ code: 0, out: "redrove 13 messages", err: "" });
    const back = await drain(source.subscription);
    expect(datas(back)).toEqual([...bodies].sort());
    // Pub/Sub's dead-letter bookkeeping is not carried over; the message's own attributes are.
    expect(back.every((m) => JSON.stringify(m.attributes) === JSON.stringify({ channel: "sms", eventId: "e1" }))).toBe(true);
    expect(await drain(dlq.subscription)).toHaveLength(0);
  });

  it("dlq redrive --id moves only those; the others stay in the DLQ, deliverable at once", async () => {
    const { source, dlq } = await channel();
    const ids = await put(dlq.topic, [{ data: "one" }, { data: "two" }, { data: "three" }]);
    const result = await gcp("dlq", "redrive", "--channel", "sms", "--subscription", dlq.subscription, "--source-topic", source.topic, "--id", ids[1]!, "--json");
    expect(result).toEqual({ code: 0, out: JSON.stringify({ redriven: 1 }), err: "" });
    expect(datas(await drain(source.subscription))).toEqual(["two"]);
    expect(datas(await drain(dlq.subscription))).toEqual(["one", "three"]);
  });

  it("dlq redrive to a topic that does not exist: nothing acked, everything stays in the DLQ, exit 1", async () => {
    const { dlq } = await channel();
    await put(dlq.topic, [{ data: "one" }, { data: "two" }]);
    const result = await gcp("dlq", "redrive", "--channel", "sms", "--subscription", dlq.subscription, "--source-topic", topicPath("herald-gone"));
    expect(result.code).toBe(1);
    expect(result.out).toBe("redrove 0 messages");
    expect(result.err).toMatch(/not published to \S+herald-gone, still in the DLQ: \d+: NOT_FOUND: /);
    expect(datas(await drain(dlq.subscription))).toEqual(["one", "two"]);
  });

  it("usage mistakes are exit 2 with what to do", async () => {
    expect((await gcp("dlq", "redrive")).err).toMatch(/^herald: --target gcp needs --channel <channel>/);
    expect(await herald("publish", EXAMPLE, "--topic", "x")).toMatchObject({ code: 2, err: "herald: --topic only applies with --target gcp" });
    expect(await gcp("publish", EXAMPLE, "--topic-arn", "arn:aws:sns:us-east-1:123456789012:x")).toMatchObject({ code: 2, err: "herald: --topic-arn only applies with --target aws" });
    expect(await herald("dlq", "list", "--target", "aws", "--channel", "sms", "--subscription", "x")).toMatchObject({ code: 2, err: "herald: --subscription only applies with --target gcp" });
  });
});
