"use strict";
// Worker-thread bootstrap for sink-host.ts. Worker threads do not inherit the loader the
// parent runs TypeScript with (tsx via cli/bin/herald.js or `tsx`, vite-node under
// vitest), so register tsx's CommonJS hook here, as cli/bin/herald.js does, then load
// the TypeScript entry.
require("tsx/cjs");
require("./sink-host.ts");
