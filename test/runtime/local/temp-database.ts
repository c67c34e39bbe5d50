import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databasePath, openDatabase, type Database } from "../../../handlers/runtime/local/database";

/** A fresh data directory under the OS temp dir; `cleanup` removes it. */
export function tempDataDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "herald-local-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fresh database file; `dispose` closes it and removes its directory. */
export function tempDatabase(): { db: Database; dir: string; path: string; dispose: () => void } {
  const { dir, cleanup } = tempDataDir();
  const path = databasePath(join(dir, "data"));
  const db = openDatabase(path);
  return {
    db,
    dir,
    path,
    dispose: () => {
      db.close();
      cleanup();
    },
  };
}
