import { Command, CommanderError } from "commander";
import { HeraldError } from "../handlers/core/errors";
import { registerLocalCommands } from "./commands/local";
import { registerPreviewCommand } from "./commands/preview";
import { registerSchemaCommands } from "./commands/schemas";
import { processIo, type CliIo } from "./io";
import { UsageError } from "./usage-error";

/**
 * Runs `herald <args>` and resolves to the exit code. Expected failures (bad input,
 * usage mistakes, missing files) print one clear line and never a stack trace.
 */
export async function main(args: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode = 0;
  const program = new Command("herald")
    .description("herald: notification fan-out. Events in, email, web push and SMS out.")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) });
  const setExit = (code: number) => {
    exitCode = code;
  };
  registerSchemaCommands(program, io, setExit);
  registerLocalCommands(program, io, setExit);
  registerPreviewCommand(program, io, setExit);
  try {
    await program.parseAsync([...args], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      io.err(`herald: ${error.message}`);
      return 2;
    }
    if (error instanceof HeraldError || isFileError(error)) {
      io.err(`herald: ${(error as Error).message}`);
      return 1;
    }
    if (process.env.HERALD_DEBUG) throw error;
    io.err(`herald: unexpected error: ${(error as Error)?.message ?? String(error)} (set HERALD_DEBUG=1 for the stack)`);
    return 1;
  }
}

function isFileError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string" && (error as NodeJS.ErrnoException).code!.startsWith("E");
}
