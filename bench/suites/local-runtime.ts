/**
 * The local runtime end to end: HTTP ingest to delivered into the local sinks over SMTP,
 * Web Push and the Twilio API, three notifications per event, durable store. Side by
 * side in the same run: the same fan-out built on BullMQ with a Redis server (Debian's
 * redis-server, started here on loopback with AOF every second), with the same rules,
 * channel code, sender thread and sink thread on both sides, so the difference is the
 * queueing. Both sides take events over HTTP and validate them before queueing.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, Worker } from "bullmq";
import { channels } from "../../handlers/channels";
import { validateEvent } from "../../handlers/core/envelope";
import { compileRules, evaluateEvent } from "../../handlers/core/evaluate";
import { InMemoryDirectory } from "../../handlers/core/in-memory-directory";
import { InMemoryFrequencyLimiter } from "../../handlers/core/policies";
import type { ChannelMessage } from "../../handlers/core/ports";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { startHttpServer } from "../../handlers/runtime/local/http-server";
import { createLogger } from "../../handlers/runtime/local/logger";
import { startLocalRuntime } from "../../handlers/runtime/local/runtime";
import { startSendersInWorker } from "../../handlers/runtime/local/senders/sender-thread";
import { sinkChannelEnv, startSinksInWorker } from "../../handlers/runtime/local/sinks/sink-worker";
import { channelRegistry } from "../../handlers/channels";
import { freePort } from "../../test/support/ports";
import { rules } from "../../handlers/rules";
import { schemaSet } from "../../schemas/generated/schema-set";
import { median, ratio, repeatRuns, skipped, type Figure, type Suite } from "../measure";

const template = JSON.parse(readFileSync("schemas/events/order.shipped/examples/v1-standard.json", "utf8"));
/** The benchmark event: an order.shipped for the one bench recipient, id `${prefix}-${i}`. */
export const event = (i: number, prefix: string) => ({ ...template, id: `${prefix}-${i}`, data: { ...template.data, customerId: "cus_bench" } });
const recipient = { id: "cus_bench", name: "Bench", contacts: { email: "bench@example.com", phone: "+14155550123" }, locale: "en", timeZone: "UTC" };
const silent = createLogger({ level: "silent" });

export const localRuntime: Suite = {
  name: "local runtime",
  async run({ quick }) {
    // Quick mode keeps every measure but shortens it and runs it once.
    const events = quick ? 100 : 1_000;
    const repeats = quick ? 1 : 3;
    const figures: Figure[] = [];

    const heraldRates: number[] = [];
    let peakRss = 0;
    for (let r = 0; r < repeats; r += 1) {
      const run = await heraldThroughput(events, `h${r}`);
      heraldRates.push(run.eventsPerSecond);
      peakRss = Math.max(peakRss, run.peakRssBytes);
    }
    // At 200 events/s the backlog grows, and draining it is most of this suite's time.
    const overloaded = await repeatRuns(repeats, () => heraldLatency(200, quick ? 700 : 6_000, quick ? 300 : 3_000));
    // The same measure at a rate this machine sustains, to show latency when not saturated.
    const sustainable = await repeatRuns(repeats, () => heraldLatency(50, quick ? 1_000 : 10_000, quick ? 500 : 3_000));
    const floors = await repeatRuns(repeats, async () => ({ rate: await protocolFloor(quick ? 100 : 1_000) }));
    const herald = median(heraldRates);
    const end: Figure = { id: "local.events-per-second", label: "local runtime end to end, 3 notifications/event", value: herald, unit: "events/s", spread: [Math.min(...heraldRates), Math.max(...heraldRates)], goal: ">= 1000", met: herald >= 1_000 };
    const floorFigure: Figure = { id: "local.protocol-floor", label: "floor: the senders and sinks alone (no queue, no store)", unit: "events/s", ...floors.rate };
    const p99At200 = overloaded.p99;
    figures.push(
      end,
      { id: "local.p50-ms-at-200", label: "publish-to-delivered p50 at 200 events/s", unit: "ms", ...overloaded.p50 },
      { id: "local.p99-ms-at-200", label: "publish-to-delivered p99 at 200 events/s", unit: "ms", ...p99At200, goal: "< 250", met: p99At200.value < 250 },
      { id: "local.achieved-rate-at-200", label: "rate actually delivered in the latency run", unit: "events/s", ...overloaded.deliveredRate },
      { id: "local.p50-ms-at-50", label: "publish-to-delivered p50 at 50 events/s", unit: "ms", ...sustainable.p50 },
      { id: "local.p99-ms-at-50", label: "publish-to-delivered p99 at 50 events/s", unit: "ms", ...sustainable.p99 },
      floorFigure,
      ratio("local.ratio-vs-floor", "herald local / its protocol floor, end to end", end, floorFigure),
      { id: "local.peak-rss", label: "peak memory (RSS) in the throughput runs, sinks included", value: peakRss / 2 ** 20, unit: "MiB" },
    );

    const bullLabel = "same fan-out on BullMQ 6.7 + Redis 7 (AOF everysec)";
    if (!hasRedis()) {
      const reason = "redis-server not found (apt-get install redis-server)";
      process.stderr.write(`local runtime: ${reason}; BullMQ comparison skipped\n`);
      figures.push(skipped("local.bullmq.events-per-second", bullLabel, reason), skipped("local.ratio-vs-bullmq", "herald local / BullMQ, end to end", reason));
      return figures;
    }
    const bullRates: number[] = [];
    for (let r = 0; r < repeats; r += 1) bullRates.push(await bullmqThroughput(events, `b${r}`));
    const bull = median(bullRates);
    const bullFigure: Figure = { id: "local.bullmq.events-per-second", label: bullLabel, value: bull, unit: "events/s", spread: [Math.min(...bullRates), Math.max(...bullRates)] };
    figures.push(bullFigure, ratio("local.ratio-vs-bullmq", "herald local / BullMQ, end to end", end, bullFigure, { goal: "> 1", met: herald > bull }));
    return figures;
  },
};

/**
 * The local runtime as `herald dev` starts it (runtime, HTTP API, local sinks, sender
 * thread) on a fresh data directory, with the bench recipient on all three channels.
 */
export async function startHerald() {
  const dataDir = mkdtempSync(join(tmpdir(), "herald-bench-"));
  const runtime = await startLocalRuntime({ env: { HERALD_PORT: "0", HERALD_DATA_DIR: dataDir, HERALD_POLL_MS: "20" }, logger: silent });
  const http = await startHttpServer(runtime);
  await runtime.directory.put(recipient);
  await runtime.directory.put({ ...recipient, contacts: { ...recipient.contacts, push: [await runtime.pushSink.createSubscription()] } });
  const sent = runtime.db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM outcomes WHERE status = 'sent'");
  return {
    runtime,
    url: http.url,
    sentCount: () => sent.get()!.n,
    async stop() {
      await http.close();
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Posts a batch; a connection that fails before an answer (a kept-alive one the server
 * closed as idle just as it was reused) is tried once more, as a producer would: events
 * are deduplicated by id, so a resend is safe.
 */
async function publish(url: string, batch: unknown[], retry = true): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${url}/v1/events`, { method: "POST", headers: { "content-type": "application/cloudevents-batch+json" }, body: JSON.stringify(batch) });
  } catch (error) {
    if (retry) return publish(url, batch, false);
    throw new Error(`publish failed: ${(error as Error).message} (${String((error as Error).cause ?? "no cause")})`);
  }
  if (response.status !== 202) throw new Error(`publish failed: ${response.status} ${await response.text()}`);
}

async function heraldThroughput(count: number, prefix: string): Promise<{ eventsPerSecond: number; peakRssBytes: number }> {
  const herald = await startHerald();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const started = performance.now();
  for (let i = 0; i < count; i += 100) await publish(herald.url, Array.from({ length: Math.min(100, count - i) }, (_, k) => event(i + k, prefix)));
  await waitUntil(() => herald.sentCount() >= count * 3, "herald deliveries");
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await herald.stop();
  return { eventsPerSecond: count / seconds, peakRssBytes: peak };
}

/**
 * Publishes one event every 1000/rate ms for `durationMs`; latency = last of its three
 * sends minus its publish. A warm-up at the same rate comes first and is not counted:
 * the first second after start pays for JIT compilation, module loading in the threads
 * and opening provider connections (up to ~0.7 s per message here), which is a start-up
 * cost, not the steady latency this figure is about.
 */
async function heraldLatency(rate: number, durationMs: number, warmUpMs = 3_000): Promise<{ p50: number; p99: number; deliveredRate: number }> {
  const herald = await startHerald();
  const publishedAt = new Map<string, number>();
  const interval = 1000 / rate;
  const inflight: Promise<void>[] = [];
  let i = 0;
  const publishFor = async (ms: number, prefix: string, record: boolean) => {
    const started = Date.now();
    for (let k = 0; Date.now() - started < ms; k += 1) {
      const due = started + k * interval;
      if (Date.now() < due) await sleep(due - Date.now());
      const e = event(k, prefix);
      if (record) publishedAt.set(e.id, Date.now());
      inflight.push(publish(herald.url, [e]));
      i += 1;
    }
  };
  await publishFor(warmUpMs, "warm", false);
  const started = Date.now();
  await publishFor(durationMs, "lat", true);
  await Promise.all(inflight);
  await waitUntil(() => herald.sentCount() >= i * 3, "herald deliveries in the latency run");
  const finished = Date.now();
  const rows = herald.runtime.db
    .prepare<[], { event_id: string; last: number }>("SELECT event_id, MAX(at) AS last FROM outcomes WHERE status = 'sent' AND event_id LIKE 'lat-%' GROUP BY event_id")
    .all();
  await herald.stop();
  const latencies = rows.map((row) => row.last - publishedAt.get(row.event_id)!).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { p50: at(0.5), p99: at(0.99), deliveredRate: publishedAt.size / ((finished - started) / 1000) };
}

/**
 * What the protocols alone cost on this machine: the same channel senders (in their
 * thread) sending the same messages straight to the same sinks (in theirs), each channel
 * at its concurrency cap, with no queue, store, ingest or idempotency. No runtime that
 * delivers over these protocols here can go faster than this.
 */
async function protocolFloor(count: number): Promise<number> {
  const vapid = (await import("web-push")).default.generateVAPIDKeys();
  const sinks = await startSinksInWorker({ vapidPublicKey: vapid.publicKey, smtp: true, twilio: true, onDelivery: () => {} });
  const env = sinkChannelEnv(sinks, vapid);
  const thread = await startSendersInWorker({ channels: channels.map((c) => c.name), env, logger: silent });
  const context = {
    registry: new SchemaRegistry(schemaSet),
    rules: compileRules(rules, channelRegistry()),
    directory: new InMemoryDirectory([{ ...recipient, contacts: { ...recipient.contacts, push: [await sinks.push.createSubscription()] } }]),
    limiter: new InMemoryFrequencyLimiter(),
  };
  const byChannel = new Map<string, ChannelMessage[]>();
  for (let i = 0; i < count; i += 1) {
    const result = await evaluateEvent(event(i, "floor"), context);
    if (!result.accepted) throw new Error("benchmark: the floor's sample event was rejected");
    for (const message of result.messages) byChannel.set(message.meta.channel, [...(byChannel.get(message.meta.channel) ?? []), message]);
  }
  const started = performance.now();
  await Promise.all(
    [...byChannel].map(async ([channel, messages]) => {
      const sender = thread.senders.get(channel)!;
      let next = 0;
      const cap = channels.find((c) => c.name === channel)!.defaults.concurrency;
      await Promise.all(Array.from({ length: cap }, async () => {
        while (next < messages.length) await sender.send(messages[next++]!);
      }));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await thread.close();
  await sinks.close();
  return count / seconds;
}

function hasRedis(): boolean {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

async function startRedis(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "herald-redis-"));
  const child: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""], { stdio: "ignore" });
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (spawnSync("redis-cli", ["-p", String(port), "ping"]).stdout?.toString().trim() === "PONG") break;
    await sleep(50);
  }
  return {
    port,
    async stop() {
      await new Promise((resolve) => {
        child.once("exit", resolve);
        child.kill("SIGTERM");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The same fan-out as herald's, on BullMQ: a rules queue, a queue per channel with its cap, retries with backoff. */
async function bullmqThroughput(count: number, prefix: string): Promise<number> {
  const redis = await startRedis();
  const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
  // The sinks run in a worker thread, as they do under herald, so both sides pay the same.
  const vapid = (await import("web-push")).default.generateVAPIDKeys();
  const sinks = await startSinksInWorker({ vapidPublicKey: vapid.publicKey, smtp: true, twilio: true, onDelivery: () => {} });
  const pushSink = sinks.push;
  const env = sinkChannelEnv(sinks, vapid);
  // The senders run in their own thread, as they do under herald.
  const senderThread = await startSendersInWorker({ channels: channels.map((c) => c.name), env, logger: silent });
  const senders = senderThread.senders;
  const context = {
    registry: new SchemaRegistry(schemaSet),
    rules: compileRules(rules, channelRegistry()),
    directory: new InMemoryDirectory([{ ...recipient, contacts: { ...recipient.contacts, push: [await pushSink.createSubscription()] } }]),
    limiter: new InMemoryFrequencyLimiter(),
  };
  const channelQueues = new Map(channels.map((c) => [c.name, new Queue(`${prefix}-${c.name}`, { connection })]));
  const rulesQueue = new Queue(`${prefix}-rules`, { connection });
  let delivered = 0;
  let lastFailure = "none";
  const workers = [
    new Worker(
      `${prefix}-rules`,
      async (job) => {
        const result = await evaluateEvent(job.data as object, context);
        if (!result.accepted) return;
        const byChannel = new Map<string, ChannelMessage[]>();
        for (const message of result.messages) byChannel.set(message.meta.channel, [...(byChannel.get(message.meta.channel) ?? []), message]);
        for (const [channel, messages] of byChannel) {
          const adapter = channels.find((c) => c.name === channel)!;
          await channelQueues.get(channel)!.addBulk(
            messages.map((message) => ({
              name: channel,
              data: message,
              // The idempotency key as job id: BullMQ's own dedupe of a repeated add.
              opts: { jobId: message.meta.idempotencyKey, attempts: adapter.defaults.maxAttempts, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true },
            })),
          );
        }
      },
      { connection, concurrency: 8 },
    ),
    ...channels.map(
      (adapter) =>
        new Worker(
          `${prefix}-${adapter.name}`,
          async (job) => {
            await senders.get(adapter.name)!.send(job.data as ChannelMessage);
            delivered += 1;
          },
          { connection, concurrency: adapter.defaults.concurrency },
        ),
    ),
  ];
  // The same ingest as herald's: HTTP, every event validated before it is queued, 202
  // only after the queue has it, so both sides measure ingest to delivered.
  const ingest = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      try {
        const batch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown[];
        const accepted = batch.map((item) => validateEvent(item, context.registry).event);
        rulesQueue
          .addBulk(accepted.map((e) => ({ name: "event", data: e, opts: { jobId: `${e.source}|${e.id}`.replace(/:/g, "_"), attempts: 5, removeOnComplete: true } })))
          .then(
            () => res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ accepted: accepted.length })),
            (error: Error) => res.writeHead(503).end(error.message),
          );
      } catch (error) {
        res.writeHead(400).end((error as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => ingest.listen(0, "127.0.0.1", resolve));
  const ingestUrl = `http://127.0.0.1:${(ingest.address() as { port: number }).port}`;
  const started = performance.now();
  for (let i = 0; i < count; i += 100) await publish(ingestUrl, Array.from({ length: Math.min(100, count - i) }, (_, k) => event(i + k, prefix)));
  for (const worker of workers) worker.on("failed", (_job, error) => (lastFailure = error.message));
  await waitUntil(() => delivered >= count * 3, `BullMQ deliveries (last failure: ${lastFailure})`);
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => ingest.close(resolve));
  await Promise.all(workers.map((worker) => worker.close()));
  await Promise.all([rulesQueue, ...channelQueues.values()].map((queue) => queue.close()));
  await senderThread.close();
  await sinks.close();
  await redis.stop();
  return count / seconds;
}

/** Waits for `check`, failing loudly after five minutes (a busy machine is slow, not stuck) instead of hanging the benchmark. */
async function waitUntil(check: () => boolean, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`benchmark: timed out waiting for ${what}`);
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
