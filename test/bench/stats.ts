/**
 * Pure statistics for the benchmarks: percentiles by linear interpolation between closest ranks
 * (the "type 7" definition used by NumPy and R's default), summaries and medians. No timing here,
 * so it is unit-tested on known arrays (test/bench-stats.test.ts).
 */

/** Percentiles and spread of a set of samples, in the samples' unit. */
export interface Summary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The p-th percentile (0-100) of samples already sorted ascending; interpolates between ranks. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile ${p} is outside 0-100`);
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower]!;
  return low + (sorted[upper]! - low) * (rank - lower);
}

/** The p-th percentile (0-100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(samples), p);
}

/** The median of unsorted samples. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Count, min, p50, p95, p99, max and mean of unsorted samples. */
export function summarize(samples: readonly number[]): Summary {
  const sorted = sortedCopy(samples);
  let total = 0;
  for (const value of sorted) total += value;
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentileOfSorted(sorted, 50),
    p95: percentileOfSorted(sorted, 95),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: total / sorted.length,
  };
}

function sortedCopy(samples: readonly number[]): number[] {
  return [...samples].sort((a, b) => a - b);
}
