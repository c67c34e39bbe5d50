import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { databasePath, openDatabase } from "../../../handlers/runtime/local/database";
import { SqliteQueues } from "../../../handlers/runtime/local/sqlite-queue";
import { tempDataDir } from "./temp-database";

const ROOT = resolve(__dirname, "../../..");
const LOCAL = join(ROOT, "handlers/runtime/local");

describe("SqliteQueues durability", () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDataDir()));
  afterEach(() => cleanup());

  it("keeps an unacknowledged message across connections: it comes back once its lease runs out", () => {
    const path = databasePath(dir);
    const first = openDatabase(path);
    const before = new SqliteQueues(first);
    before.enqueue("email", { to: "ada@example.com" });
    const [held] = before.lease("email", 1, 10_000);
    expect(held).toBeDefined();
    // No ack, no close: the holder is gone as far as anyone can tell.

    const second = openDatabase(path);
    try {
      const leasedAt = held!.leaseExpiresAtMs - 10_000;
      let now = leasedAt + 9_999;
      const after = new SqliteQueues(second, { now: () => now });
      expect(after.stats("email").email).toMatchObject({ inFlight: 1, pending: 0 });
      expect(after.lease("email", 10, 10_000)).toEqual([]);
      now = leasedAt + 10_000;
      const [back] = after.lease("email", 10, 10_000);
      expect(back).toMatchObject({ id: held!.id, body: { to: "ada@example.com" }, attempt: 2 });
      expect(before.ack(held!.id, held!.token)).toBe(false);
      expect(after.ack(back!.id, back!.token)).toBe(true);
    } finally {
      second.close();
      first.close();
    }
  });

  it("loses nothing when a process is SIGKILLed holding leases and in the middle of writing batches", async () => {
    const path = databasePath(dir);
    const setup = openDatabase(path);
    const seeded = new SqliteQueues(setup).enqueueMany(Array.from({ length: 10 }, (_, i) => ({ queue: "email", body: { seeded: i } })));
    setup.close();

    // The child leases every seeded message (60 s leases), then writes 10-message batches
    // as fast as it can until it is killed, reporting each committed batch.
    const child = spawn(
      process.execPath,
      [
        "--require",
        "tsx/cjs",
        "-e",
        `
        const { openDatabase } = require(${JSON.stringify(join(LOCAL, "database.ts"))});
        const { SqliteQueues } = require(${JSON.stringify(join(LOCAL, "sqlite-queue.ts"))});
        const queues = new SqliteQueues(openDatabase(${JSON.stringify(path)}));
        const leased = queues.lease("email", 100, 60000);
        process.stdout.write("leased " + leased.length + "\\n");
        let batch = 0;
        (function loop() {
          queues.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ queue: "rules", body: { batch, i } })));
          process.stdout.write("committed " + batch + "\\n");
          batch += 1;
          setImmediate(loop);
        })();
        `,
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((done) => child.on("exit", (_code, signal) => done(signal)));
    await new Promise<void>((ready, fail) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/committed 50\n/.test(stdout)) ready();
      });
      child.on("exit", () => fail(new Error(`child exited early: ${stderr}`)));
    });
    // Mid-stream: the WAL holds commits not yet checkpointed into the main file.
    expect(existsSync(`${path}-wal`)).toBe(true);
    // Kill at an instant unrelated to the child's batch boundaries.
    await new Promise((wait) => setTimeout(wait, 20 + Math.random() * 30));
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(stdout).toMatch(/^leased 10\n/);
    const reported = Math.max(...[...stdout.matchAll(/committed (\d+)\n/g)].map((m) => Number(m[1])));

    const db = openDatabase(path);
    try {
      let now = Date.now();
      const queues = new SqliteQueues(db, { now: () => now });
      // The dead child's leases still stand...
      expect(queues.stats("email").email).toMatchObject({ inFlight: 10, pending: 0 });
      // ...until they run out; then every seeded message is back, one attempt used.
      now += 60_001;
      const back = queues.lease("email", 100, 30_000);
      expect(back.map((m) => m.id)).toEqual(seeded);
      expect(back.every((m) => m.attempt === 2)).toBe(true);

      // Every batch the child reported is there, and no batch is there in part.
      const rules = queues.lease<{ batch: number; i: number }>("rules", 1_000_000, 30_000);
      const sizes = new Map<number, number>();
      for (const message of rules) sizes.set(message.body.batch, (sizes.get(message.body.batch) ?? 0) + 1);
      const batches = [...sizes.keys()].sort((a, b) => a - b);
      expect(batches.length).toBeGreaterThanOrEqual(reported + 1);
      console.log(`[durability] child reported ${reported + 1} committed batches before SIGKILL; ${batches.length} found after, none partial`);
      expect(batches).toEqual(batches.map((_, i) => i));
      expect([...sizes.values()].every((n) => n === 10)).toBe(true);
    } finally {
      db.close();
    }
  });
});
