#!/usr/bin/env node
"use strict";
// The `herald` command runs straight from the TypeScript sources: tsx compiles each
// module on load, so `npx herald ...` works right after `npm ci` with no build step.
require("tsx/cjs");
require("../main.ts")
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
