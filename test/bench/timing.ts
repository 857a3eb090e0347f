/** Wall-clock timing with process.hrtime.bigint(), in milliseconds as floating-point numbers. */

/** Milliseconds since a start taken with process.hrtime.bigint(). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Times one synchronous call; returns its duration in ms. */
export function timeSync(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return elapsedMs(start);
}

/** Times one asynchronous call, from the call until its promise settles; returns ms. */
export async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return elapsedMs(start);
}

/** Runs `warmup` untimed calls, then returns the duration of each of `iterations` timed calls. */
export function sampleSync(warmup: number, iterations: number, fn: (i: number) => unknown): number[] {
  for (let i = 0; i < warmup; i++) fn(i);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) samples.push(timeSync(() => fn(warmup + i)));
  return samples;
}

/** Asynchronous variant of sampleSync. */
export async function sampleAsync(
  warmup: number,
  iterations: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) samples.push(await timeAsync(() => fn(warmup + i)));
  return samples;
}
