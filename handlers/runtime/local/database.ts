/**
 * The local runtime's one SQLite file (`<dataDir>/herald.db`): queues, dead letters,
 * idempotency keys, recipients, suppressions, frequency windows, the ingest log and
 * outcomes. WAL with `synchronous=NORMAL`: a process crash (SIGKILL included) loses no
 * committed transaction; only an OS crash or power cut can lose the last few commits.
 *
 * better-sqlite3 ships no types and `@types/better-sqlite3` is not a dependency, so the
 * small slice of its API herald uses is typed here (no ambient module declaration, which
 * would clash the day the types package is added).
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

/** A prepared statement; `P` are its positional parameters, `R` one result row. */
export interface Statement<P extends readonly unknown[] = unknown[], R = unknown> {
  run(...params: P): { changes: number; lastInsertRowid: number | bigint };
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/** The better-sqlite3 connection, as far as herald uses it. */
export interface Connection {
  prepare<P extends readonly unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R>;
  exec(sql: string): Connection;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): TransactionFunction<A, R>;
  close(): Connection;
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly readonly: boolean;
  readonly name: string;
}

type TransactionFunction<A extends unknown[], R> = ((...args: A) => R) & {
  readonly deferred: (...args: A) => R;
  readonly immediate: (...args: A) => R;
  readonly exclusive: (...args: A) => R;
};

interface BetterSqlite3Module {
  new (filename: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }): Connection;
  readonly SqliteError: new (...args: never[]) => Error & { code: string };
}

// Loaded with `require` so the missing type package costs nothing; the shape is above.
const BetterSqlite3 = require("better-sqlite3") as BetterSqlite3Module;

/**
 * The store cannot be opened or written: read-only or missing directory, disk full, I/O
 * error, locked past the busy timeout. Ingest answers 503 (the publisher retries later);
 * workers back off. `code` is the SQLite result code (`SQLITE_FULL`, `SQLITE_IOERR_WRITE`)
 * or the file-system errno (`ENOTDIR`, `EROFS`) that caused it.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Primary SQLite result codes that mean "the store is not usable right now", as opposed
 * to a bug (constraint violation, SQL error). Extended codes (`SQLITE_IOERR_FSYNC`,
 * `SQLITE_READONLY_DBMOVED`, `SQLITE_BUSY_SNAPSHOT`) are matched by their primary code.
 */
const UNAVAILABLE_SQLITE = new Set([
  "SQLITE_READONLY",
  "SQLITE_FULL",
  "SQLITE_CANTOPEN",
  "SQLITE_IOERR",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_PERM",
  "SQLITE_NOTADB",
  "SQLITE_CORRUPT",
]);

/** errno values from creating the data directory that mean the same. */
const UNAVAILABLE_ERRNO = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EEXIST", "EIO", "ENOENT"]);

function sqliteCode(error: unknown): string | undefined {
  if (!(error instanceof BetterSqlite3.SqliteError)) return undefined;
  const primary = /^SQLITE_[A-Z]+/.exec(error.code)?.[0];
  return primary !== undefined && UNAVAILABLE_SQLITE.has(primary) ? error.code : undefined;
}

/** True for a `StoreUnavailableError`, and for a raw SQLite error of the same kind. */
export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof StoreUnavailableError || sqliteCode(error) !== undefined;
}

/** The error to throw for `error`: a `StoreUnavailableError` when it is one, else itself. */
export function asStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const code = sqliteCode(error);
  if (code === undefined) return error;
  return new StoreUnavailableError(code, `local store unavailable: ${(error as Error).message}`, { cause: error });
}

/** Runs `fn`, turning store failures into `StoreUnavailableError`. */
export function guard<R>(fn: () => R): R {
  try {
    return fn();
  } catch (error) {
    throw asStoreError(error);
  }
}

/**
 * Schema migrations, in order: version N is `MIGRATIONS[N - 1]`. Append, never edit.
 * Times are epoch milliseconds (INTEGER); bodies and records are JSON text.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- A leased message is unavailable until its lease expires: lease sets available_at to
    -- the lease's expiry, so "available_at <= now" alone finds what may be leased and the
    -- index never walks past in-flight messages.
    available_at INTEGER NOT NULL,
    lease_token TEXT,
    lease_expires_at INTEGER,
    enqueued_at INTEGER NOT NULL,
    last_error TEXT
  );
  CREATE INDEX queue_messages_available ON queue_messages (queue, available_at);

  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    first_enqueued_at INTEGER NOT NULL,
    dead_lettered_at INTEGER NOT NULL,
    original_id INTEGER NOT NULL
  );
  CREATE INDEX dead_letters_queue ON dead_letters (queue, id);

  CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'completed')),
    token TEXT,
    -- claimed: when the claim lapses; completed: when the row may be pruned.
    expires_at INTEGER NOT NULL,
    record TEXT
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

  CREATE TABLE recipients (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
  ) WITHOUT ROWID;
  -- Who holds which Web Push endpoint, so a 404/410 finds its holders without a scan.
  CREATE TABLE recipient_push_endpoints (
    endpoint TEXT NOT NULL,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    PRIMARY KEY (endpoint, recipient_id)
  ) WITHOUT ROWID;
  CREATE INDEX recipient_push_endpoints_recipient ON recipient_push_endpoints (recipient_id);

  CREATE TABLE suppressions (
    channel TEXT NOT NULL,
    -- suppressionKey's normalisation: lower-cased for email, as given otherwise.
    address_key TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (channel, address_key)
  ) WITHOUT ROWID;

  CREATE TABLE frequency_window (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  ) WITHOUT ROWID;
  CREATE INDEX frequency_window_at ON frequency_window (at);

  CREATE TABLE ingested_events (
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, id)
  ) WITHOUT ROWID;
  CREATE INDEX ingested_events_received ON ingested_events (received_at);

  CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    event_source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    recipient_id TEXT,
    channel TEXT,
    idempotency_key TEXT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX outcomes_event ON outcomes (event_source, event_id);
  CREATE INDEX outcomes_channel_status ON outcomes (channel, status);
  `,
  `
  -- What the local delivery sinks received (herald inbox, GET /v1/deliveries).
  CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    address TEXT NOT NULL,
    summary TEXT NOT NULL,
    content TEXT NOT NULL
  );
  CREATE INDEX inbox_channel ON inbox (channel, id);
  `,
  `
  -- One outcome per message and status: a redelivered event or message (after a crash)
  -- records what happened again, and the log must not count it twice.
  CREATE UNIQUE INDEX outcomes_key_status ON outcomes (idempotency_key, status) WHERE idempotency_key IS NOT NULL;
  `,
];

export interface OpenOptions {
  /** Leave WAL checkpoints to another connection (see checkpointer.ts) instead of SQLite's automatic ones. */
  readonly manualCheckpoints?: boolean;
  /** Open without writing (no directory, no migrations): `herald status` on a live file. */
  readonly readonly?: boolean;
  /** How long a statement waits for another connection's write lock. Default 5 s. */
  readonly busyTimeoutMs?: number;
  /** Migrations to apply; tests pass extra ones. Default `MIGRATIONS`. */
  readonly migrations?: readonly string[];
}

/** An open herald database. */
export class Database {
  /** The raw connection, for the stores in this folder. */
  readonly connection: Connection;
  readonly path: string;
  /** Schema version after migrations. */
  readonly schemaVersion: number;

  constructor(connection: Connection, path: string, schemaVersion: number) {
    this.connection = connection;
    this.path = path;
    this.schemaVersion = schemaVersion;
  }

  prepare<P extends readonly unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> {
    return guard(() => this.connection.prepare<P, R>(sql));
  }

  /**
   * `fn` as one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a
   * read-then-write cannot fail half-way with SQLITE_BUSY_SNAPSHOT when another process
   * (the CLI) writes to the same file. Store failures surface as `StoreUnavailableError`.
   */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const immediate = this.connection.transaction(fn).immediate;
    return (...args: A) => {
      try {
        return immediate(...args);
      } catch (error) {
        throw asStoreError(error);
      }
    };
  }

  get open(): boolean {
    return this.connection.open;
  }

  /** Closes the connection (checkpointing the WAL); idempotent. */
  close(): void {
    if (this.connection.open) guard(() => this.connection.close());
  }
}

/** Where the local runtime keeps its database. */
export function databasePath(dataDir: string): string {
  return join(dataDir, "herald.db");
}

/**
 * Opens (creating the directory and file when needed) and migrates the database at `path`
 * (`:memory:` for a throwaway one). Throws `StoreUnavailableError` when it cannot.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  const inMemory = path === ":memory:" || path === "";
  if (!inMemory && !options.readonly) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "EIO";
      if (!UNAVAILABLE_ERRNO.has(code)) throw error;
      throw new StoreUnavailableError(code, `cannot create the data directory for ${path}: ${(error as Error).message}`, { cause: error });
    }
  }
  let connection: Connection | undefined;
  try {
    connection = guard(() => new BetterSqlite3(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false }));
    const db = connection;
    const version = guard(() => {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`);
      db.pragma("foreign_keys = ON");
      if (!options.readonly) {
        // The journal mode is stored in the file; setting it needs a write lock.
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        if (options.manualCheckpoints) {
          db.pragma("wal_autocheckpoint = 0");
          // A burst can grow the WAL far past its usual size before a checkpoint catches
          // up; when the WAL next starts over, give that space back.
          db.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
        }
        return migrate(db, options.migrations ?? MIGRATIONS);
      }
      return currentVersion(db);
    });
    return new Database(db, path, version);
  } catch (error) {
    connection?.close();
    if (error instanceof TypeError && /directory does not exist/.test(error.message)) {
      throw new StoreUnavailableError("ENOENT", `cannot open ${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * A second connection to the runtime's live database, for the checkpoint thread only: no
 * migrations (the runtime ran them) and no automatic checkpoints.
 */
export function openCheckpointConnection(path: string): Connection {
  const connection = guard(() => new BetterSqlite3(path, { fileMustExist: true }));
  // PASSIVE never waits; RESTART waits this long for the runtime's current commit, else it is tried next time.
  connection.pragma("busy_timeout = 200");
  connection.pragma("wal_autocheckpoint = 0");
  return connection;
}

function currentVersion(db: Connection): number {
  const exists = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!exists?.n) return 0;
  return db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_version").get()?.v ?? 0;
}

function migrate(db: Connection, migrations: readonly string[]): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  // Immediate: two processes opening a fresh file at once must not both apply version 1.
  return db
    .transaction(() => {
      const from = currentVersion(db);
      if (from > migrations.length) {
        throw new StoreUnavailableError(
          "HERALD_SCHEMA_NEWER",
          `${db.name} is at schema version ${from}, newer than this herald knows (${migrations.length}); upgrade herald`,
        );
      }
      const record = db.prepare<[number, number]>("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)");
      for (let version = from + 1; version <= migrations.length; version++) {
        db.exec(migrations[version - 1]!);
        record.run(version, Date.now());
      }
      return migrations.length;
    })
    .immediate();
}
