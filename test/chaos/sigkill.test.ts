/**
 * Chaos: the runtime as users run it (`herald dev`, a child process), killed with SIGKILL
 * at random moments while events flow and restarted each time (short form 1,000 events
 * and 5 kills; HERALD_CHAOS=full 10,000 events and 20 kills). Every event must still be
 * delivered on every channel, nothing dead-lettered.
 *
 * A duplicate send is possible only for a send the kill caught between the provider's
 * acceptance and the idempotency record. After each kill, before the restart, the test
 * counts exactly those: keys still claimed (not completed) whose message the sink already
 * holds. The duplicates found at the end must not exceed that count.
 * (Moved here from test/runtime/local/crash.test.ts.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { databasePath, openDatabase } from "../../handlers/runtime/local/database";
import { freePort } from "../support/ports";
import { chaosEvent, inboxTally, publishUntilAcknowledged, range, reportCounts, scale, sleep, summarize } from "./chaos-support";

const EVENTS = scale(1_000, 10_000);
const KILLS = scale(5, 20);
const TAG = "kill";

class HeraldProcess {
  child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dataDir: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ["cli/bin/herald.js", "dev"], {
      env: { ...process.env, HERALD_PORT: String(this.port), HERALD_DATA_DIR: this.dataDir, HERALD_POLL_MS: "20", HERALD_RETRY_BASE_MS: "20", HERALD_LOG_LEVEL: "error" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let err = "";
      const timer = setTimeout(() => reject(new Error(`herald dev did not start: ${err}`)), 90_000);
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString();
        if (err.includes("listening on")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`herald dev exited with ${code}: ${err}`)));
    });
    child.removeAllListeners("exit");
  }

  kill(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child!;
    return new Promise((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.kill(signal);
    });
  }
}

/**
 * Sends the kill caught between send and record: the idempotency key is still claimed
 * while the sink already recorded the message (same tag and number, same channel). Run
 * on the dead runtime's store, before the restart.
 */
function sendsCaughtInWindow(dataDir: string): number {
  const db = openDatabase(databasePath(dataDir));
  try {
    const claimed = db.connection
      .prepare<[], { channel: string; text: string | null }>(
        `SELECT q.queue AS channel, CASE q.queue WHEN 'sms' THEN json_extract(q.body, '$.body') ELSE json_extract(q.body, '$.text') END AS text
           FROM idempotency_keys k JOIN queue_messages q ON json_extract(q.body, '$.meta.idempotencyKey') = k.key
          WHERE k.state = 'claimed' AND q.queue IN ('email', 'sms')`,
      )
      .all();
    if (claimed.length === 0) return 0;
    const tally = inboxTally(db, TAG);
    return claimed.filter((row) => {
      const n = new RegExp(`\\b${TAG} (\\d+)\\b`).exec(row.text ?? "")?.[1];
      return n !== undefined && (tally.get(row.channel)?.get(Number(n)) ?? 0) > 0;
    }).length;
  } finally {
    db.close();
  }
}

/** Messages the sinks have recorded so far (0 while the runtime is down). */
async function deliveredSoFar(url: string): Promise<number> {
  try {
    const status = (await (await fetch(`${url}/v1/status`)).json()) as { inbox: Record<string, number> };
    return Object.values(status.inbox).reduce((sum, n) => sum + n, 0);
  } catch {
    return 0;
  }
}

const dataDir = mkdtempSync(join(tmpdir(), "herald-chaos-kill-"));
let herald: HeraldProcess | undefined;
afterAll(async () => {
  if (herald?.child && herald.child.exitCode === null) await herald.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("chaos: SIGKILL at random moments", () => {
  it(`loses nothing when killed ${KILLS} times while ${EVENTS} events flow`, async () => {
    const startedAt = Date.now();
    herald = new HeraldProcess(await freePort(), dataDir);
    await herald.start();
    const url = () => `http://127.0.0.1:${herald!.port}`;

    const events = range(EVENTS).map((n) => chaosEvent(TAG, n));
    const publishing = publishUntilAcknowledged(url, events, 50);

    // Killer: SIGKILL at random moments spread over the whole flow: each kill waits for a
    // random share of all deliveries to have happened (so kills land while publishing and
    // while delivering, never all in the first second), then a random 0-300 ms more.
    const total = EVENTS * 2;
    const killAtDelivered = range(KILLS)
      .map(() => Math.floor(total * (0.02 + 0.9 * Math.random())))
      .sort((a, b) => a - b);
    const killedAt: number[] = [];
    let caughtInWindow = 0;
    for (const target of killAtDelivered) {
      while ((await deliveredSoFar(url())) < target) await sleep(50);
      await sleep(Math.random() * 300);
      killedAt.push(await deliveredSoFar(url()));
      await herald.kill("SIGKILL");
      caughtInWindow += sendsCaughtInWindow(dataDir);
      await herald.start();
    }
    await publishing;

    // Drain: every stage empty.
    const deadline = Date.now() + scale(150_000, 300_000);
    for (;;) {
      const status = (await (await fetch(`${url()}/v1/status`)).json()) as { stages: Record<string, { pending: number; delayed: number; inFlight: number }> };
      const busy = Object.values(status.stages).reduce((sum, s) => sum + s.pending + s.delayed + s.inFlight, 0);
      if (busy === 0) break;
      if (Date.now() > deadline) throw new Error(`not drained: ${JSON.stringify(status.stages)}`);
      await sleep(200);
    }
    expect(await herald.kill("SIGTERM")).toBe(0);

    const db = openDatabase(databasePath(dataDir), { readonly: true });
    const tally = inboxTally(db, TAG);
    const deadLettered = db.connection.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM dead_letters").get()!.n;
    db.close();
    const counts = summarize(tally, { email: range(EVENTS), sms: range(EVENTS) });
    reportCounts("sigkill", { ...counts, deadLettered, kills: KILLS, sendsCaughtBetweenSendAndRecord: caughtInWindow, killedAtDelivered: killedAt.join(" ") }, startedAt);

    expect(counts.published).toBe(EVENTS * 2);
    expect(counts.lost).toBe(0);
    expect(deadLettered).toBe(0);
    // A duplicate needs a kill between a provider's acceptance and the record of it.
    expect(counts.duplicates).toBeLessThanOrEqual(caughtInWindow);
  }, scale(300_000, 900_000));
});
