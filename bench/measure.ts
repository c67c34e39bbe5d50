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
