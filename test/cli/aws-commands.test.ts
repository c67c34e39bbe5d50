import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTopicCommand,
  PublishBatchCommand,
  SNSClient,
  SubscribeCommand,
  type BatchResultErrorEntry,
  type PublishBatchCommandOutput,
} from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type Message,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../cli/main";
import { itConformsAsCliTarget } from "../runtime/conformance/cli-target";
import { startMoto, type MotoServer } from "../support/moto";

const EXAMPLE = "schemas/events/herald.test_notification/examples/v1-email-and-sms.json";
const exampleEvent = () => JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;

describe("herald publish and dlq with --target aws, against moto_server", () => {
  let moto: MotoServer;
  let sns: SNSClient;
  let sqs: SQSClient;
  let dir: string;
  /** The real SDK methods, for spies that pass most calls through to moto. */
  type Send = (this: unknown, command: unknown) => Promise<any>;
  const realSnsSend = SNSClient.prototype.send as Send;
  const realSqsSend = SQSClient.prototype.send as Send;

  const file = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };

  /** `herald <args>` in process, with what it printed. */
  async function herald(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }
  /** `herald <args> --target aws` against this file's moto_server. */
  const aws = (...args: string[]) => herald(...args, "--target", "aws", "--endpoint-url", moto.endpoint);

  /** The herald topic with a queue subscribed the way the stack does it (raw delivery). */
  async function topicWithQueue(): Promise<{ topicArn: string; queueUrl: string }> {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "herald-events" }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "herald-rules" }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: await arnOf(QueueUrl!), Attributes: { RawMessageDelivery: "true" } }));
    return { topicArn: TopicArn!, queueUrl: QueueUrl! };
  }

  /** A channel queue whose redrive policy dead-letters a message on its second receive. */
  async function channelQueues(channel: string): Promise<{ sourceUrl: string; dlqUrl: string }> {
    const { QueueUrl: dlqUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `herald-${channel}-dlq` }));
    const { QueueUrl: sourceUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `herald-${channel}`,
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl!), maxReceiveCount: 1 }) },
      }),
    );
    return { sourceUrl: sourceUrl!, dlqUrl: dlqUrl! };
  }

  /** Sends `bodies` to the channel queue and lets SQS itself dead-letter them (one failed receive each). */
  async function deadLetter(queues: { sourceUrl: string; dlqUrl: string }, bodies: string[]): Promise<string[]> {
    const ids: string[] = [];
    // Ten at a time: one receive takes at most ten messages.
    for (let start = 0; start < bodies.length; start += 10) {
      for (const body of bodies.slice(start, start + 10)) {
        const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queues.sourceUrl, MessageBody: body, MessageAttributes: { type: { DataType: "String", StringValue: "herald.test_notification" } } }));
        ids.push(MessageId!);
      }
      // First receive: the "failed delivery" (visible again at once). Second: over maxReceiveCount, moved to the DLQ.
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.sourceUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.sourceUrl, MaxNumberOfMessages: 10 }));
    }
    expect(await depth(queues.dlqUrl)).toBe(bodies.length);
    expect(await depth(queues.sourceUrl)).toBe(0);
    return ids;
  }

  async function arnOf(queueUrl: string): Promise<string> {
    return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  }
  async function depth(queueUrl: string): Promise<number> {
    return Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes!.ApproximateNumberOfMessages);
  }
  /** Takes every visible message off a queue. */
  async function drain(queueUrl: string): Promise<Message[]> {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60, MessageAttributeNames: ["All"] }));
      if (Messages.length === 0) return all;
      all.push(...Messages);
    }
  }
  const eventIds = (messages: Message[]) => messages.map((m) => (JSON.parse(m.Body!) as { id: string }).id).sort();
  const events = (count: number) => Array.from({ length: count }, (_, i) => ({ ...exampleEvent(), id: `cli-aws-${i}` }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "herald-cli-aws-"));
    moto = await startMoto();
    sns = new SNSClient(moto.clientConfig);
    sqs = new SQSClient(moto.clientConfig);
  });
  afterAll(async () => {
    sns?.destroy();
    sqs?.destroy();
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await moto.reset();
    // Fake credentials and region only; the endpoint comes from --endpoint-url unless a
    // test says otherwise. Nothing from the developer's shell may pick the topic or queues.
    vi.stubEnv("AWS_REGION", moto.region);
    vi.stubEnv("AWS_ACCESS_KEY_ID", moto.clientConfig.credentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", moto.clientConfig.credentials.secretAccessKey);
    for (const name of ["AWS_ENDPOINT_URL", "AWS_PROFILE", "HERALD_TOPIC_ARN", "HERALD_DLQ_URL_SMS", "HERALD_QUEUE_URL_SMS"]) vi.stubEnv(name, undefined);
    // No pulumi on PATH unless a test puts a fake one there.
    const emptyBin = join(dir, "empty-bin");
    mkdirSync(emptyBin, { recursive: true });
    vi.stubEnv("PATH", emptyBin);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("publishes a shipped example: the subscribed queue gets the event as the body, with type and version attributes", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    const result = await aws("publish", EXAMPLE, "--topic-arn", topicArn);
    expect(result).toMatchObject({ code: 0, out: "accepted 1 event" });

    const [message, ...rest] = await drain(queueUrl);
    expect(rest).toHaveLength(0);
    expect(JSON.parse(message!.Body!)).toEqual(exampleEvent());
    expect(message!.MessageAttributes).toEqual({
      type: { DataType: "String", StringValue: "herald.test_notification" },
      version: { DataType: "Number", StringValue: "1" },
    });
  });

  it("--json names each event with its SNS message id; version comes from the dataschema", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    vi.stubEnv("HERALD_TOPIC_ARN", topicArn);
    const v2 = "schemas/events/order.shipped/examples/v2-with-estimate.json";
    const event = JSON.parse(readFileSync(v2, "utf8")) as { id: string; source: string };
    const result = await aws("publish", v2, "--json");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({ accepted: [{ id: event.id, source: event.source, messageId: expect.stringMatching(/\S/) }], duplicates: [] });
    const [message] = await drain(queueUrl);
    expect(message!.MessageAttributes).toMatchObject({ type: { StringValue: "order.shipped" }, version: { DataType: "Number", StringValue: "2" } });
  });

  it("25 events go out in 3 PublishBatch calls, each arrives once, and a terminal sees progress", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    const send = vi.spyOn(SNSClient.prototype, "send");
    const progress: string[] = [];
    const wasTty = process.stderr.isTTY;
    process.stderr.isTTY = true;
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      progress.push(String(chunk));
      return true;
    });
    let result: Awaited<ReturnType<typeof herald>>;
    try {
      result = await aws("publish", file("batch.json", events(25)), "--topic-arn", topicArn);
    } finally {
      process.stderr.isTTY = wasTty;
    }
    expect(result).toMatchObject({ code: 0, out: "accepted 25 events" });

    const calls = send.mock.calls.map(([command]) => command);
    expect(calls.every((command) => command instanceof PublishBatchCommand)).toBe(true);
    const sizes = calls.map((command) => (command as PublishBatchCommand).input.PublishBatchRequestEntries!.length);
    expect(sizes.sort((a, b) => a - b)).toEqual([5, 10, 10]);
    expect(progress.join("")).toContain("published 25/25");
    expect(eventIds(await drain(queueUrl))).toEqual(events(25).map((e) => e.id).sort());
  });

  it("retries entries PublishBatch reports as failed; one that never goes is named and the exit code is 1", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    const tries = new Map<string, number>();
    // SNS in front of moto: cli-aws-3 fails once, cli-aws-7 always (both as SNS-side faults).
    const send = vi.spyOn(SNSClient.prototype, "send").mockImplementation(async function (this: SNSClient, command: unknown) {
      if (!(command instanceof PublishBatchCommand)) return realSnsSend.call(this, command);
      const entries = command.input.PublishBatchRequestEntries!;
      const failing = entries.filter((entry) => {
        const id = (JSON.parse(entry.Message!) as { id: string }).id;
        tries.set(id, (tries.get(id) ?? 0) + 1);
        return id === "cli-aws-7" || (id === "cli-aws-3" && tries.get(id) === 1);
      });
      const passing = entries.filter((entry) => !failing.includes(entry));
      const real: Partial<PublishBatchCommandOutput> = passing.length ? await realSnsSend.call(this, new PublishBatchCommand({ ...command.input, PublishBatchRequestEntries: passing })) : {};
      const failed: BatchResultErrorEntry[] = failing.map((entry) => ({ Id: entry.Id, Code: "InternalError", Message: "try again", SenderFault: false }));
      return { ...real, Successful: real.Successful ?? [], Failed: [...(real.Failed ?? []), ...failed] };
    } as unknown as typeof SNSClient.prototype.send);

    const result = await aws("publish", file("flaky.json", events(12)), "--topic-arn", topicArn);
    expect(result.code).toBe(1);
    expect(result.out).toBe("accepted 11 events");
    expect(result.err).toBe("herald publish: not published: event 7 (cli-aws-7): InternalError: try again");
    expect(tries.get("cli-aws-3")).toBe(2);
    expect(tries.get("cli-aws-7")).toBe(4);
    expect(send).toHaveBeenCalledTimes(5); // batch of 10: 4 attempts; batch of 2: 1
    expect(eventIds(await drain(queueUrl))).toEqual(events(12).map((e) => e.id).filter((id) => id !== "cli-aws-7").sort());
  });

  it("a call refused as a whole stops the run; what went before (even in the same batch) is reported as published", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    let retried = false;
    // cli-aws-1 fails once (retryable); the retry call finds the topic gone (moto's real NotFound).
    vi.spyOn(SNSClient.prototype, "send").mockImplementation(async function (this: SNSClient, command: unknown) {
      if (!(command instanceof PublishBatchCommand)) return realSnsSend.call(this, command);
      const entries = command.input.PublishBatchRequestEntries!;
      const flaky = entries.find((entry) => (JSON.parse(entry.Message!) as { id: string }).id === "cli-aws-1");
      if (!flaky) return realSnsSend.call(this, command);
      if (retried) return realSnsSend.call(this, new PublishBatchCommand({ ...command.input, TopicArn: `${topicArn}-deleted` }));
      retried = true;
      const real = await realSnsSend.call(this, new PublishBatchCommand({ ...command.input, PublishBatchRequestEntries: entries.filter((entry) => entry !== flaky) }));
      return { ...real, Failed: [{ Id: flaky.Id, Code: "InternalError", Message: "try again", SenderFault: false }] };
    } as unknown as typeof SNSClient.prototype.send);

    const result = await aws("publish", file("stopped.json", events(12)), "--topic-arn", topicArn, "--json");
    expect(result.code).toBe(1);
    expect((JSON.parse(result.out) as { accepted: Array<{ id: string }> }).accepted.map((a) => a.id)).toEqual(events(12).map((e) => e.id).filter((id) => id !== "cli-aws-1"));
    expect(result.err.split("\n")).toEqual([
      expect.stringMatching(/^herald publish: stopped, 1 event not sent: publishing to arn:\S+: NotFoundException: /),
      "herald publish: not sent: event 1 (cli-aws-1)",
    ]);
    expect(await drain(queueUrl)).toHaveLength(11);
  });

  it("an invalid event is rejected as by the local target, exit 1, and nothing reaches SNS", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    const send = vi.spyOn(SNSClient.prototype, "send");
    const path = file("bad.json", [exampleEvent(), { ...exampleEvent(), id: "cli-bad", data: { message: "no contacts" } }]);
    const result = await aws("publish", path, "--topic-arn", topicArn);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^herald publish: rejected: event 1: invalid-data: .*contacts/);
    expect(result.out).toBe("");
    // Same lines as --target local (which also validates before any request).
    expect((await herald("publish", path, "--url", "http://127.0.0.1:9")).err).toBe(result.err);
    expect(send).not.toHaveBeenCalled();
    expect(await drain(queueUrl)).toHaveLength(0);
  });

  it("without a topic ARN anywhere, exit 2 and say how to give one", async () => {
    const send = vi.spyOn(SNSClient.prototype, "send");
    const result = await aws("publish", EXAMPLE);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^herald: no SNS topic to publish to: pass --topic-arn <arn>, set HERALD_TOPIC_ARN, or .*pulumi stack output topicArn/);
    expect(result.err).toContain("no `pulumi` executable on PATH");
    expect(send).not.toHaveBeenCalled();
  });

  it("reads the topic and queue URLs from `pulumi stack output --json` when pulumi is on PATH", async () => {
    const { topicArn, queueUrl } = await topicWithQueue();
    const queues = await channelQueues("sms");
    await deadLetter(queues, ["{}"]);
    const bin = join(dir, "pulumi-bin");
    mkdirSync(bin, { recursive: true });
    const outputs = file("outputs.json", { topicArn, queueUrls: { sms: queues.sourceUrl }, deadLetterQueueUrls: { sms: queues.dlqUrl } });
    writeFileSync(join(bin, "pulumi"), `#!/bin/sh\n[ "$*" = "stack output --json" ] || exit 3\nexec /bin/cat '${outputs}'\n`);
    chmodSync(join(bin, "pulumi"), 0o755);
    vi.stubEnv("PATH", bin);

    expect(await aws("publish", EXAMPLE)).toMatchObject({ code: 0, out: "accepted 1 event" });
    expect(await drain(queueUrl)).toHaveLength(1);
    const listed = await aws("dlq", "list", "--channel", "sms", "--json");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toHaveLength(1);
    // A channel the stack does not have: the guidance names the output that lacks it.
    const missing = await aws("dlq", "list", "--channel", "fax");
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('the stack output `deadLetterQueueUrls` has no "fax" entry');
  });

  it("dlq list and show read the dead letters SQS moved to the DLQ, without taking them", async () => {
    const queues = await channelQueues("sms");
    const bodies = [JSON.stringify({ id: "a" }), JSON.stringify({ id: "b" }), "line one\nline two"];
    const ids = await deadLetter(queues, bodies);
    // The endpoint from AWS_ENDPOINT_URL this time, as an emulator user would set it.
    vi.stubEnv("AWS_ENDPOINT_URL", moto.endpoint);

    const list = await herald("dlq", "list", "--target", "aws", "--channel", "sms", "--queue-url", queues.dlqUrl);
    expect(list.code).toBe(0);
    const lines = list.out.split("\n").sort();
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\S+ {2}sms {5}\d+ receives {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}\S.*$/);
    expect(lines.some((line) => line.endsWith("  line one"))).toBe(true);

    const json = await herald("dlq", "list", "--target", "aws", "--channel", "sms", "--queue-url", queues.dlqUrl, "--json");
    const listed = JSON.parse(json.out) as Array<{ id: string; queue: string; receiveCount: number; body: string }>;
    expect(listed.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect(listed.map((d) => d.body).sort()).toEqual([...bodies].sort());
    // One failed delivery before dead-lettering, plus the peeks: a peek is a receive.
    expect(listed.every((d) => d.queue === "sms" && d.receiveCount >= 2)).toBe(true);

    const shown = await herald("dlq", "show", ids[0]!, "--target", "aws", "--channel", "sms", "--queue-url", queues.dlqUrl);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({ id: ids[0], queue: "sms", body: { id: "a" }, messageAttributes: { type: { StringValue: "herald.test_notification" } } });
    const unknown = await herald("dlq", "show", "no-such-id", "--target", "aws", "--channel", "sms", "--queue-url", queues.dlqUrl);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^herald: no dead letter no-such-id among the 3 messages/);

    // Still all there: listing took nothing.
    expect(await depth(queues.dlqUrl)).toBe(3);
  });

  it("dlq list of an empty DLQ says so", async () => {
    const queues = await channelQueues("sms");
    expect(await aws("dlq", "list", "--channel", "sms", "--queue-url", queues.dlqUrl)).toMatchObject({ code: 0, out: "no dead letters" });
  });

  it("dlq redrive moves every dead letter back to its source queue (receive-and-send where StartMessageMoveTask is missing)", async () => {
    const queues = await channelQueues("sms");
    const bodies = Array.from({ length: 13 }, (_, i) => JSON.stringify({ id: `m${i}` }));
    await deadLetter(queues, bodies);
    vi.stubEnv("HERALD_DLQ_URL_SMS", queues.dlqUrl);
    vi.stubEnv("HERALD_QUEUE_URL_SMS", queues.sourceUrl);
    const sqsSend = vi.spyOn(SQSClient.prototype, "send");

    const result = await aws("dlq", "redrive", "--channel", "sms");
    expect(result).toMatchObject({ code: 0, out: "redrove 13 messages" });
    expect(result.err).toMatch(/does not implement StartMessageMoveTask .*receiving and sending/);
    const sent = sqsSend.mock.calls.map(([command]) => command).filter((command) => command instanceof SendMessageBatchCommand);
    expect(sent.every((command) => (command as SendMessageBatchCommand).input.Entries!.length <= 10)).toBe(true);

    expect(await drain(queues.dlqUrl)).toHaveLength(0);
    const back = await drain(queues.sourceUrl);
    expect(back.map((m) => m.Body).sort()).toEqual([...bodies].sort());
    expect(back.every((m) => m.MessageAttributes?.type?.StringValue === "herald.test_notification")).toBe(true);
  });

  it("dlq redrive --id moves only those; the others stay in the DLQ, visible at once", async () => {
    const queues = await channelQueues("sms");
    const ids = await deadLetter(queues, ["one", "two", "three"]);
    const result = await aws("dlq", "redrive", "--channel", "sms", "--queue-url", queues.dlqUrl, "--source-queue-url", queues.sourceUrl, "--id", ids[1]!, "--json");
    expect(result).toMatchObject({ code: 0, out: JSON.stringify({ redriven: 1 }) });
    expect((await drain(queues.sourceUrl)).map((m) => m.Body)).toEqual(["two"]);
    expect((await drain(queues.dlqUrl)).map((m) => m.Body).sort()).toEqual(["one", "three"]);
  });

  it("dlq redrive deletes from the DLQ only what SQS confirmed as sent back; the rest stays, exit 1", async () => {
    const queues = await channelQueues("sms");
    const ids = await deadLetter(queues, ["one", "two", "three"]);
    // SQS in front of moto refuses to send "two" back.
    vi.spyOn(SQSClient.prototype, "send").mockImplementation(async function (this: SQSClient, command: unknown) {
      if (!(command instanceof SendMessageBatchCommand)) return realSqsSend.call(this, command);
      const entries = command.input.Entries!;
      const refused = entries.filter((entry) => entry.MessageBody === "two");
      const real = await realSqsSend.call(this, new SendMessageBatchCommand({ ...command.input, Entries: entries.filter((entry) => !refused.includes(entry)) }));
      return { ...real, Failed: refused.map((entry) => ({ Id: entry.Id, Code: "KMS.ThrottlingException", Message: "slow down", SenderFault: false })) };
    } as unknown as typeof SQSClient.prototype.send);

    const result = await aws("dlq", "redrive", "--channel", "sms", "--queue-url", queues.dlqUrl, "--source-queue-url", queues.sourceUrl);
    expect(result.code).toBe(1);
    expect(result.out).toBe("redrove 2 messages");
    expect(result.err).toContain(`not sent back, still in the DLQ: ${ids[1]}: KMS.ThrottlingException: slow down`);
    expect((await drain(queues.sourceUrl)).map((m) => m.Body).sort()).toEqual(["one", "three"]);
    expect((await drain(queues.dlqUrl)).map((m) => m.Body)).toEqual(["two"]);
  });

  describe("where SQS has StartMessageMoveTask (moto does not, so those two calls are answered here)", () => {
    /** SQS in front of moto: answers the move task calls with `statuses`, one per poll, passes the rest through. */
    function moveTaskApi(statuses: Array<Record<string, unknown>>) {
      const started: StartMessageMoveTaskCommand["input"][] = [];
      const spy = vi.spyOn(SQSClient.prototype, "send").mockImplementation(async function (this: SQSClient, command: unknown) {
        if (command instanceof StartMessageMoveTaskCommand) {
          started.push(command.input);
          return { TaskHandle: "task-1" };
        }
        if (command instanceof ListMessageMoveTasksCommand) return { Results: [statuses.shift() ?? { Status: "RUNNING" }] };
        return realSqsSend.call(this, command);
      } as unknown as typeof SQSClient.prototype.send);
      return { started, spy };
    }

    it("starts a move task from the DLQ to the source queue and waits for it to complete", async () => {
      const queues = await channelQueues("sms");
      const api = moveTaskApi([
        { TaskHandle: "task-1", Status: "RUNNING", ApproximateNumberOfMessagesMoved: 1, ApproximateNumberOfMessagesToMove: 3 },
        { Status: "COMPLETED", ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 },
      ]);
      const result = await aws("dlq", "redrive", "--channel", "sms", "--queue-url", queues.dlqUrl, "--source-queue-url", queues.sourceUrl);
      expect(result).toEqual({ code: 0, out: "redrove 3 messages", err: "" });
      expect(api.started).toEqual([{ SourceArn: await arnOf(queues.dlqUrl), DestinationArn: await arnOf(queues.sourceUrl) }]);
      const commands = api.spy.mock.calls.map(([command]) => command);
      expect(commands.filter((command) => command instanceof ListMessageMoveTasksCommand)).toHaveLength(2);
      expect(commands.some((command) => command instanceof SendMessageBatchCommand || command instanceof ReceiveMessageCommand)).toBe(false);
    });

    it("a failed move task is exit 1 with SQS's reason", async () => {
      const queues = await channelQueues("sms");
      moveTaskApi([{ Status: "FAILED", ApproximateNumberOfMessagesMoved: 1, FailureReason: "AccessDenied on the destination" }]);
      const result = await aws("dlq", "redrive", "--channel", "sms", "--queue-url", queues.dlqUrl, "--source-queue-url", queues.sourceUrl);
      expect(result.code).toBe(1);
      expect(result.err).toBe("herald: the message move task failed after moving 1 messages: AccessDenied on the destination");
    });
  });

  let conformanceFiles = 0;
  itConformsAsCliTarget(
    "aws",
    () => {
      // Made on first use, inside the test (after beforeEach reset moto).
      let queues: Promise<{ sourceUrl: string; dlqUrl: string }> | undefined;
      let entry: Promise<{ topicArn: string; queueUrl: string }> | undefined;
      const sms = () => (queues ??= channelQueues("sms"));
      const topic = () => (entry ??= topicWithQueue());
      return {
        publish: async (path) => aws("publish", path, "--topic-arn", (await topic()).topicArn, "--json"),
        publishedIds: async () => eventIds(await drain((await topic()).queueUrl)),
        seedDeadLetters: async (count) => deadLetter(await sms(), Array.from({ length: count }, (_, i) => JSON.stringify({ n: i }))),
        dlq: async (...args) => {
          const { dlqUrl, sourceUrl } = await sms();
          return aws("dlq", ...args, "--channel", "sms", "--queue-url", dlqUrl, ...(args[0] === "redrive" ? ["--source-queue-url", sourceUrl] : []));
        },
        redriven: async () => (await drain((await sms()).sourceUrl)).length,
      };
    },
    (events) => file(`conformance-${++conformanceFiles}.json`, events),
  );

  it("usage mistakes are exit 2 with what to do", async () => {
    expect(await herald("publish", EXAMPLE, "--target", "gcp", "--topic-arn", "arn:aws:sns:us-east-1:123456789012:x")).toMatchObject({ code: 2, err: "herald: --topic-arn only applies with --target aws" });
    expect(await herald("dlq", "list", "--target", "mars")).toMatchObject({ code: 2, err: 'herald: unknown --target "mars"; use local, aws, gcp or azure' });
    expect(await herald("dlq", "list", "--target", "azure")).toMatchObject({ code: 2, err: "herald: --target azure needs --channel <channel>: each channel (and rules) has its own queue and dead-letter queue" });
    expect(await herald("publish", EXAMPLE, "--target", "aws", "--topic-address", "ns.servicebus.windows.net/t")).toMatchObject({ code: 2, err: "herald: --topic-address only applies with --target azure" });
    expect(await herald("publish", EXAMPLE, "--topic-arn", "arn:aws:sns:us-east-1:123456789012:x")).toMatchObject({ code: 2, err: "herald: --topic-arn only applies with --target aws" });
    expect((await aws("dlq", "redrive")).err).toMatch(/^herald: --target aws needs --channel <channel>/);
  });
});
