/**
 * Worker-thread entry of the checkpointer (see checkpointer.ts for why it exists): a
 * second connection to the runtime's database that runs a PASSIVE checkpoint every
 * interval. PASSIVE never waits for the writer or readers and never blocks them; a
 * checkpoint that found nothing new to copy costs a lock and returns. Under sustained
 * writes a RESTART bounds the WAL, in a calm moment of ingest (see below).
 *
 * Loaded through ./thread-bootstrap.js, which registers tsx first.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openCheckpointConnection } from "./database";
import { restartDue, type CheckpointHostOptions, type FromCheckpointHost } from "./checkpointer";

if (!parentPort) throw new Error("checkpoint-host.ts runs as a worker thread (start it with startCheckpointer)");
const port = parentPort;
const post = (message: FromCheckpointHost) => port.postMessage(message);
const options = (workerData as { options: CheckpointHostOptions }).options;

interface CheckpointResult {
  /** 1 when a lock could not be had (RESTART only): it is tried again next time. */
  readonly busy: number;
  /** Frames in the WAL. */
  readonly log: number;
  /** Frames of it already copied into the database file. */
  readonly checkpointed: number;
}

// Closed before the runtime's connection, so this one never runs the checkpoint SQLite
// does when the last connection closes: the runtime's does, at shutdown.
const db = openCheckpointConnection(options.path);
const passive = db.prepare<[], CheckpointResult>("PRAGMA wal_checkpoint(PASSIVE)");
const restart = db.prepare<[], CheckpointResult>("PRAGMA wal_checkpoint(RESTART)");
let backfilled = 0;

const ingested = new Int32Array(options.ingestCounter);
let ingestedBefore = 0;

const timer = setInterval(() => {
  try {
    let result = passive.get()!;
    const now = Atomics.load(ingested, 0);
    const arrived = now - ingestedBefore;
    ingestedBefore = now;
    // The WAL starts over only when a commit begins after everything was copied, which a
    // runtime that never pauses does not give it. RESTART finishes the job: it takes the
    // write lock, copies the pages committed since the PASSIVE pass and syncs the file,
    // and the runtime's next commit writes from the WAL's beginning (see restartDue).
    if (restartDue(result.log, arrived, options)) result = restart.get()!;
    // `checkpointed` counts frames from the WAL's start, so a change means pages were copied.
    if (result.checkpointed > 0 && result.checkpointed !== backfilled) post({ type: "checkpointed", frames: result.checkpointed });
    backfilled = result.checkpointed;
  } catch (error) {
    post({ type: "failed", error: (error as Error).message });
  }
}, options.intervalMs);

port.on("message", (message: { type: "stop" }) => {
  if (message.type !== "stop") return;
  clearInterval(timer);
  try {
    db.close();
  } finally {
    post({ type: "closed" });
  }
});
post({ type: "ready" });
