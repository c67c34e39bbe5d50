import type { ExtraCheck } from "./check";

/**
 * Checks beyond the schemas themselves that `herald schemas check` runs. Rules and
 * templates add theirs here (every field they read must exist in every version they accept).
 */
export function schemaChecks(): ExtraCheck[] {
  return [];
}
