/** Small helpers every benchmark shares: repeated runs, medians with their spread. */

export interface Figure {
  /** Stable id, e.g. `hot-path.events-per-second`. */
  readonly id: string;
  readonly label: string;
  /** Median over the runs. */
  readonly value: number;
  readonly unit: string;
  /** Smallest and largest run, so a reader sees how noisy the median is. */
  readonly spread?: readonly [number, number];
  /** The goal an issue set, when there is one, e.g. ">= 50000". */
  readonly goal?: string;
  readonly met?: boolean;
  /** For a side-by-side ratio (unit "x"): the ids of the two figures divided, numerator first. */
  readonly of?: readonly [string, string];
  /** Why there is no value (value is NaN): a peer is missing, or the suite failed. */
  readonly skipped?: string;
}

/** A side-by-side ratio of two figures measured in the same run. */
export function ratio(id: string, label: string, numerator: Figure, denominator: Figure, goal?: { goal: string; met: boolean }): Figure {
  return { id, label, value: numerator.value / denominator.value, unit: "x", of: [numerator.id, denominator.id], ...goal };
}

/** A row that says what could not be measured and why, instead of a number. */
export function skipped(id: string, label: string, reason: string): Figure {
  return { id, label, value: Number.NaN, unit: "", skipped: reason };
}

export interface Suite {
  readonly name: string;
  run(options: { quick: boolean }): Promise<Figure[]>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `once` `repeats` times and returns the median with min and max. */
export async function repeat(repeats: number, once: () => Promise<number>): Promise<{ value: number; spread: [number, number] }> {
  const values: number[] = [];
  for (let i = 0; i < repeats; i += 1) values.push(await once());
  return { value: median(values), spread: [Math.min(...values), Math.max(...values)] };
}

/** Runs `once` `repeats` times; per field, the median with the smallest and largest run. */
export async function repeatRuns<T extends Record<string, number>>(repeats: number, once: () => Promise<T>): Promise<{ [K in keyof T]: { value: number; spread: [number, number] } }> {
  const runs: T[] = [];
  for (let i = 0; i < repeats; i += 1) runs.push(await once());
  return Object.fromEntries(
    Object.keys(runs[0]!).map((key) => {
      const values = runs.map((run) => run[key]!);
      return [key, { value: median(values), spread: [Math.min(...values), Math.max(...values)] }];
    }),
  ) as { [K in keyof T]: { value: number; spread: [number, number] } };
}

/**
 * Calls `step` for `ms` milliseconds (after a warm-up) and returns operations per second.
 * Steps are counted in batches so the clock is not read on every call.
 */
export async function throughput(ms: number, step: (i: number) => unknown | Promise<unknown>, batch = 100): Promise<number> {
  const warmUntil = performance.now() + Math.min(300, ms / 4);
  let i = 0;
  while (performance.now() < warmUntil) for (let j = 0; j < batch; j += 1) await step(i++);
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < ms) {
    for (let j = 0; j < batch; j += 1) await step(i++);
    count += batch;
  }
  return (count * 1000) / (performance.now() - start);
}
