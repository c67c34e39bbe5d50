/**
 * The runtime as users run it (`herald dev`, a child process), killed with SIGKILL at
 * random moments while 2,000 events flow, restarted each time: every event must still be
 * delivered on every channel. Duplicates are possible only for sends the kill caught
 * between the provider's acceptance and the idempotency record; they are counted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../../handlers/runtime/local/database";

const EVENTS = 2_000;
const KILLS = 4;
const base = JSON.parse(readFileSync("schemas/events/herald.test_notification/examples/v1-email-and-sms.json", "utf8"));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
      const timer = setTimeout(() => reject(new Error(`herald dev did not start: ${err}`)), 30_000);
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

const dataDir = mkdtempSync(join(tmpdir(), "herald-crash-"));
let herald: HeraldProcess | undefined;
afterAll(async () => {
  if (herald?.child && herald.child.exitCode === null) await herald.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("herald dev under SIGKILL", () => {
  it(`loses nothing when killed ${KILLS} times while ${EVENTS} events flow`, async () => {
    herald = new HeraldProcess(await freePort(), dataDir);
    await herald.start();
    const url = `http://127.0.0.1:${herald.port}`;

    // Publisher: batches of 50, each retried until acknowledged (the runtime may be down;
    // ingest dedupes by (source, id), so a retry after an unknown outcome is safe).
    let published = 0;
    const publishing = (async () => {
      for (let start = 0; start < EVENTS; start += 50) {
        const batch = Array.from({ length: Math.min(50, EVENTS - start) }, (_, k) => ({
          ...base,
          id: `crash-${start + k}`,
          data: { contacts: base.data.contacts, message: `crash ${start + k}` },
        }));
        for (;;) {
          try {
            const response = await fetch(`${url}/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(batch) });
            if (response.status === 202) break;
          } catch {
            // down: try again shortly
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        published += batch.length;
      }
    })();

    // Killer: SIGKILL at random moments, restart each time.
    const killedAt: number[] = [];
    for (let kill = 0; kill < KILLS; kill += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 900));
      killedAt.push(published);
      await herald.kill("SIGKILL");
      await herald.start();
    }
    await publishing;

    // Drain: every stage empty.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const status = (await (await fetch(`${url}/v1/status`)).json()) as { stages: Record<string, { pending: number; delayed: number; inFlight: number }> };
      const busy = Object.values(status.stages).reduce((sum, s) => sum + s.pending + s.delayed + s.inFlight, 0);
      if (busy === 0) break;
      if (Date.now() > deadline) throw new Error(`not drained: ${JSON.stringify(status.stages)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await herald.kill("SIGTERM")).toBe(0);

    const db = openDatabase(join(dataDir, "herald.db"), { readonly: true });
    const rows = db
      .prepare<[], { channel: string; message: string; n: number }>(
        `SELECT channel, CASE channel WHEN 'sms' THEN json_extract(content, '$.body') ELSE trim(json_extract(content, '$.text')) END AS message, COUNT(*) AS n
         FROM inbox GROUP BY channel, message`,
      )
      .all();
    const deadLetters = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM dead_letters").get()!.n;
    db.close();
    const delivered = (channel: string) => new Set(rows.filter((r) => r.channel === channel).map((r) => /crash (\d+)/.exec(r.message)?.[1]));
    const duplicates = rows.reduce((sum, r) => sum + r.n - 1, 0);
    const lost = { email: EVENTS - delivered("email").size, sms: EVENTS - delivered("sms").size };
    console.log(`crash test: published ${EVENTS}, kills at ${killedAt.join(", ")} events published, delivered email ${delivered("email").size} sms ${delivered("sms").size}, duplicates ${duplicates}, dead-lettered ${deadLetters}, lost ${lost.email + lost.sms}`);

    expect(lost).toEqual({ email: 0, sms: 0 });
    expect(deadLetters).toBe(0);
    // A duplicate needs a kill between a provider's acceptance and the record of it: at
    // most the sends in flight at each kill (email cap 10 + sms cap 5).
    expect(duplicates).toBeLessThanOrEqual(KILLS * 15);
  }, 240_000);
});
