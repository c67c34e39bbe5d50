/**
 * `herald publish` and `herald dlq list|show|redrive` with `--target azure`, against the
 * in-process Service Bus fake (test/runtime/azure/fake-service-bus.ts): there is no
 * Service Bus emulator without Docker, so this is a fake, and says so. It models what
 * the commands rely on: batches with a size limit, duplicate detection by message id,
 * dead-letter subqueues, peek with a cursor, peek-lock receive, complete and abandon.
 */
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import type { CliBus } from "../../cli/azure/service-bus";
import { redriveDeadLetters } from "../../cli/azure/service-bus";
import { listAzureDeadLetters, parseAddress, publishToAzure, redriveAzureDeadLetters, showAzureDeadLetter } from "../../cli/commands/azure";
import { StackOutputs } from "../../cli/stack-outputs";
import { parseEvent, type AcceptedEvent } from "../../handlers/core/envelope";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { schemaSet } from "../../schemas/generated/schema-set";
import { FakeServiceBus } from "../runtime/azure/fake-service-bus";
import { itConformsAsCliTarget, type CliResult } from "../runtime/conformance/cli-target";

const registry = new SchemaRegistry(schemaSet);
const example = JSON.parse(readFileSync("schemas/events/herald.test_notification/examples/v1-email-and-sms.json", "utf8")) as Record<string, unknown>;
const events = (count: number, prefix = "evt"): AcceptedEvent[] => Array.from({ length: count }, (_, i) => parseEvent(JSON.stringify({ ...example, id: `${prefix}-${i}` }), registry));

const NAMESPACE = "herald-bus.servicebus.windows.net";
/** What `pulumi stack output --json` prints for an Azure stack. */
const stack = () =>
  new StackOutputs(async () => ({
    outputs: {
      topicArn: `${NAMESPACE}/herald-events`,
      queueUrls: { rules: `${NAMESPACE}/herald-rules`, sms: `${NAMESPACE}/herald-sms` },
    },
  }));

describe("herald publish and dlq with --target azure, on the in-process Service Bus fake", () => {
  let bus: FakeServiceBus;
  let out: string[];
  let err: string[];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  const connected: Array<string | undefined> = [];
  const connect = (namespace: string | undefined) => {
    connected.push(namespace);
    return bus as unknown as CliBus;
  };
  const smsDeadLetters = (count: number) => {
    const queue = bus.queue("herald-sms");
    for (let i = 0; i < count; i++) {
      queue.accept({ body: Buffer.from(JSON.stringify({ n: i })), contentType: "application/json", messageId: `sms-${i}`, applicationProperties: { channel: "sms" } });
    }
    queue.deadLetterAll("MaxDeliveryCountExceeded", "failed 8 deliveries: 503 from the provider");
  };

  beforeEach(() => {
    bus = new FakeServiceBus();
    out = [];
    err = [];
    connected.length = 0;
  });

  it("publishes to the stack's entry topic, the event id as message id, type and version as properties", async () => {
    expect(await publishToAzure(events(3), {}, io, stack(), connect)).toBe(0);
    expect(connected).toEqual([NAMESPACE]);
    expect(out).toEqual(["accepted 3 events"]);
    const topic = bus.queue("herald-events");
    expect(topic.messages.map((m) => m.message.messageId)).toEqual(["evt-0", "evt-1", "evt-2"]);
    const first = topic.messages[0]!.message;
    expect(first.contentType).toBe("application/cloudevents+json");
    expect(first.applicationProperties).toEqual({ type: example.type, version: "1" });
    expect(JSON.parse(first.body.toString("utf8")).id).toBe("evt-0");
    // Publishing the same events again: the topic's duplicate detection drops them.
    await publishToAzure(events(3), {}, io, stack(), connect);
    expect(topic.messages).toHaveLength(3);
    expect(topic.droppedDuplicates).toBe(3);
  });

  it("fills batches up to the size limit, and refuses an event larger than a message alone", async () => {
    bus = new FakeServiceBus({ maxBatchBytes: 4_000 });
    const big = parseEvent(JSON.stringify({ ...example, id: "big", data: { ...(example.data as object), padding: undefined } }), registry);
    const oversize = { ...big, event: { ...big.event, id: "huge", data: { blob: "x".repeat(5_000) } } } as AcceptedEvent;
    const code = await publishToAzure([...events(10), oversize, ...events(2, "after")], { topicAddress: `${NAMESPACE}/herald-events` }, io, stack(), connect);
    expect(code).toBe(1);
    expect(bus.queue("herald-events").messages.map((m) => m.message.messageId)).toEqual([...events(10).map((e) => e.event.id), "after-0", "after-1"]);
    expect(bus.sendCalls.length).toBeGreaterThan(1);
    expect(err).toEqual([expect.stringMatching(/^herald publish: not published: event 10 \(huge\): MessageSizeExceeded: /)]);
  });

  it("stops at a failed send and reports every event not sent", async () => {
    bus.failSends = 1;
    const code = await publishToAzure(events(4), {}, io, stack(), connect);
    expect(code).toBe(1);
    expect(bus.queue("herald-events").messages).toHaveLength(0);
    expect(err[0]).toMatch(/^herald publish: stopped, 4 event\(s\) not sent: publishing to herald-events: ServiceCommunicationError: link detached/);
    expect(err.slice(1)).toEqual(["herald publish: not sent: event 0 (evt-0)", "herald publish: not sent: event 1 (evt-1)", "herald publish: not sent: event 2 (evt-2)", "herald publish: not sent: event 3 (evt-3)"]);
  });

  it("lists a channel's dead letters with Service Bus's reason, without taking them", async () => {
    smsDeadLetters(3);
    expect(await listAzureDeadLetters({ channel: "sms", json: true }, io, stack(), connect)).toBe(0);
    const listed = JSON.parse(out.join("\n")) as Array<{ id: string; reason: string; description: string; from: string }>;
    expect(listed.map((d) => d.id)).toEqual(["sms-0", "sms-1", "sms-2"]);
    expect(listed[0]).toMatchObject({ reason: "MaxDeliveryCountExceeded", description: "failed 8 deliveries: 503 from the provider", from: "herald-sms" });
    expect(bus.queue("herald-sms").deadLettered).toHaveLength(3);
  });

  it("lists the rules consumer's rejected events with the rules function's reason, next to its own dead letters", async () => {
    bus.queue("herald-rules-rejected").accept({
      body: Buffer.from('{"id":"bad"}'),
      contentType: "application/json",
      messageId: "bad",
      applicationProperties: { deadLetterReason: "invalid-envelope", deadLetterErrorDescription: "specversion is required" },
    });
    expect(await listAzureDeadLetters({ channel: "rules" }, io, stack(), connect)).toBe(0);
    expect(out).toEqual(["bad  rules   0 deliveries  1970-01-01T00:00:00.000Z  invalid-envelope: specversion is required"]);
  });

  it("shows one dead letter with its body parsed, and says when there is none", async () => {
    smsDeadLetters(2);
    expect(await showAzureDeadLetter("sms-1", { channel: "sms" }, io, stack(), connect)).toBe(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ id: "sms-1", body: { n: 1 }, reason: "MaxDeliveryCountExceeded" });
    await expect(showAzureDeadLetter("sms-9", { channel: "sms" }, io, stack(), connect)).rejects.toThrow("no dead letter sms-9 among the first 1000 of herald-sms");
  });

  it("redrives all or chosen dead letters back to the queue, as new messages, and removes them from the DLQ", async () => {
    smsDeadLetters(3);
    expect(await redriveAzureDeadLetters({ channel: "sms", id: ["sms-1", "sms-7"] }, io, stack(), connect)).toBe(1);
    expect(out).toEqual(["redrove 1 message"]);
    expect(err).toEqual(["herald dlq redrive: not in the DLQ: sms-7"]);
    const queue = bus.queue("herald-sms");
    expect(queue.deadLettered.map((d) => d.message.messageId)).toEqual(["sms-0", "sms-2"]);
    expect(queue.messages.map((m) => m.message.messageId)).toEqual([expect.stringMatching(/^sms-1~redrive~\d+$/)]);
    expect(queue.messages[0]!.message.applicationProperties).toEqual({ channel: "sms" });
    out = [];
    expect(await redriveAzureDeadLetters({ channel: "sms" }, io, stack(), connect)).toBe(0);
    expect(out).toEqual(["redrove 2 messages"]);
    expect(queue.deadLettered).toHaveLength(0);
    expect(queue.messages).toHaveLength(3);
  });

  it("a redrive that died between sending and completing does not double a message when run again", async () => {
    smsDeadLetters(2);
    const dying = {
      createSender: (name: string) => bus.createSender(name),
      createReceiver: (name: string, options: { subQueueType?: "deadLetter"; receiveMode: "peekLock" }) => {
        const receiver = bus.createReceiver(name, options);
        return Object.assign(Object.create(receiver) as typeof receiver, {
          completeMessage: async () => {
            throw new Error("process killed");
          },
        });
      },
      close: async () => {},
    } as unknown as CliBus;
    await expect(redriveDeadLetters(dying, "herald-sms", "sms")).rejects.toThrow("process killed");
    const queue = bus.queue("herald-sms");
    expect(queue.messages).toHaveLength(2);
    // The dead letters are still there (never completed); the second run sends the same copies.
    expect(await redriveDeadLetters(bus as unknown as CliBus, "herald-sms", "sms")).toEqual({ redriven: 2, notFound: [] });
    expect(queue.messages).toHaveLength(2);
    expect(queue.droppedDuplicates).toBe(2);
    expect(queue.deadLettered).toHaveLength(0);
  });

  /** `herald dlq <args> --channel sms` on the fake: the same options main() would parse for --target azure. */
  async function dlq(...args: string[]): Promise<CliResult> {
    out = [];
    err = [];
    const [command, ...rest] = args;
    const json = rest.includes("--json");
    const id = rest.includes("--id") ? [rest[rest.indexOf("--id") + 1]!] : undefined;
    const options = { channel: "sms", ...(json ? { json } : {}), ...(id ? { id } : {}) };
    let code: number;
    try {
      if (command === "list") code = await listAzureDeadLetters(options, io, stack(), connect);
      else if (command === "show") code = await showAzureDeadLetter(rest[0]!, options, io, stack(), connect);
      else code = await redriveAzureDeadLetters(options, io, stack(), connect);
    } catch (error) {
      err.push(`herald: ${(error as Error).message}`);
      code = 1;
    }
    return { code, out: out.join("\n"), err: err.join("\n") };
  }
  const drainedIds = (queue: string) => bus.queue(queue).drain().map((m) => m.messageId);

  itConformsAsCliTarget(
    "azure",
    () => ({
      publish: async (events) => {
        out = [];
        err = [];
        const code = await publishToAzure(JSON.parse(events) as AcceptedEvent[], { json: true }, io, stack(), connect);
        return { code, out: out.join("\n"), err: err.join("\n") };
      },
      publishedIds: async () => drainedIds("herald-events"),
      seedDeadLetters: async (count) => {
        smsDeadLetters(count);
        return bus.queue("herald-sms").deadLettered.map((d) => d.message.messageId);
      },
      dlq,
      redriven: async () => drainedIds("herald-sms").length,
    }),
    // The azure commands are called as functions (the fake cannot be reached through main()): the "file" is the validated events.
    (events) => JSON.stringify(events.map((event) => parseEvent(JSON.stringify(event), registry))),
  );

  it("reads addresses as the stack outputs give them, and refuses what is not one", () => {
    expect(parseAddress(`${NAMESPACE}/herald-events`)).toEqual({ namespace: NAMESPACE, entity: "herald-events" });
    expect(parseAddress(`sb://${NAMESPACE}/herald-sms`)).toEqual({ namespace: NAMESPACE, entity: "herald-sms" });
    expect(parseAddress("herald-sms")).toEqual({ namespace: undefined, entity: "herald-sms" });
    expect(() => parseAddress("a/b/c")).toThrow(/is not a Service Bus address/);
  });
});
