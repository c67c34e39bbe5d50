import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventSchemaId } from "../../handlers/core/schema-set";
import { UsageError } from "../usage-error";

/**
 * Scaffolds `v<N+1>.schema.json` from the latest version of `type`, with its `$id` and
 * title moved on, and copies the latest version's examples so the check has one to run.
 * Returns the files written.
 */
export function scaffoldNextVersion(schemasDir: string, type: string): string[] {
  const typeDir = join(schemasDir, "events", type);
  if (!existsSync(typeDir)) throw new UsageError(`no event type "${type}" under ${join(schemasDir, "events")}`);
  const versions = readdirSync(typeDir)
    .map((name) => /^v(\d+)\.schema\.json$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const latest = versions[versions.length - 1];
  if (latest === undefined) throw new UsageError(`${typeDir} has no v<N>.schema.json to start from`);
  const next = latest + 1;
  const schema = JSON.parse(readFileSync(join(typeDir, `v${latest}.schema.json`), "utf8")) as Record<string, unknown>;
  schema.$id = eventSchemaId(type, next);
  if (typeof schema.title === "string") schema.title = schema.title.replace(new RegExp(`v${latest}$`), `v${next}`);
  const written = [join(typeDir, `v${next}.schema.json`)];
  writeFileSync(written[0]!, `${JSON.stringify(schema, null, 2)}\n`, { flag: "wx" });

  const examplesDir = join(typeDir, "examples");
  mkdirSync(examplesDir, { recursive: true });
  for (const name of readdirSync(examplesDir).filter((n) => n.endsWith(".json"))) {
    const example = JSON.parse(readFileSync(join(examplesDir, name), "utf8")) as Record<string, unknown>;
    if (example.dataschema !== eventSchemaId(type, latest)) continue;
    example.dataschema = eventSchemaId(type, next);
    const target = join(examplesDir, name.startsWith(`v${latest}-`) ? `v${next}-${name.slice(`v${latest}-`.length)}` : `v${next}-${name}`);
    if (existsSync(target)) continue;
    writeFileSync(target, `${JSON.stringify(example, null, 2)}\n`);
    written.push(target);
  }
  return written;
}
