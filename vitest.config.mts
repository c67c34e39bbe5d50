import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests start real protocol peers (SMTP, push service, Twilio mock); give them room
    // on a two-core machine, but keep any single test bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Vitest's default is one worker fewer than the cores: one, here. Most files wait on
    // peers (SMTP, emulators, child runtimes) more than they compute, so two workers
    // take the suite from about 6.5 to 3.5 minutes on two cores.
    maxWorkers: 2,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
