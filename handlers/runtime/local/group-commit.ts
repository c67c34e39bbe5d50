/**
 * Group commit: writes asked for in the same turn of the event loop share one SQLite
 * transaction, and each caller's promise settles only once that transaction committed.
 *
 * A commit is the expensive part of a small write here (WAL append, locks, a few
 * syscalls: ~100-150 µs), and a busy runtime asks for several per delivery (idempotency
 * claim and completion, the sink's inbox record, settling the queue message). Sharing one
 * commit among everything that is ready changes no guarantee: nothing is reported done
 * before it is durable, and a crash loses only writes nobody was told about.
 */
import { asStoreError, type Database } from "./database";

interface PendingWrite {
  readonly write: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly commit: (batch: readonly PendingWrite[], results: unknown[], failures: Map<number, unknown>) => void;

  constructor(db: Database) {
    this.commit = db.transaction((batch: readonly PendingWrite[], results: unknown[], failures: Map<number, unknown>) => {
      for (let i = 0; i < batch.length; i += 1) {
        try {
          results[i] = batch[i]!.write();
        } catch (error) {
          // SQLite rolls the whole transaction back on some errors (SQLITE_FULL, SQLITE_IOERR,
          // SQLITE_BUSY, SQLITE_NOMEM): every earlier write of the batch is undone, and the
          // later ones would each commit on their own (autocommit) while their callers were
          // told they failed; a sink record committed that way made the sender send again
          // (found by test/chaos/store-failure.test.ts). So the whole batch fails with it.
          if (!db.connection.inTransaction) throw error;
          // One write's bug (a constraint, a throw in its callback) fails that caller
          // only. A write of several statements must be a `db.transaction` itself: nested,
          // it runs in a savepoint that rolls back on throw, so nothing half-done commits.
          failures.set(i, error);
        }
      }
    });
  }

  /** Runs `write` inside the next shared transaction; resolves with its result after the commit. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: every handler that finishes in this turn of the
        // loop (I/O callbacks included) joins the same commit.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is pending now (also called on shutdown, so no write is left behind). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const results: unknown[] = new Array(batch.length);
    const failures = new Map<number, unknown>();
    try {
      this.commit(batch, results, failures);
    } catch (error) {
      // The commit itself failed (disk full, read-only, I/O): nothing in it happened.
      for (const pending of batch) pending.reject(error);
      return;
    }
    for (let i = 0; i < batch.length; i += 1) {
      if (failures.has(i)) batch[i]!.reject(asStoreError(failures.get(i)));
      else batch[i]!.resolve(results[i]);
    }
  }
}

const byDatabase = new WeakMap<Database, GroupCommit>();

/** The group committer of a database: one per connection, so every store shares its commits. */
export function groupCommitFor(db: Database): GroupCommit {
  let commits = byDatabase.get(db);
  if (!commits) {
    commits = new GroupCommit(db);
    byDatabase.set(db, commits);
  }
  return commits;
}
