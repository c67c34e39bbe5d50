/**
 * WAL checkpoints on the runtime's terms. SQLite's automatic checkpoint runs inside
 * whichever commit pushes the WAL past 1,000 pages, synchronously: 15-30 ms on this
 * machine's disk, charged to an unlucky ingest or delivery. During a burst those were
 * the slowest group commits, and with them ingest p95 was about three times what it is
 * without (bench/suites/burst.ts). So the runtime's connection opens with automatic
 * checkpoints off, and this checkpoints at SQLite's usual size while ingest is calm and
 * defers it while a burst is arriving, with a hard bound so a long burst cannot grow the
 * WAL (or the restart that replays it) without limit. Durability is unchanged: a
 * committed write is in the WAL either way.
 */
import { statSync } from "node:fs";
import type { Database } from "./database";

export interface CheckpointerOptions {
  /** How often the WAL's size is looked at. */
  readonly intervalMs?: number;
  /** Ingest is calm while at most this many events arrived since the last look (default: 40 a second)... */
  readonly calmIngests?: number;
  /** ...and then the WAL is checkpointed once it holds this much (SQLite's own threshold: 1,000 pages of 4 KiB). */
  readonly softBytes?: number;
  /** Past this, checkpoint whatever is arriving. */
  readonly hardBytes?: number;
}

export class Checkpointer {
  private ingestsSinceTick = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly walPath: string;
  private readonly options: Required<CheckpointerOptions>;
  /** Checkpoints run so far (for tests and status). */
  checkpoints = 0;

  constructor(
    private readonly db: Database,
    options: CheckpointerOptions = {},
  ) {
    this.walPath = `${db.path}-wal`;
    const intervalMs = options.intervalMs ?? 250;
    this.options = { intervalMs, calmIngests: Math.ceil((40 * intervalMs) / 1000), softBytes: 4 * 1024 * 1024, hardBytes: 64 * 1024 * 1024, ...options };
  }

  /** `count` events were just ingested: many of them mean a burst, no moment to checkpoint. */
  noteIngest(count = 1): void {
    this.ingestsSinceTick += count;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Checkpoints when the WAL is big enough and ingest is calm, or when it is too big to wait. */
  tick(): boolean {
    const calm = this.ingestsSinceTick <= this.options.calmIngests;
    this.ingestsSinceTick = 0;
    let size: number;
    try {
      size = statSync(this.walPath).size;
    } catch {
      return false;
    }
    if (size < this.options.hardBytes && !(calm && size >= this.options.softBytes)) return false;
    try {
      // The runtime holds the only connection (exclusive locking), so nothing reads the
      // WAL concurrently and TRUNCATE can also give its space back.
      this.db.connection.pragma("wal_checkpoint(TRUNCATE)");
      this.checkpoints += 1;
      return true;
    } catch {
      // A store that cannot be written now says so on its next write; the next tick tries again.
      return false;
    }
  }
}
