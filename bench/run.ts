/**
 * `npm run bench [-- --quick] [-- --only <suite>]`: runs every benchmark, prints one
 * table and writes bench/results/latest.json (machine, Node version, date, every figure
 * with its unit and spread, and each side-by-side ratio).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, loadavg, release, totalmem, type } from "node:os";
import { ratio, skipped, type Figure, type Suite } from "./measure";
import { awsFunctions } from "./suites/aws-functions";
import { burst } from "./suites/burst";
import { hotPath } from "./suites/hot-path";
import { localRuntime } from "./suites/local-runtime";

const suites: Suite[] = [hotPath, localRuntime, burst, awsFunctions];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  if (only && !suites.some((suite) => suite.name === only)) {
    console.error(`no suite "${only}"; the suites are: ${suites.map((suite) => `"${suite.name}"`).join(", ")}`);
    process.exitCode = 2;
    return;
  }
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  const figures: Figure[] = [];
  const durations: Record<string, number> = {};
  for (const suite of suites) {
    if (only && suite.name !== only) continue;
    process.stderr.write(`running ${suite.name}${quick ? " (quick)" : ""}...\n`);
    const suiteStarted = performance.now();
    const slug = suite.name.replace(/\W+/g, "-");
    try {
      const measured = await suite.run({ quick });
      // A suite that returns nothing could not run (a peer it needs is missing): say so in the table.
      figures.push(...(measured.length > 0 ? withDerivedRatios(measured) : [skipped(`${slug}.skipped`, suite.name, "not measured: a peer it needs is missing (see the message above)")]));
    } catch (error) {
      process.stderr.write(`${suite.name} failed: ${(error as Error).stack ?? String(error)}\n`);
      figures.push(skipped(`${slug}.failed`, suite.name, `FAILED: ${(error as Error).message.split("\n")[0]}`));
      process.exitCode = 1;
    }
    durations[suite.name] = (performance.now() - suiteStarted) / 1000;
    process.stderr.write(`${suite.name}: ${durations[suite.name]!.toFixed(1)} s\n`);
  }
  printTable(figures);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model.trim() ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${type()} ${release()} ${arch()}`,
      // Other work on the machine skews figures; the 1-minute load average says how much there was.
      loadAverage: { start: loadAtStart, end: loadavg()[0]! },
    },
    quick,
    seconds: { total: (performance.now() - started) / 1000, ...durations },
    figures,
    // Every side-by-side comparison, also in `figures`: value = figure `of[0]` / figure `of[1]`, same run.
    ratios: figures.filter((f) => f.of).map(({ id, label, value, of }) => ({ id, label, value, unit: "x", of })),
  };
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/latest.json", `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`wrote bench/results/latest.json (${result.seconds.total.toFixed(0)} s)\n`);
}

/**
 * Ratios a suite reports side by side without dividing them itself: a figure and its
 * `.unbundled` twin (the AWS functions' initialisation, bundled and not).
 */
function withDerivedRatios(figures: readonly Figure[]): Figure[] {
  const byId = new Map(figures.map((f) => [f.id, f]));
  return figures.flatMap((f) => {
    const base = f.id.endsWith(".unbundled") ? byId.get(f.id.slice(0, -".unbundled".length)) : undefined;
    if (!base || byId.has(`${base.id}.ratio-vs-unbundled`)) return [f];
    return [f, ratio(`${base.id}.ratio-vs-unbundled`, `${base.label.replace(/\s*\(bundled\)$/, "")}: bundled / unbundled`, base, f)];
  });
}

function printTable(figures: readonly Figure[]): void {
  const format = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : Number.isInteger(n) ? String(n) : n.toFixed(2));
  const rows = figures.map((f) => [
    f.label,
    f.skipped ? f.skipped : `${format(f.value)} ${f.unit}`,
    // One run, or runs that all agree, have no spread to show.
    f.spread && f.spread[0] !== f.spread[1] ? `${format(f.spread[0])} – ${format(f.spread[1])}` : "",
    f.goal ? `${f.goal} ${f.met ? "met" : "NOT met"}` : "",
  ]);
  const header = ["figure", "median", "spread (min – max)", "goal"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

// Exit once the results are written: a suite that failed half way may leave a runtime,
// its threads or a server behind, which must not keep the command (and the CPU) busy.
main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => process.stdout.write("", () => process.exit()));
