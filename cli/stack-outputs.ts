/**
 * Where the cloud targets find the deployed stack when no flag or environment variable
 * says: the Pulumi stack's outputs (`topicArn`, `queueUrls`, `deadLetterQueueUrls`,
 * named the same on every cloud, see infra/index.ts). Shared by cli/aws and cli/gcp so
 * both resolve a setting in the same order and explain a missing one the same way.
 */
import { execFile } from "node:child_process";
import { UsageError } from "./usage-error";

/** What `pulumi stack output --json` printed, or why it could not be read. */
export type StackOutputResult = { readonly outputs: Readonly<Record<string, unknown>> } | { readonly unavailable: string };

/**
 * The deployed stack's outputs, read at most once per command and only when a flag or
 * environment variable did not already answer (running pulumi takes a second or more).
 */
export class StackOutputs {
  private result: Promise<StackOutputResult> | undefined;

  constructor(private readonly read: () => Promise<StackOutputResult> = readPulumiStackOutputs) {}

  get(): Promise<StackOutputResult> {
    this.result ??= this.read();
    return this.result;
  }
}

/** Runs `pulumi stack output --json` in the current directory (the project, with its selected stack). */
export function readPulumiStackOutputs(): Promise<StackOutputResult> {
  return new Promise((resolve) => {
    execFile("pulumi", ["stack", "output", "--json"], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return resolve({ unavailable: "no `pulumi` executable on PATH" });
        const why = String(stderr).trim().split("\n")[0] || error.message;
        return resolve({ unavailable: `\`pulumi stack output\` failed: ${why}` });
      }
      try {
        const outputs = JSON.parse(String(stdout)) as unknown;
        if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) throw new Error("not a JSON object");
        resolve({ outputs: outputs as Record<string, unknown> });
      } catch (parseError) {
        resolve({ unavailable: `\`pulumi stack output --json\` printed something unexpected (${(parseError as Error).message})` });
      }
    });
  });
}

/** One setting a command needs, and the three places it may come from, in order. */
export interface StackSetting {
  /** The flag's value, when given. */
  readonly flag: string | undefined;
  /** The flag as the guidance names it, e.g. `--topic-arn <arn>`. */
  readonly flagUsage: string;
  /** The environment variable consulted next. */
  readonly variable: string;
  /** The stack output consulted last. */
  readonly output: string;
  /** For an output that is an object (channel to address): the entry to take. */
  readonly key?: string;
  /** What is missing, the start of the guidance, e.g. `no SNS topic to publish to`. */
  readonly missing: string;
}

/**
 * The setting's value: the flag, the environment variable, or the stack output. When
 * none answers, a {@link UsageError} (exit 2) naming all three and why the stack did not.
 */
export async function resolveStackSetting(setting: StackSetting, stack: StackOutputs): Promise<string> {
  if (setting.flag) return setting.flag;
  const fromEnv = process.env[setting.variable];
  if (fromEnv) return fromEnv;
  const result = await stack.get();
  let why: string;
  if ("outputs" in result) {
    const value = result.outputs[setting.output];
    if (setting.key === undefined) {
      if (typeof value === "string" && value) return value;
      why = `the stack has no \`${setting.output}\` output`;
    } else {
      const entry = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[setting.key] : undefined;
      if (typeof entry === "string" && entry) return entry;
      why = `the stack output \`${setting.output}\` has no "${setting.key}" entry`;
    }
  } else {
    why = result.unavailable;
  }
  throw new UsageError(
    `${setting.missing}: pass ${setting.flagUsage}, set ${setting.variable}, or run from the project directory ` +
      `with the deployed stack selected so \`pulumi stack output ${setting.output}\` answers (${why})`,
  );
}
