/**
 * `npm run bench [-- --quick] [-- --only <suite>]`: runs every benchmark, prints one
 * table and writes bench/results/latest.json (machine, Node version, date, every figure
 * with its unit and spread, and each side-by-side ratio).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { Figure, Suite } from "./measure";
import { awsFunctions } from "./suites/aws-functions";
import { hotPath } from "./suites/hot-path";
import { localRuntime } from "./suites/local-runtime";

const suites: Suite[] = [hotPath, localRuntime, awsFunctions];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  const figures: Figure[] = [];
  for (const suite of suites) {
    if (only && suite.name !== only) continue;
    process.stderr.write(`running ${suite.name}${quick ? " (quick)" : ""}...\n`);
    figures.push(...(await suite.run({ quick })));
  }
  printTable(figures);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", memoryGiB: Math.round(totalmem() / 2 ** 30) },
    quick,
    figures,
  };
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/latest.json", `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write("wrote bench/results/latest.json\n");
}

function printTable(figures: readonly Figure[]): void {
  const format = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2));
  const rows = figures.map((f) => [
    f.label,
    `${format(f.value)} ${f.unit}`,
    f.spread ? `${format(f.spread[0])} – ${format(f.spread[1])}` : "",
    f.goal ? `${f.goal} ${f.met ? "met" : "NOT met"}` : "",
  ]);
  const header = ["figure", "median", "spread (min – max)", "goal"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
