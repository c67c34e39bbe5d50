/**
 * WAL checkpoints off the runtime's thread. SQLite's automatic checkpoint runs inside
 * whichever commit pushes the WAL past 1,000 pages, synchronously, and a checkpoint of a
 * few MiB takes 15-300 ms on this machine's disk (it copies the pages into the database
 * file and fsyncs it). On the runtime's thread that time is the event loop's: during a
 * burst, ingest requests waited behind it (bench/suites/burst.ts found checkpoints to be
 * the longest tasks on the loop). So the runtime's connection has automatic checkpoints
 * off, and a thread of its own (checkpoint-host.ts) holds a second connection to the same
 * file and runs PASSIVE checkpoints: they copy what the WAL holds without taking the
 * write lock, so the runtime's commits go on meanwhile. Once a checkpoint has caught up,
 * the runtime's next commit starts the WAL from its beginning again, so the file stays
 * small. Under writes that never pause, a RESTART checkpoint past a bound makes it start
 * over; it holds commits up while it syncs, so it waits for ingest to be calm unless the
 * WAL is far past the bound. `journal_size_limit` on the runtime's connection gives back
 * what a long burst grew. Durability is unchanged: a committed write is in the WAL
 * either way.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "../../core/ports";

const BOOTSTRAP = join(__dirname, "thread-bootstrap.js");
const ENTRY = join(__dirname, "checkpoint-host.ts");

export interface CheckpointHostOptions {
  readonly path: string;
  /** How often the thread checkpoints whatever the WAL has that the file lacks. */
  readonly intervalMs: number;
  /** WAL frames (pages) past which the thread makes the WAL start over, once ingest is calm... */
  readonly restartFrames: number;
  /** ...which it is while at most this many events arrived since the last look... */
  readonly calmIngests: number;
  /** ...and past this many, whatever is arriving. */
  readonly hardFrames: number;
  /** One Int32: events ingested so far, counted by the runtime's thread. */
  readonly ingestCounter: SharedArrayBuffer;
}

/**
 * Whether the thread should RESTART now: the WAL holds `walFrames` pages and
 * `ingestedSinceLastLook` events arrived since the thread last looked. A RESTART holds
 * the runtime's commits up while it syncs (20-40 ms here), ingest's among them, so it
 * waits for ingest to be calm, unless the WAL has grown past the hard bound.
 */
export function restartDue(walFrames: number, ingestedSinceLastLook: number, options: Pick<CheckpointHostOptions, "restartFrames" | "calmIngests" | "hardFrames">): boolean {
  if (walFrames >= options.hardFrames) return true;
  return walFrames >= options.restartFrames && ingestedSinceLastLook <= options.calmIngests;
}

export type FromCheckpointHost =
  | { readonly type: "ready" }
  | { readonly type: "checkpointed"; readonly frames: number }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "closed" };

export interface Checkpointer {
  /** Checkpoints that copied something, so far. */
  readonly checkpoints: number;
  /** `count` events were just ingested: many of them mean a burst, no moment to block commits. */
  noteIngest(count: number): void;
  /** Stops the thread after its current checkpoint; the runtime closes its own connection after. */
  stop(): Promise<void>;
}

/** Starts the checkpoint thread on the database at `path`; resolves once its connection is open. */
export async function startCheckpointer(
  path: string,
  logger: Logger,
  options: Partial<Omit<CheckpointHostOptions, "path" | "ingestCounter">> = {},
): Promise<Checkpointer> {
  const ingested = new Int32Array(new SharedArrayBuffer(4));
  const intervalMs = options.intervalMs ?? 100;
  const hostOptions: CheckpointHostOptions = {
    path,
    intervalMs,
    // 4,096 pages of 4 KiB: 16 MiB of WAL, the size journal_size_limit trims it back to.
    restartFrames: 4_096,
    // 40 events a second: a baseline, not a burst.
    calmIngests: Math.ceil((40 * intervalMs) / 1000),
    // 256 MiB.
    hardFrames: 65_536,
    ...options,
    ingestCounter: ingested.buffer as SharedArrayBuffer,
  };
  const worker = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY, options: hostOptions }, stdout: false, stderr: false });
  let checkpoints = 0;
  let lastWarning = 0;
  let ready: (() => void) | undefined;
  let closed: (() => void) | undefined;
  let exited = false;
  worker.on("message", (message: FromCheckpointHost) => {
    switch (message.type) {
      case "ready":
        ready?.();
        return;
      case "checkpointed":
        checkpoints += 1;
        return;
      case "failed":
        // A store that cannot be written says so on the runtime's own next write; here it
        // only means the WAL grows until a later checkpoint succeeds. Once a minute is enough.
        if (Date.now() - lastWarning > 60_000) {
          lastWarning = Date.now();
          logger.warn({ error: message.error }, "WAL checkpoint failed; retrying");
        }
        return;
      case "closed":
        closed?.();
        return;
    }
  });
  const exit = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  worker.on("error", (error) => logger.error({ error: error.message }, "checkpoint thread failed; SQLite's WAL now grows until restart"));
  await Promise.race([
    new Promise<void>((resolve) => (ready = resolve)),
    exit.then(() => {
      throw new Error(`the checkpoint thread for ${path} exited before it opened the database`);
    }),
  ]);
  // The thread must not keep the process alive on its own; stop() ends it.
  worker.unref();
  return {
    get checkpoints() {
      return checkpoints;
    },
    noteIngest(count) {
      // Wraps after 2^31 events; the thread only ever looks at differences.
      Atomics.add(ingested, 0, count);
    },
    async stop() {
      if (exited) return;
      // Held again until it has closed: a process with nothing else left would otherwise exit mid-wait.
      worker.ref();
      worker.postMessage({ type: "stop" });
      await Promise.race([new Promise<void>((resolve) => (closed = resolve)), exit]);
      await worker.terminate();
    },
  };
}
