/**
 * Azurite's Table service (the devDependency, no Docker) as the Table Storage peer for
 * tests: started once per test file on a free port of 127.0.0.1, in memory, in a scratch
 * working directory, with telemetry off (`--disableTelemetry`: Azurite otherwise reports
 * usage over the internet), so nothing leaves 127.0.0.1. It runs in a process group of
 * its own, stopped by signalling that group. If it cannot start, the test file fails
 * with Azurite's own output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { TableClient } from "@azure/data-tables";
import { tableClientFor } from "../../../handlers/runtime/azure/table-keys";
import { freePort } from "../../support/ports";

/** Azurite's well-known development account (public, documented; not a secret). */
const ACCOUNT = "devstoreaccount1";
const ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const START_TIMEOUT_MS = 30_000;

export interface Azurite {
  /** A connection string for `HERALD_TABLES_CONNECTION`. */
  readonly connectionString: string;
  /** A fresh, created table (names: letters and digits only, starting with a letter). */
  createTable(label: string): Promise<TableClient>;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<Azurite> {
  const port = await freePort();
  const workDir = mkdtempSync(join(tmpdir(), "herald-azurite-"));
  const bin = resolve("node_modules/.bin/azurite-table");
  const args = ["--tableHost", "127.0.0.1", "--tablePort", String(port), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"];
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: workDir });
  } catch (error) {
    throw new Error(`Azurite could not be started (${bin}; is the azurite devDependency installed?): ${(error as Error).message}`);
  }
  let output = "";
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-4000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      signalGroup(child.pid, "SIGTERM");
      const killed = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(killed);
    }
    rmSync(workDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(port))) {
    if (spawnError || child.exitCode !== null) {
      await stop();
      throw new Error(`Azurite (azurite-table ${args.join(" ")}) could not start: ${spawnError?.message ?? `exit ${child.exitCode}`}\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Azurite did not answer on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`;
  return {
    connectionString,
    async createTable(label) {
      const name = `${label.replace(/[^A-Za-z0-9]/g, "")}${Math.random().toString(36).slice(2, 10)}`.replace(/^[^A-Za-z]+/, "t");
      const table = tableClientFor(connectionString, name);
      await table.createTable();
      return table;
    },
    stop,
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Any HTTP answer (Azurite says 400/403 to a bare GET) means it serves requests. */
async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}
