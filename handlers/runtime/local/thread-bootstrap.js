"use strict";
// Worker-thread bootstrap for the local runtime's threads (sinks, senders). Worker threads
// do not inherit the loader the parent runs TypeScript with (tsx via cli/bin/herald.js or
// `tsx`, vite-node under vitest), so register tsx's CommonJS hook here, as
// cli/bin/herald.js does, then load the TypeScript entry the parent named.
require("tsx/cjs");
require(require("node:worker_threads").workerData.entry);
