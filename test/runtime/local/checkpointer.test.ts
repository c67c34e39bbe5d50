/**
 * The checkpoint thread: the runtime's connection never checkpoints on its own (SQLite's
 * automatic checkpoints are off on it), and the thread's second connection keeps the WAL
 * copied into the database file, so the WAL starts over instead of growing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { restartDue, startCheckpointer, type Checkpointer } from "../../../handlers/runtime/local/checkpointer";
import { openDatabase, type Database } from "../../../handlers/runtime/local/database";
import type { Logger } from "../../../handlers/core/ports";

const MiB = 1024 * 1024;
const ROOT = join(__dirname, "../../..");
const warnings: string[] = [];
const logger: Logger = { debug: () => {}, info: () => {}, warn: (_f, m) => void warnings.push(m), error: (_f, m) => void warnings.push(m) };

describe("the checkpoint thread", () => {
  let dir: string;
  let db: Database | undefined;
  let checkpointer: Checkpointer | undefined;
  afterEach(async () => {
    await checkpointer?.stop();
    db?.close();
    checkpointer = undefined;
    db = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): { wal: () => number; restarts: () => number } {
    dir = mkdtempSync(join(tmpdir(), "herald-ckpt-"));
    db = openDatabase(join(dir, "herald.db"), { manualCheckpoints: true });
    db.connection.exec("CREATE TABLE blobs (body TEXT)");
    const walPath = `${db.path}-wal`;
    return {
      wal: () => statSync(walPath).size,
      // The WAL header's checkpoint sequence number (bytes 12-15) goes up each time the WAL starts over.
      restarts: () => readFileSync(walPath).readUInt32BE(12),
    };
  }
  /**
   * About `mib` MiB of committed writes, in transactions of 64 KiB with a few ms between
   * them: about 12 MiB/s, a busy runtime's pace (a burst's deliveries write less).
   */
  async function write(mib: number): Promise<void> {
    const insert = db!.connection.prepare("INSERT INTO blobs (body) VALUES (?)");
    for (let i = 0; i < mib * 16; i += 1) {
      db!.connection.transaction(() => insert.run("x".repeat(64 * 1024)))();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("without it, the runtime's connection lets the WAL grow: it never checkpoints on its own", async () => {
    const { wal } = open();
    await write(12);
    // SQLite's automatic checkpoint would have started the WAL over at about 4 MiB.
    expect(wal()).toBeGreaterThan(12 * MiB);
  });

  it("copies the WAL into the file while the runtime writes, so the WAL starts over", async () => {
    const { restarts } = open();
    checkpointer = await startCheckpointer(db!.path, logger, { intervalMs: 20 });
    const before = restarts();
    await write(12);
    expect(checkpointer.checkpoints).toBeGreaterThan(0);
    // Without the thread the WAL never starts over and holds all 12 MiB (the test above).
    expect(restarts()).toBeGreaterThan(before);
    expect(db!.connection.prepare("SELECT COUNT(*) AS n FROM blobs").get()).toEqual({ n: 192 });
    expect(warnings).toEqual([]);
  });

  /** Commits of 4 KiB, back to back (yielding to the loop between them), for `ms`; returns the bytes written. */
  async function writeWithoutPause(ms: number, between: () => void = () => {}): Promise<number> {
    const insert = db!.connection.prepare("INSERT INTO blobs (body) VALUES (?)");
    let written = 0;
    const until = Date.now() + ms;
    while (Date.now() < until) {
      db!.connection.transaction(() => insert.run("x".repeat(4 * 1024)))();
      written += 4 * 1024;
      between();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return written;
  }

  it("makes the WAL start over past its bound even when commits never leave the copy a moment to catch up", async () => {
    const { restarts } = open();
    // 256 pages: 1 MiB.
    checkpointer = await startCheckpointer(db!.path, logger, { intervalMs: 20, restartFrames: 256 });
    const before = restarts();
    const written = await writeWithoutPause(800);
    expect(written).toBeGreaterThan(2 * MiB);
    // Several times: without the RESTART, a PASSIVE pass never finds the WAL fully
    // copied when a commit begins, and the WAL never starts over (about six times what
    // was written, since each commit appends whole table and index pages).
    expect(restarts()).toBeGreaterThan(before + 1);
  });

  it("stops before the runtime closes, and the runtime's close leaves a complete file and no WAL", async () => {
    open();
    checkpointer = await startCheckpointer(db!.path, logger, { intervalMs: 20 });
    await write(2);
    await checkpointer.stop();
    const path = db!.path;
    db!.close();
    db = undefined;
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = openDatabase(path);
    expect(reopened.connection.prepare("SELECT COUNT(*) AS n FROM blobs").get()).toEqual({ n: 32 });
    reopened.close();
  });

  it("keeps a process that has nothing else to wait for alive until the thread has closed", () => {
    open();
    // The thread does not hold the process open while it runs; stop() must, or a process
    // whose last work is stopping the runtime exits mid-stop with its store still open.
    const script = `
      const { startCheckpointer } = require("./handlers/runtime/local/checkpointer.ts");
      const quiet = { debug() {}, info() {}, warn() {}, error() {} };
      startCheckpointer(${JSON.stringify(db!.path)}, quiet).then((c) => c.stop()).then(() => console.log("stopped"));
    `;
    const result = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("stopped");
  });

  it("refuses to start on a database that is not there, saying which", async () => {
    dir = mkdtempSync(join(tmpdir(), "herald-ckpt-"));
    const missing = join(dir, "nope", "herald.db");
    await expect(startCheckpointer(missing, logger)).rejects.toThrow(missing);
  });
});

describe("restartDue: when the checkpoint thread may hold the runtime's commits up", () => {
  const options = { restartFrames: 4_096, calmIngests: 4, hardFrames: 65_536 };
  it("waits while a burst of events arrives, however big the WAL below the hard bound", () => {
    expect(restartDue(10_000, 50, options)).toBe(false);
    expect(restartDue(65_535, 5, options)).toBe(false);
  });
  it("restarts a WAL past its bound once ingest is calm, and not a small one", () => {
    expect(restartDue(4_096, 4, options)).toBe(true);
    expect(restartDue(4_096, 0, options)).toBe(true);
    expect(restartDue(4_095, 0, options)).toBe(false);
  });
  it("restarts past the hard bound whatever is arriving", () => {
    expect(restartDue(65_536, 10_000, options)).toBe(true);
  });
});
