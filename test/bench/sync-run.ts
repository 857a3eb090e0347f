/**
 * The sync benchmarks alone (`npx tsx test/bench/sync-run.ts`), for iterating at small scale
 * without the rest of `npm run bench`: prints the table and writes its own JSON
 * (bench-results/sync-bench.json unless BENCH_OUT says otherwise). Which parts run comes from
 * CHAIRSIDE_BENCH_SYNC (`throughput`, `initial`, `compaction`, comma-separated; all by default).
 */
import { resolve } from 'node:path';
import { type BenchRow, formatTable, summarizeStatuses, writeJsonReport } from './report.js';
import { measureCompaction } from './sync-compaction.js';
import { measureInitialSync } from './sync-initial.js';
import { measureSyncThroughput } from './sync-throughput.js';
import { elapsedMs } from './timing.js';

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<void> {
  // The joining device's bcrypt workers are unref'd; this keeps the loop alive while they work.
  const keepAlive = setInterval(() => undefined, 60_000);
  const startedAt = new Date();
  const start = process.hrtime.bigint();
  const rows: BenchRow[] = [];
  try {
    rows.push(...(await measureSyncThroughput(progress, 'standalone')));
    rows.push(...(await measureInitialSync(progress, 'standalone')));
    rows.push(...(await measureCompaction(progress, 'standalone')));
  } finally {
    clearInterval(keepAlive);
  }
  const durationMs = elapsedMs(start);
  const outFile = resolve(process.env.BENCH_OUT ?? 'bench-results/sync-bench.json');
  writeJsonReport(outFile, rows, {
    startedAt,
    durationMs,
    config: { sync: process.env.CHAIRSIDE_BENCH_SYNC ?? 'all' },
  });
  const summary = summarizeStatuses(rows);
  process.stdout.write(`\n${formatTable(rows)}\n\n${summary.pass} PASS, ${summary.miss} MISS; results in ${outFile}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `sync benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
