import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, StoreUnavailableError, type Database } from "../../../handlers/runtime/local/database";
import { GroupCommit } from "../../../handlers/runtime/local/group-commit";
import { tempDatabase } from "./temp-database";

/** The database with its transaction function counted, so a test can see how many commits ran. */
function counting(db: Database, fail?: () => Error): { db: Database; commits: () => number } {
  let commits = 0;
  const wrapped = Object.create(db) as Database;
  wrapped.transaction = <A extends unknown[], R>(fn: (...args: A) => R) => {
    const inner = db.transaction(fn);
    return (...args: A) => {
      commits += 1;
      if (fail) throw fail();
      return inner(...args);
    };
  };
  return { db: wrapped, commits: () => commits };
}

describe("GroupCommit", () => {
  let db: Database;
  let path: string;
  let dispose: () => void;
  beforeEach(() => {
    ({ db, path, dispose } = tempDatabase());
    db.connection.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  });
  afterEach(() => dispose());

  it("commits every write asked for in one turn of the event loop together, and resolves each with its result", async () => {
    const { db: counted, commits } = counting(db);
    const group = new GroupCommit(counted);
    const insert = db.prepare<[string]>("INSERT INTO t (v) VALUES (?)");
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => group.run(() => Number(insert.run(`v${i}`).lastInsertRowid))));
    expect(commits()).toBe(1);
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(db.connection.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 50 });
  });

  it("resolves a write only once it is committed: another connection already sees it", async () => {
    const group = new GroupCommit(db);
    const reader = openDatabase(path, { readonly: true });
    try {
      const seen = await group.run(() => db.prepare<[string]>("INSERT INTO t (v) VALUES (?)").run("durable")).then(
        () => reader.connection.prepare<[], { v: string }>("SELECT v FROM t").all().map((row) => row.v),
      );
      expect(seen).toEqual(["durable"]);
    } finally {
      reader.close();
    }
  });

  it("fails only the write that threw; a write of several statements in a nested transaction rolls back whole", async () => {
    const group = new GroupCommit(db);
    const insert = db.prepare<[string]>("INSERT INTO t (v) VALUES (?)");
    const halfDone = db.transaction(() => {
      insert.run("half");
      throw new Error("second statement failed");
    });
    const outcomes = await Promise.allSettled([group.run(() => insert.run("before")), group.run(halfDone), group.run(() => insert.run("after"))]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(db.connection.prepare<[], { v: string }>("SELECT v FROM t ORDER BY id").all().map((row) => row.v)).toEqual(["before", "after"]);
  });

  it("rejects every write of a commit that failed, with the store error, and resolves none", async () => {
    const { db: failing } = counting(db, () => new StoreUnavailableError("SQLITE_FULL", "disk full"));
    const group = new GroupCommit(failing);
    const outcomes = await Promise.allSettled([group.run(() => 1), group.run(() => 2)]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
    for (const outcome of outcomes) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
  });

  it("fails the whole batch, with the store error, when SQLite rolls the transaction back (a full disk), and commits none of it", async () => {
    const group = new GroupCommit(db);
    const insert = db.prepare<[string]>("INSERT INTO t (v) VALUES (?)");
    insert.run("before");
    // A page budget at the current size: SQLite answers SQLITE_FULL as for a full disk, and
    // undoes the whole transaction, not only the statement.
    db.connection.pragma(`max_page_count = ${db.connection.pragma("page_count", { simple: true }) as number}`);
    const outcomes = await Promise.allSettled([group.run(() => insert.run("fits")), group.run(() => insert.run("x".repeat(20_000))), group.run(() => insert.run("small, after"))]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const outcome of outcomes) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    // Nothing a caller was told had failed is in the store (the write after the failure
    // used to commit on its own, outside the rolled-back transaction).
    expect(db.connection.prepare("SELECT v FROM t").all()).toEqual([{ v: "before" }]);
  });

  it("flush() commits what is pending at once, so a shutdown leaves nothing behind", async () => {
    const { db: counted, commits } = counting(db);
    const group = new GroupCommit(counted);
    const pending = group.run(() => db.prepare<[string]>("INSERT INTO t (v) VALUES (?)").run("last"));
    group.flush();
    expect(commits()).toBe(1);
    expect(db.connection.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1 });
    await pending;
    expect(commits()).toBe(1);
  });
});
