import { UsageError } from "./usage-error";

/** Where a command acts: the local runtime, or a deployed AWS stack. */
export type Target = "local" | "aws";

/** Clouds herald deploys to (infra/config.ts) whose CLI side is not written yet. */
const PLANNED_TARGETS = ["gcp", "azure"];

/**
 * Checks `--target`. `awsOnlyFlags` are the AWS-only flags the user gave: with the local
 * target they would be silently ignored (an event meant for AWS published locally),
 * so that is refused instead.
 */
export function chooseTarget(target: string, awsOnlyFlags: readonly string[]): Target {
  if (PLANNED_TARGETS.includes(target)) throw new UsageError(`--target ${target} is not yet supported; use --target local or --target aws`);
  if (target !== "local" && target !== "aws") throw new UsageError(`unknown --target "${target}"; use local or aws`);
  if (target === "local" && awsOnlyFlags.length > 0) throw new UsageError(`${awsOnlyFlags.join(", ")} only appl${awsOnlyFlags.length === 1 ? "ies" : "y"} with --target aws`);
  return target;
}
