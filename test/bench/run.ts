/**
 * `npm run bench`: runs the performance measurements, prints a table and writes JSON results
 * (bench-results/bench.json unless BENCH_OUT says otherwise). Every row with a target is marked
 * PASS or MISS; a miss does not fail the run (exit 0), a crash does (exit 1). Sizes come from the
 * environment (see config.ts) so a quick run is e.g. `BENCH_PATIENTS=5000 npm run bench`.
 */
import { resolve } from 'node:path';
import { measureAuditChain } from './audit-verify.js';
import { type BenchClinic, openBenchClinic } from './bench-clinic.js';
import { measureCipherOverhead } from './cipher-overhead.js';
import { readBenchConfig } from './config.js';
import { measurePatientSearch } from './patient-search.js';
import { measurePipelineOverhead } from './pipeline-overhead.js';
import { type BenchRow, formatTable, summarizeStatuses, writeJsonReport } from './report.js';
import { elapsedMs } from './timing.js';

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<void> {
  // PasswordHasher unrefs its bcrypt workers even while a hash is pending, so a plain Node
  // process awaiting sign-in would exit (code 0) mid-await; this timer keeps the loop alive.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    await runBenchmarks();
  } finally {
    clearInterval(keepAlive);
  }
}

async function runBenchmarks(): Promise<void> {
  const config = readBenchConfig();
  const startedAt = new Date();
  const start = process.hrtime.bigint();
  const rows: BenchRow[] = [];
  const stage = async (label: string, run: () => Promise<BenchRow[]> | BenchRow[]) => {
    progress(`${label}...`);
    const stageStart = process.hrtime.bigint();
    rows.push(...(await run()));
    progress(`${label}: ${(elapsedMs(stageStart) / 1000).toFixed(1)} s`);
  };

  if (config.sections.includes('overhead') || config.sections.includes('search')) {
    let bench: BenchClinic | undefined;
    await stage(`building a clinic of ${config.patients} patients`, async () => {
      bench = await openBenchClinic(config.patients, config.seed);
      return [
        {
          section: '0 setup',
          name: `insert + index ${config.patients.toLocaleString('en-US')} patients (one transaction)`,
          value: config.patients / (bench.populateMs / 1000),
          unit: 'rows/s',
          note: `${(bench.populateMs / 1000).toFixed(2)} s`,
        },
      ];
    });
    try {
      if (config.sections.includes('overhead'))
        await stage('pipeline overhead', () => measurePipelineOverhead(bench!, config));
      if (config.sections.includes('search')) await stage('patient search', () => measurePatientSearch(bench!, config));
    } finally {
      await bench?.close();
    }
  }
  if (config.sections.includes('cipher'))
    await stage('SQLCipher vs plain', () => measureCipherOverhead(config, progress));
  if (config.sections.includes('audit')) await stage('audit chain', () => measureAuditChain(config, progress));
  await stage('sync throughput', async () => (await import('./sync-throughput.js')).measureSyncThroughput(progress));
  await stage('initial sync', async () => (await import('./sync-initial.js')).measureInitialSync(progress));
  await stage('compaction', async () => (await import('./sync-compaction.js')).measureCompaction(progress));
  await stage('live propagation', async () => (await import('./sync-live.js')).measureLivePropagation(progress));

  const durationMs = elapsedMs(start);
  const outFile = resolve(config.outFile);
  writeJsonReport(outFile, rows, { startedAt, durationMs, config: { ...config, sections: config.sections.join(',') } });
  const summary = summarizeStatuses(rows);
  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  process.stdout.write(
    `${summary.pass} PASS, ${summary.miss} MISS in ${(durationMs / 1000).toFixed(1)} s; results in ${outFile}\n`,
  );
  for (const name of summary.missed) process.stdout.write(`  MISS ${name}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
