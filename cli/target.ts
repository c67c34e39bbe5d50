import { UsageError } from "./usage-error";

/** Where a command acts: the local runtime, or a deployed AWS, GCP or Azure stack. */
export type Target = "local" | "aws" | "gcp" | "azure";

const TARGETS: readonly Target[] = ["local", "aws", "gcp", "azure"];

/**
 * Checks `--target`. `cloudFlags` are the target-specific flags the user gave, by the
 * target they belong to: with any other target they would be silently ignored (an event
 * meant for AWS published locally), so that is refused instead.
 */
export function chooseTarget(target: string, cloudFlags: { readonly aws?: readonly string[]; readonly gcp?: readonly string[]; readonly azure?: readonly string[] }): Target {
  if (!(TARGETS as readonly string[]).includes(target)) throw new UsageError(`unknown --target "${target}"; use local, aws, gcp or azure`);
  for (const [owner, flags] of Object.entries(cloudFlags)) {
    if (owner === target || !flags || flags.length === 0) continue;
    throw new UsageError(`${flags.join(", ")} only appl${flags.length === 1 ? "ies" : "y"} with --target ${owner}`);
  }
  return target as Target;
}

/** The flags of `table` (`{ key: [flags, description] }`) that commander parsed into `options`, as typed (`--topic`). */
export function flagsGiven(table: Readonly<Record<string, readonly [string, string]>>, options: object): string[] {
  return Object.entries(table)
    .filter(([key]) => (options as Record<string, unknown>)[key] !== undefined)
    .map(([, [flags]]) => flags.split(" ")[0]!);
}
