/**
 * The runtime's WAL checkpoints: none while a burst arrives (until the hard bound), one
 * once ingest is calm, and SQLite's own automatic ones off on the runtime's connection.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Checkpointer } from "../../../handlers/runtime/local/checkpointer";
import { openDatabase, type Database } from "../../../handlers/runtime/local/database";

describe("Checkpointer", () => {
  let dir: string;
  let db: Database;
  afterEach(() => {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): { wal: () => number } {
    dir = mkdtempSync(join(tmpdir(), "herald-ckpt-"));
    db = openDatabase(join(dir, "herald.db"), { exclusive: true, manualCheckpoints: true });
    db.connection.exec("CREATE TABLE blobs (body TEXT)");
    return { wal: () => statSync(`${db.path}-wal`).size };
  }
  /** About `mib` MiB of committed writes, in transactions of 64 KiB. */
  function write(mib: number): void {
    const insert = db.connection.prepare("INSERT INTO blobs (body) VALUES (?)");
    for (let i = 0; i < mib * 16; i += 1) db.connection.transaction(() => insert.run("x".repeat(64 * 1024)))();
  }

  it("leaves the WAL alone while SQLite's automatic checkpoint would have run and a burst arrives, then checkpoints once ingest is calm", () => {
    const { wal } = open();
    const checkpointer = new Checkpointer(db, { softBytes: 1024 * 1024, calmIngests: 10 });
    write(6);
    // With automatic checkpoints (every 1,000 pages, about 4 MiB) the WAL would have been reset.
    expect(wal()).toBeGreaterThan(5 * 1024 * 1024);
    checkpointer.noteIngest(50);
    expect(checkpointer.tick()).toBe(false);
    expect(wal()).toBeGreaterThan(5 * 1024 * 1024);
    // A baseline's few events between two looks are calm.
    checkpointer.noteIngest(5);
    expect(checkpointer.tick()).toBe(true);
    expect(wal()).toBe(0);
    // Everything written is still there after the checkpoint.
    expect(db.connection.prepare("SELECT COUNT(*) AS n FROM blobs").get()).toEqual({ n: 96 });
  });

  it("checkpoints past the hard bound even while a burst keeps arriving, and not below the soft one", () => {
    const { wal } = open();
    const checkpointer = new Checkpointer(db, { softBytes: 1024 * 1024, hardBytes: 3 * 1024 * 1024, calmIngests: 10 });
    write(0.5);
    expect(checkpointer.tick()).toBe(false);
    write(3);
    checkpointer.noteIngest(500);
    expect(checkpointer.tick()).toBe(true);
    expect(wal()).toBe(0);
    expect(checkpointer.checkpoints).toBe(1);
  });
});
