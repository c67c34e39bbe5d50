import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  databasePath,
  isStoreUnavailable,
  MIGRATIONS,
  openDatabase,
  StoreUnavailableError,
} from "../../../handlers/runtime/local/database";
import { SqliteQueues } from "../../../handlers/runtime/local/sqlite-queue";
import { SqliteDirectory, SqliteEventLog, SqliteIdempotencyStore } from "../../../handlers/runtime/local/sqlite-stores";
import { tempDataDir } from "./temp-database";

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("openDatabase", () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDataDir()));
  afterEach(() => cleanup());

  it("creates the data directory and a WAL database with the herald pragmas and the latest schema", () => {
    const path = databasePath(join(dir, "nested", "data"));
    const db = openDatabase(path);
    try {
      const pragma = (name: string) => db.connection.pragma(name, { simple: true });
      expect(pragma("journal_mode")).toBe("wal");
      expect(pragma("synchronous")).toBe(1); // NORMAL
      expect(pragma("foreign_keys")).toBe(1);
      expect(pragma("busy_timeout")).toBe(5_000);
      expect(db.schemaVersion).toBe(MIGRATIONS.length);
      const tables = db.connection.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(["schema_version", "queue_messages", "dead_letters", "idempotency_keys", "recipients", "suppressions", "frequency_window", "ingested_events", "counters", "outcomes"]));
    } finally {
      db.close();
      db.close();
    }
  });

  it("applies only the migrations appended since the file was last opened, and refuses a newer file", () => {
    const path = databasePath(dir);
    openDatabase(path).close();
    const later = [...MIGRATIONS, "CREATE TABLE later_feature (x INTEGER)"];
    const upgraded = openDatabase(path, { migrations: later });
    expect(upgraded.schemaVersion).toBe(MIGRATIONS.length + 1);
    expect(upgraded.connection.prepare<[], { n: number }>("SELECT count(*) AS n FROM schema_version").get()!.n).toBe(MIGRATIONS.length + 1);
    upgraded.close();
    // Reopening at the same version runs nothing again (CREATE TABLE would fail if it did).
    openDatabase(path, { migrations: later }).close();
    const error = caught(() => openDatabase(path));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe("HERALD_SCHEMA_NEWER");
  });

  // Tests run as root, for whom chmod 0555 stops nothing. These fail for root too.
  it("throws StoreUnavailableError when the data directory's parent is a regular file (ENOTDIR)", () => {
    const file = join(dir, "not-a-directory");
    writeFileSync(file, "x");
    const error = caught(() => openDatabase(databasePath(join(file, "data"))));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe("ENOTDIR");
    expect(isStoreUnavailable(error)).toBe(true);
  });

  it("throws StoreUnavailableError when the database path is a directory (SQLITE_CANTOPEN)", () => {
    const path = join(dir, "herald.db");
    mkdirSync(path);
    const error = caught(() => openDatabase(path));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe("SQLITE_CANTOPEN");
  });

  it("throws StoreUnavailableError for a read-only open of a missing file (SQLITE_CANTOPEN)", () => {
    const error = caught(() => openDatabase(join(dir, "missing.db"), { readonly: true }));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe("SQLITE_CANTOPEN");
  });

  it("turns writes to a read-only store into StoreUnavailableError (SQLITE_READONLY), sync and async, while reads work", async () => {
    const path = databasePath(dir);
    const writer = openDatabase(path);
    new SqliteQueues(writer).enqueue("email", "kept");
    writer.close();
    // As root a chmod refuses nothing; a read-only connection really does.

    const db = openDatabase(path, { readonly: true });
    try {
      expect(db.schemaVersion).toBe(MIGRATIONS.length);
      const queues = new SqliteQueues(db);
      expect(queues.stats().email).toMatchObject({ pending: 1 });
      const error = caught(() => queues.enqueue("email", "lost"));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe("SQLITE_READONLY");
      expect(isStoreUnavailable((error as Error).cause)).toBe(true);
      expect(caught(() => queues.enqueueMany([{ queue: "email", body: 1 }]))).toBeInstanceOf(StoreUnavailableError);
      expect(caught(() => queues.lease("email", 1, 1_000))).toBeInstanceOf(StoreUnavailableError);
      expect(caught(() => new SqliteEventLog(db).record("/shop", "e1", 0))).toBeInstanceOf(StoreUnavailableError);
      await expect(new SqliteIdempotencyStore(db).claim("k", 1_000, 0)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(new SqliteDirectory(db).put({ id: "r", contacts: {} })).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      db.close();
    }
  });

  it("turns a full disk into StoreUnavailableError (SQLITE_FULL) and rolls the batch back", () => {
    const db = openDatabase(databasePath(dir));
    try {
      const queues = new SqliteQueues(db);
      queues.enqueue("email", "first");
      // A page budget just above the current size stands in for a full disk: SQLite
      // reports it exactly as it does ENOSPC.
      const pages = db.connection.pragma("page_count", { simple: true }) as number;
      db.connection.pragma(`max_page_count = ${pages + 1}`);
      const big = "x".repeat(2_000);
      const error = caught(() => queues.enqueueMany(Array.from({ length: 50 }, () => ({ queue: "email", body: big }))));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe("SQLITE_FULL");
      expect(queues.stats("email").email).toMatchObject({ pending: 1 });
    } finally {
      db.close();
    }
  });

  it("leaves bugs alone: a constraint violation is not 'unavailable'", () => {
    const db = openDatabase(databasePath(dir));
    try {
      const error = caught(() => new SqliteQueues(db).enqueue(null as unknown as string, 1));
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(isStoreUnavailable(error)).toBe(false);
      expect(isStoreUnavailable(new Error("SQLITE_FULL"))).toBe(false);
    } finally {
      db.close();
    }
  });
});
