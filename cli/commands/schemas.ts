import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { checkSchemaTree, extendLock, type LockFile, type Problem } from "../schemas/check";
import { GENERATED_DIR, renderGenerated, staleGenerated } from "../schemas/generate";
import { scaffoldNextVersion } from "../schemas/new-version";
import { LOCK_FILE, loadSchemaTree } from "../schemas/schema-tree";
import { schemaChecks } from "../schemas/extra-checks";
import type { CliIo } from "../io";

interface DirOption {
  dir: string;
}

/** `herald schemas ...`: the gate users run in CI, and the tools to evolve schemas safely. */
export function registerSchemaCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const schemas = program.command("schemas").description("check, lock, generate and version event schemas");

  schemas
    .command("check")
    .description("validity, examples, compatibility, immutability, generated types, template references")
    .option("--dir <path>", "schema directory", "schemas")
    .option("--json", "machine-readable output")
    .action(async (options: DirOption & { json?: boolean }) => {
      const tree = loadSchemaTree(options.dir);
      const result = checkSchemaTree(tree, schemaChecks());
      const problems = [...result.problems];
      for (const file of staleGenerated(options.dir, await renderGenerated(result.schemaSet))) {
        problems.push({ file, message: "generated file is stale", hint: "run `herald schemas gen` and commit the result" });
      }
      if (options.json) {
        io.out(JSON.stringify({ ok: problems.length === 0, counts: result.counts, problems }, null, 2));
      } else if (problems.length === 0) {
        const c = result.counts;
        io.out(`schemas ok: ${c.eventTypes} event types, ${c.versions} versions, ${c.examples} examples, ${c.messageSchemas} message schemas`);
      } else {
        for (const problem of problems) io.err(formatProblem(problem));
        io.err(`${problems.length} problem${problems.length === 1 ? "" : "s"} found`);
      }
      setExit(problems.length === 0 ? 0 : 1);
    });

  schemas
    .command("lock")
    .description(`record new versions in ${LOCK_FILE} (published versions never change after this)`)
    .option("--dir <path>", "schema directory", "schemas")
    .action((options: DirOption) => {
      const tree = loadSchemaTree(options.dir);
      const result = checkSchemaTree(tree);
      // Only a schema that is valid on its own may be published; other problems
      // (an unlocked version is one of them) are what locking is for.
      const blocking = result.problems.filter((p) => p.code === undefined);
      if (blocking.length > 0) {
        for (const problem of blocking) io.err(formatProblem(problem));
        io.err("nothing locked: fix these first");
        setExit(1);
        return;
      }
      const current = tree.lock?.value as LockFile | undefined;
      const { lock, added } = extendLock(current, result.fingerprints);
      writeFileSync(join(options.dir, LOCK_FILE), `${JSON.stringify(lock, null, 2)}\n`);
      for (const key of added) io.out(`locked ${key}`);
      io.out(added.length === 0 ? "nothing new to lock" : `${added.length} version${added.length === 1 ? "" : "s"} locked`);
      setExit(0);
    });

  schemas
    .command("gen")
    .description("write schemas/generated/: the compiled-in schema set and TypeScript types")
    .option("--dir <path>", "schema directory", "schemas")
    .action(async (options: DirOption) => {
      const result = checkSchemaTree(loadSchemaTree(options.dir));
      const files = await renderGenerated(result.schemaSet);
      mkdirSync(join(options.dir, GENERATED_DIR), { recursive: true });
      for (const [name, content] of Object.entries(files)) {
        writeFileSync(join(options.dir, GENERATED_DIR, name), content);
        io.out(`wrote ${join(options.dir, GENERATED_DIR, name)}`);
      }
      setExit(0);
    });

  schemas
    .command("new-version")
    .argument("<type>", "event type, e.g. order.shipped")
    .description("scaffold the next version of an event type from its latest")
    .option("--dir <path>", "schema directory", "schemas")
    .action((type: string, options: DirOption) => {
      for (const file of scaffoldNextVersion(options.dir, type)) io.out(`created ${file}`);
      io.out("next: edit the new version, then `herald schemas check`, `herald schemas gen` and `herald schemas lock`");
      setExit(0);
    });
}

/** `file#/pointer: message — hint`, one line per problem. */
export function formatProblem(problem: Problem): string {
  const where = problem.pointer !== undefined && problem.pointer !== "" ? `${problem.file}#${problem.pointer}` : problem.file;
  return `${where}: ${problem.message}${problem.hint ? ` — ${problem.hint}` : ""}`;
}
