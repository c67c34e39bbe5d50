/**
 * The herald CLI for the security suite, apart from fixtures.ts: the CLI brings Pulumi
 * along (for `herald preview`), which the files that never call it should not load.
 */
import { main } from "../../cli/main";

/** `herald <args>` in process, through the real CLI code, with everything it printed. */
export async function herald(...args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: (line) => lines.push(line) });
  return { code, output: lines.join("\n") };
}
