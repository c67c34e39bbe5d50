"use strict";
// Worker-thread bootstrap for the local runtime's threads (sinks, senders, checkpoints).
//
// These threads run at a lower CPU priority than the runtime's own thread: on a machine
// with few cores they compete with it for CPU, and the runtime's thread is the one that
// answers ingest. Under a burst it waited for a core about a third of the time, while
// the publishers waited for it (bench/suites/burst.ts); their work (sends, the local
// sinks, WAL copies) is asynchronous and may as well yield. On Linux the nice value is
// per thread, and os.setPriority(0, ...) sets the calling thread's; elsewhere it would
// lower the whole process, so it is left alone there.
if (process.platform === "linux") {
  try {
    require("node:os").setPriority(0, 10);
  } catch {
    // Not permitted (a sandbox refusing setpriority): the thread runs at normal priority.
  }
}
// Worker threads do not inherit the loader the parent runs TypeScript with (tsx via
// cli/bin/herald.js or `tsx`, vite-node under vitest), so register tsx's CommonJS hook
// here, as cli/bin/herald.js does, then load the TypeScript entry the parent named.
require("tsx/cjs");
require(require("node:worker_threads").workerData.entry);
