/**
 * The burst profile: the local runtime (started as `herald dev` starts it, in its own
 * process; see burst-runtime.ts) under a steady baseline of events with bursts at 25
 * times the baseline, as traffic arrives in practice (a campaign, a batch job's output).
 *
 * The load generator is open-loop: every publish has a scheduled time and is sent then,
 * whether or not earlier publishes have been answered, over a bounded pool of keep-alive
 * connections (a publish waiting for a free connection is still late: its latency counts
 * from its scheduled time, so a stalled server cannot hide its stall by slowing the
 * generator down). One event per request, as a producer emitting events one by one sends.
 *
 * Reported: ingest acknowledgement latency (scheduled send to the 202) p50/p95/p99 over
 * the whole profile, backlog drain time (from the end of the last burst until every
 * notification of every event published up to then is recorded as sent; the baseline
 * keeps flowing meanwhile, as it would), and the runtime process's peak RSS. Each is the
 * median over repeated runs, each run on a fresh runtime and data directory. The run with
 * the median p95 is drawn as bench/results/burst.svg (and docs/burst.svg in a full run).
 * HERALD_BENCH_DEBUG=1 prints every backlog sample and every failed publish;
 * HERALD_BENCH_CPU_PROF=<dir> writes a CPU profile of the runtime process there.
 */
import { fork, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus } from "node:os";
import { join } from "node:path";
import { burstChart } from "../burst-chart";
import { median, type Figure, type Suite } from "../measure";
import type { BurstRuntimeReply, BurstRuntimeRequest } from "./burst-runtime";
import { event } from "./local-runtime";

/** Events per second between bursts. */
export const BASELINE_RATE = 20;
/** Events per second during a burst: 25 times the baseline. */
export const BURST_RATE = 25 * BASELINE_RATE;
const NOTIFICATIONS_PER_EVENT = 3;
/** The keep-alive connections the generator may open at once. */
const CONNECTIONS = 32;
const SAMPLE_MS = 100;

export interface BurstProfile {
  /** At the baseline before the profile, not counted. */
  readonly warmUpMs: number;
  /** At the baseline before the first burst. */
  readonly leadMs: number;
  readonly burstMs: number;
  /** At the baseline between bursts. */
  readonly gapMs: number;
  readonly bursts: number;
  /** How long after the last burst its backlog may take to drain before the run gives up. */
  readonly drainTimeoutMs: number;
}

export const FULL_PROFILE: BurstProfile = { warmUpMs: 3_000, leadMs: 5_000, burstMs: 1_500, gapMs: 8_000, bursts: 3, drainTimeoutMs: 90_000 };
/** The smoke run: the same rates, shorter bursts, so the backlog stays small. */
export const QUICK_PROFILE: BurstProfile = { warmUpMs: 1_000, leadMs: 1_000, burstMs: 200, gapMs: 1_500, bursts: 2, drainTimeoutMs: 20_000 };

/** One publish: when it was due and sent (ms from the profile's start), when its answer came, and what it was. */
export interface Publish {
  readonly due: number;
  sentAt?: number;
  ackAt?: number;
  status?: number;
  error?: string;
}

/** What one run of the profile measured, enough to draw it. */
export interface BurstRun {
  readonly profile: BurstProfile;
  readonly publishes: readonly Publish[];
  /** When each burst ran, ms from the start. */
  readonly bursts: ReadonlyArray<{ readonly start: number; readonly end: number }>;
  /** Backlog depth over time: notifications acknowledged at ingest and not yet sent. */
  readonly backlog: ReadonlyArray<{ readonly t: number; readonly notifications: number }>;
  /** End of the last burst and the moment its backlog was gone, ms from the start. */
  readonly lastBurstEnd: number;
  readonly drainedAt: number;
  readonly peakRssBytes: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  /** How late the generator itself sent, p99 (its timer, not the server): small means the schedule was kept. */
  readonly generatorLagP99: number;
  /** Publishes sent a second time because their kept-alive connection had just been closed by the server. */
  readonly retried: number;
}

export const burst: Suite = {
  name: "burst",
  async run({ quick }) {
    const profile = quick ? QUICK_PROFILE : FULL_PROFILE;
    const repeats = quick ? 1 : 3;
    const runs: BurstRun[] = [];
    for (let r = 0; r < repeats; r += 1) runs.push(await runProfile(profile, r));

    const stat = (pick: (run: BurstRun) => number) => {
      const values = runs.map(pick);
      return { value: median(values), spread: [Math.min(...values), Math.max(...values)] as [number, number] };
    };
    const p95 = stat((run) => run.p95);
    const shape = `${BASELINE_RATE} events/s, ${profile.bursts} bursts of ${BURST_RATE} events/s x ${profile.burstMs / 1000} s`;
    const figures: Figure[] = [
      { id: "burst.ack-p50-ms", label: `ingest ack p50, ${shape}`, unit: "ms", ...stat((run) => run.p50) },
      { id: "burst.ack-p95-ms", label: "ingest ack p95, same profile", unit: "ms", ...p95, goal: "< 50", met: p95.value < 50 },
      { id: "burst.ack-p99-ms", label: "ingest ack p99, same profile", unit: "ms", ...stat((run) => run.p99) },
      { id: "burst.ack-max-ms", label: "ingest ack slowest, same profile", unit: "ms", ...stat((run) => run.max) },
      {
        id: "burst.drain-s",
        label: "backlog drain after the last burst (all its notifications sent)",
        unit: "s",
        // A run that did not drain counts as its time limit, and the row says so.
        ...stat((run) => (Number.isNaN(run.drainedAt) ? profile.drainTimeoutMs : run.drainedAt - run.lastBurstEnd) / 1000),
        goal: `drained within ${profile.drainTimeoutMs / 1000} s`,
        met: runs.every((run) => !Number.isNaN(run.drainedAt)),
      },
      { id: "burst.peak-backlog", label: "peak backlog (notifications acknowledged, not yet sent)", unit: "notifications", ...stat((run) => Math.max(...run.backlog.map((b) => b.notifications))) },
      { id: "burst.peak-rss", label: "peak RSS of the runtime process (sender and sink threads included)", unit: "MiB", ...stat((run) => run.peakRssBytes / 2 ** 20) },
      { id: "burst.errors", label: "publishes not acknowledged with 2xx", unit: "requests", ...stat((run) => run.errors), goal: "= 0", met: runs.every((run) => run.errors === 0) },
      { id: "burst.retried", label: "publishes resent once: idle keep-alive connection closed by the server as it was reused", unit: "requests", ...stat((run) => run.retried) },
      { id: "burst.generator-lag-p99-ms", label: "load generator's own lateness p99 (schedule kept if small)", unit: "ms", ...stat((run) => run.generatorLagP99) },
    ];

    // Draw the run whose p95 is the median one.
    const drawn = [...runs].sort((a, b) => a.p95 - b.p95)[Math.floor(runs.length / 2)]!;
    const svg = burstChart(drawn, {
      machine: `${cpus().length} x ${cpus()[0]?.model.trim() ?? "unknown CPU"}`,
      node: process.version,
      date: new Date().toISOString().slice(0, 10),
      baselineRate: BASELINE_RATE,
      burstRate: BURST_RATE,
      notificationsPerEvent: NOTIFICATIONS_PER_EVENT,
    });
    mkdirSync("bench/results", { recursive: true });
    writeFileSync("bench/results/burst.svg", svg);
    process.stderr.write("burst: wrote bench/results/burst.svg\n");
    // The committed picture in the README comes from a full run only, never a smoke run.
    if (!quick) {
      mkdirSync("docs", { recursive: true });
      copyFileSync("bench/results/burst.svg", join("docs", "burst.svg"));
      process.stderr.write("burst: copied it to docs/burst.svg\n");
    }
    return figures;
  },
};

/** The runtime in its own process, and a way to ask it for its counters. */
async function startRuntime(): Promise<{
  url: string;
  stats(upTo?: string): Promise<Extract<BurstRuntimeReply, { kind: "stats" }>>;
  stop(): Promise<number>;
}> {
  const child: ChildProcess = fork(join(__dirname, "burst-runtime.ts"), [], { execArgv: ["--require", "tsx/cjs", ...profiling()], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const waiting: Array<(reply: BurstRuntimeReply) => void> = [];
  let exited: string | undefined;
  child.on("message", (reply: BurstRuntimeReply) => waiting.shift()?.(reply));
  child.on("exit", (code, signal) => {
    exited = `the runtime process exited (${signal ?? code})`;
    for (const waiter of waiting.splice(0)) waiter({ kind: "stopped", maxRss: Number.NaN });
  });
  const ask = (message: BurstRuntimeRequest | undefined): Promise<BurstRuntimeReply> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(`benchmark: ${exited}`));
      waiting.push(resolve);
      if (message) child.send(message);
    });
  const ready = await ask(undefined);
  if (ready.kind !== "ready") throw new Error(`benchmark: ${exited ?? "the runtime process did not start"}`);
  return {
    url: ready.url,
    async stats(upTo) {
      const reply = await ask({ kind: "stats", ...(upTo ? { upTo } : {}) });
      if (reply.kind !== "stats") throw new Error(`benchmark: ${exited ?? "unexpected reply from the runtime process"}`);
      return reply;
    },
    async stop() {
      const reply = await ask({ kind: "stop" });
      return reply.kind === "stopped" ? reply.maxRss : Number.NaN;
    },
  };
}

/** HERALD_BENCH_CPU_PROF=<dir> writes a CPU profile of the runtime's main thread there, to see what bounds it. */
function profiling(): string[] {
  const dir = process.env.HERALD_BENCH_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** The profile's schedule before the tail: [start, end, rate] per phase, ms from the start. */
function phases(profile: BurstProfile): Array<{ start: number; end: number; rate: number }> {
  const list: Array<{ start: number; end: number; rate: number }> = [];
  let t = 0;
  const add = (ms: number, rate: number) => {
    list.push({ start: t, end: t + ms, rate });
    t += ms;
  };
  add(profile.leadMs, BASELINE_RATE);
  for (let b = 0; b < profile.bursts; b += 1) {
    if (b > 0) add(profile.gapMs, BASELINE_RATE);
    add(profile.burstMs, BURST_RATE);
  }
  return list;
}

async function runProfile(profile: BurstProfile, run: number): Promise<BurstRun> {
  const runtime = await startRuntime();
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let acked = 0;
  let retried = 0;
  const post = (body: string, record: Publish, origin: number, retry = true): Promise<void> =>
    new Promise<void>((resolve) => {
      record.sentAt ??= performance.now() - origin;
      const req = request(`${runtime.url}/v1/events`, { method: "POST", agent, headers: { "content-type": "application/cloudevents+json", "content-length": Buffer.byteLength(body) } }, (response) => {
        response.resume();
        response.on("end", () => {
          record.ackAt = performance.now() - origin;
          record.status = response.statusCode ?? 0;
          if (acknowledged(record)) acked += 1;
          resolve();
        });
      });
      req.on("error", (error) => {
        // A kept-alive connection the server closed as idle just as it was reused: send
        // again once, as an HTTP client should (a publish is idempotent by event id). The
        // latency still counts from the scheduled time.
        if (retry && req.reusedSocket && ((error as NodeJS.ErrnoException).code === "ECONNRESET" || error.message === "socket hang up")) {
          retried += 1;
          resolve(post(body, record, origin, false));
          return;
        }
        record.ackAt = performance.now() - origin;
        record.error = error.message;
        resolve();
      });
      req.end(body);
    });

  /**
   * Sends on schedule: `due(k)` is the k-th publish's time (ms from `origin`), or
   * undefined when the phase is over; `until` ends an open-ended phase.
   */
  const inflight: Promise<void>[] = [];
  const generate = async (origin: number, prefix: string, due: (k: number) => number | undefined, into: Publish[], until?: () => boolean) => {
    for (let k = 0; ; k += 1) {
      const at = due(k);
      if (at === undefined || until?.()) return k;
      // Timers round to whole milliseconds and may fire a little early: never send before the due time.
      for (let wait = at - (performance.now() - origin); wait > 0; wait = at - (performance.now() - origin)) await sleep(Math.ceil(wait));
      const record: Publish = { due: at };
      into.push(record);
      inflight.push(post(JSON.stringify(event(k, prefix)), record, origin));
    }
  };

  try {
    // Warm-up at the baseline, not counted: the first seconds pay for compilation and
    // opening provider connections, a start-up cost rather than the burst's.
    const warm: Publish[] = [];
    const warmOrigin = performance.now();
    await generate(warmOrigin, `w${run}`, (k) => (k * 1000) / BASELINE_RATE < profile.warmUpMs ? (k * 1000) / BASELINE_RATE : undefined, warm);
    await Promise.all(inflight.splice(0));
    await waitFor(async () => (await runtime.stats()).sent >= acked * NOTIFICATIONS_PER_EVENT, 60_000, "the warm-up's deliveries");

    const publishes: Publish[] = [];
    const backlog: Array<{ t: number; notifications: number }> = [];
    const schedule = phases(profile);
    const lastBurstEnd = schedule.at(-1)!.end;
    const origin = performance.now();
    const main = `b${run}`;
    let mainAcked: number | undefined;
    let drainedAt: number | undefined;
    // Sample the backlog, and see when the events published up to the last burst are done.
    let sampling = true;
    let samplerFailure: unknown;
    const sampler = (async () => {
      while (sampling && samplerFailure === undefined) {
        const stats = await runtime.stats(main);
        const t = performance.now() - origin;
        backlog.push({ t, notifications: Math.max(0, acked * NOTIFICATIONS_PER_EVENT - stats.sent) });
        if (process.env.HERALD_BENCH_DEBUG) process.stderr.write(`${Math.round(t)} ms: acked ${acked} sent ${stats.sent} sentUpTo ${stats.sentUpTo} mainAcked ${mainAcked}\n`);
        if (drainedAt === undefined && mainAcked !== undefined && stats.sentUpTo >= mainAcked * NOTIFICATIONS_PER_EVENT) drainedAt = t;
        await sleep(SAMPLE_MS);
      }
    })().catch((error: unknown) => {
      // The runtime died: stop publishing too, and fail the run below.
      samplerFailure = error;
    });

    // The schedule: each phase's publishes evenly spaced at its rate.
    const times: number[] = [];
    for (const phase of schedule) for (let t = phase.start; t < phase.end - 1e-9; t += 1000 / phase.rate) times.push(t);
    await generate(origin, main, (k) => times[k], publishes);
    const mainPublishes = publishes.slice();
    const mainInflight = inflight.slice();
    // The baseline goes on while the backlog drains.
    const deadline = lastBurstEnd + profile.drainTimeoutMs;
    const tail = generate(origin, `t${run}`, (k) => lastBurstEnd + (k * 1000) / BASELINE_RATE, publishes, () => drainedAt !== undefined || samplerFailure !== undefined || performance.now() - origin > deadline);
    await Promise.all(mainInflight);
    mainAcked = mainPublishes.filter(acknowledged).length;
    await tail;
    sampling = false;
    await sampler;
    await Promise.all(inflight.splice(0));
    if (samplerFailure !== undefined) throw samplerFailure;
    if (process.env.HERALD_BENCH_DEBUG) for (const p of publishes.filter((p) => !acknowledged(p))) process.stderr.write(`failed publish due ${p.due} sent ${p.sentAt} answered ${p.ackAt}: ${p.status ?? p.error}\n`);

    const latencies = publishes.filter(acknowledged).map((p) => p.ackAt! - p.due).sort((a, b) => a - b);
    const lags = publishes.map((p) => p.sentAt! - p.due).sort((a, b) => a - b);
    const peakRssBytes = await runtime.stop();
    return {
      profile,
      publishes,
      bursts: schedule.filter((phase) => phase.rate === BURST_RATE).map(({ start, end }) => ({ start, end })),
      backlog,
      lastBurstEnd,
      drainedAt: drainedAt ?? Number.NaN,
      peakRssBytes,
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      p99: quantile(latencies, 0.99),
      max: latencies.at(-1) ?? Number.NaN,
      errors: publishes.filter((p) => !acknowledged(p)).length,
      generatorLagP99: quantile(lags, 0.99),
      retried,
    };
  } catch (error) {
    await runtime.stop().catch(() => undefined);
    throw error;
  } finally {
    agent.destroy();
  }
}

/** Answered with a 2xx: the runtime has stored it. */
export function acknowledged(publish: Publish): boolean {
  return publish.status !== undefined && publish.status >= 200 && publish.status < 300;
}

/** The q-quantile of sorted values (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`benchmark: timed out waiting for ${what}`);
    await sleep(SAMPLE_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
