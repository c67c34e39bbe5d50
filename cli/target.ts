import { UsageError } from "./usage-error";

/** Where a command acts: the local runtime, or a deployed AWS or GCP stack. */
export type Target = "local" | "aws" | "gcp";

/** Clouds herald deploys to (infra/config.ts) whose CLI side is not written yet. */
const PLANNED_TARGETS = ["azure"];

/**
 * Checks `--target`. `cloudFlags` are the target-specific flags the user gave, by the
 * target they belong to: with any other target they would be silently ignored (an event
 * meant for AWS published locally), so that is refused instead.
 */
export function chooseTarget(target: string, cloudFlags: { readonly aws?: readonly string[]; readonly gcp?: readonly string[] }): Target {
  if (PLANNED_TARGETS.includes(target)) throw new UsageError(`--target ${target} is not yet supported; use --target local, aws or gcp`);
  if (target !== "local" && target !== "aws" && target !== "gcp") throw new UsageError(`unknown --target "${target}"; use local, aws or gcp`);
  for (const [owner, flags] of Object.entries(cloudFlags)) {
    if (owner === target || !flags || flags.length === 0) continue;
    throw new UsageError(`${flags.join(", ")} only appl${flags.length === 1 ? "ies" : "y"} with --target ${owner}`);
  }
  return target;
}

/** The flags of `table` (`{ key: [flags, description] }`) that commander parsed into `options`, as typed (`--topic`). */
export function flagsGiven(table: Readonly<Record<string, readonly [string, string]>>, options: object): string[] {
  return Object.entries(table)
    .filter(([key]) => (options as Record<string, unknown>)[key] !== undefined)
    .map(([, [flags]]) => flags.split(" ")[0]!);
}
