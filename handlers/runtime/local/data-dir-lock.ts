import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../core/errors";

/**
 * One runtime per data directory: leases are only safe to reclaim at start because no
 * other process can hold them. A pid file enforces it; a stale one (its process is gone,
 * e.g. after SIGKILL) is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, "herald.pid");
  try {
    writeFileSync(path, String(process.pid), { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const holder = Number(readFileSync(path, "utf8"));
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
      throw new ConfigError("data-dir-in-use", `another herald runtime (pid ${holder}) is using ${dataDir}; stop it or set HERALD_DATA_DIR`);
    }
    writeFileSync(path, String(process.pid));
  }
  return () => {
    try {
      if (Number(readFileSync(path, "utf8")) === process.pid) unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
