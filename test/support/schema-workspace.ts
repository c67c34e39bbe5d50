import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli/main";

/** A scratch copy of the shipped `schemas/` that a test may break on purpose. */
export class SchemaWorkspace {
  readonly root = mkdtempSync(join(tmpdir(), "herald-schemas-"));
  readonly dir = join(this.root, "schemas");

  constructor() {
    cpSync("schemas", this.dir, { recursive: true });
  }

  read(path: string): Record<string, any> {
    return JSON.parse(readFileSync(join(this.dir, path), "utf8"));
  }

  write(path: string, value: unknown): void {
    writeFileSync(join(this.dir, path), typeof value === "string" ? value : `${JSON.stringify(value, null, 2)}\n`);
  }

  /** Edits a JSON file in place. */
  edit(path: string, change: (json: Record<string, any>) => void): void {
    const json = this.read(path);
    change(json);
    this.write(path, json);
  }

  /** Runs `herald <args> --dir <this copy>` and captures what a user would see. */
  async herald(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...args, "--dir", this.dir], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
