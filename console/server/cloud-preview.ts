/**
 * The cloud topology for the console: `herald preview --cloud <c> --graph` in a child
 * process (Pulumi's mocks are process-global state, and the program bundles every
 * function: seconds of CPU and memory the runtime should not carry), cached per cloud.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";
import type { TopologyGraph } from "../../cli/commands/preview";

export const PREVIEW_CLOUDS = ["aws", "gcp", "azure"] as const;
const CLI = join(resolve(__dirname, "..", ".."), "cli", "bin", "herald.js");
const TIMEOUT_MS = 120_000;

export class CloudPreviews {
  private readonly cache = new Map<string, Promise<TopologyGraph>>();
  private readonly running = new Set<ChildProcess>();

  /** The graph of `cloud`'s stack (from `Pulumi.dev.yaml` when present); a failed run is not cached. */
  graph(cloud: (typeof PREVIEW_CLOUDS)[number]): Promise<TopologyGraph> {
    let pending = this.cache.get(cloud);
    if (!pending) {
      pending = this.run(cloud);
      this.cache.set(cloud, pending);
      pending.catch(() => this.cache.delete(cloud));
    }
    return pending;
  }

  /** Stops previews still running (the runtime is stopping). */
  close(): void {
    for (const child of this.running) child.kill();
  }

  private run(cloud: string): Promise<TopologyGraph> {
    return new Promise((resolvePromise, reject) => {
      const child = execFile(
        process.execPath,
        [CLI, "preview", "--cloud", cloud, "--graph"],
        { cwd: resolve(__dirname, "..", ".."), timeout: TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) return reject(new Error(`herald preview --cloud ${cloud} failed: ${(stderr || error.message).trim().split("\n").slice(-3).join(" ")}`));
          try {
            resolvePromise(JSON.parse(stdout) as TopologyGraph);
          } catch {
            reject(new Error(`herald preview --cloud ${cloud} printed no graph`));
          }
        },
      );
      this.running.add(child);
      child.once("exit", () => this.running.delete(child));
    });
  }
}
