/**
 * The gcloud emulators (Pub/Sub and Firestore, on PATH on this machine image and in CI)
 * as the GCP peers for tests, each on a free port of 127.0.0.1, started once per test
 * file. They take several seconds to start (a JVM each), so a file starts the ones it
 * needs in parallel and waits until each answers its HTTP root with `Ok`.
 *
 * gcloud runs the emulator as a child JVM of its own: the emulator is started in a
 * process group of its own and stopped by signalling that group, so no JVM outlives the
 * test file. An emulator that cannot start fails the test file with gcloud's own output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

/** The project the tests work in; the emulators accept any. */
export const TEST_PROJECT = "herald-test";

export interface GcpEmulator {
  /** `127.0.0.1:PORT`, as `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` take it. */
  readonly host: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 45_000;

/** gcloud must not phone home (update checks, usage reports): tests reach 127.0.0.1 only. */
const GCLOUD_ENV = {
  CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
  CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
  CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
};

/** The Pub/Sub emulator, with a data directory of its own (removed on stop). */
export async function startPubSubEmulator(): Promise<GcpEmulator> {
  const dataDir = mkdtempSync(join(tmpdir(), "herald-pubsub-"));
  const emulator = await startEmulator("Pub/Sub", (hostPort) => ["beta", "emulators", "pubsub", "start", `--host-port=${hostPort}`, `--data-dir=${dataDir}`]);
  return {
    host: emulator.host,
    async stop() {
      await emulator.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The Firestore emulator (native mode, in memory). */
export function startFirestoreEmulator(): Promise<GcpEmulator> {
  return startEmulator("Firestore", (hostPort) => ["emulators", "firestore", "start", `--host-port=${hostPort}`]);
}

async function startEmulator(name: string, args: (hostPort: string) => string[]): Promise<GcpEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let child: ChildProcess;
  try {
    child = spawn("gcloud", args(host), { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, ...GCLOUD_ENV } });
  } catch (error) {
    throw new Error(`the ${name} emulator could not be started (is gcloud with the emulator component on PATH?): ${(error as Error).message}`);
  }
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    // The whole group: gcloud's python and the JVM it started.
    signalGroup(child.pid, "SIGTERM");
    const killed = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(killed);
    // gcloud may exit before its JVM does; make sure nothing of the group is left.
    signalGroup(child.pid, "SIGKILL");
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(host))) {
    if (spawnError || child.exitCode !== null) {
      throw new Error(`the ${name} emulator (gcloud ${args(host).join(" ")}) could not start: ${spawnError?.message ?? `exit ${child.exitCode}`}\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the ${name} emulator did not answer on ${host} within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { host, stop };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Both emulators answer `GET /` with `Ok` once they serve requests. */
async function answers(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  } catch {
    return false;
  }
}
