/**
 * moto_server (on PATH on this machine image and in CI) as the AWS peer for tests: SNS,
 * SQS, DynamoDB and Secrets Manager on 127.0.0.1, one server per test file. The AWS SDK
 * reaches it through `AWS_ENDPOINT_URL`-style settings; fake credentials keep every
 * request signed exactly as against AWS.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./ports";

export interface MotoServer {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly region: string;
  /** Client settings for any AWS SDK v3 client: endpoint, region and fake credentials. */
  readonly clientConfig: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  /** Environment for code that builds its own clients (the Lambda shims, the CLI). */
  readonly env: Readonly<Record<string, string>>;
  /** Forgets every resource (moto's reset API), so tests do not see each other's queues. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const port = await freePort();
  const child: ChildProcess = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 30_000;
  // Ready means moto itself answers: its reset API, from a child that is still running.
  while (!(await motoAnswers(port)) || child.exitCode !== null) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`moto_server did not listen on ${port} within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const region = "us-east-1";
  const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };
  return {
    endpoint,
    region,
    clientConfig: { endpoint, region, credentials },
    env: { AWS_ENDPOINT_URL: endpoint, AWS_REGION: region, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!response.ok) throw new Error(`moto reset failed: ${response.status}`);
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

async function motoAnswers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
    return response.ok;
  } catch {
    return false;
  }
}
