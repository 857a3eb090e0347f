/**
 * A campaign of the convergence-under-faults property test (issue #18): `npm run convergence --
 * --runs 1000 --seed 1` runs 1,000 runs spread over 10 consecutive seeds (1..10), each seed in
 * its own vitest process, two at a time, and prints a table of runs, failures and time per seed.
 * A failing seed stops at its first failure and prints the command that replays it by seed and
 * path. Exits 1 when any run failed. Logs go to test-results/convergence/.
 *
 * Options: --runs N (total, default 1000), --seed S (first seed, default 1), --seeds K (default
 * 10), --parallel P (processes at once, default 2), --model V (model version, default current),
 * --storage sqlite|postgres (the sync server's storage, default sqlite).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    seeds: { type: 'string', default: '10' },
    parallel: { type: 'string', default: '2' },
    model: { type: 'string' },
    storage: { type: 'string', default: 'sqlite' },
  },
});

function wholeNumber(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be a whole number >= ${min}`);
  return value;
}

const totalRuns = wholeNumber('runs', values.runs, 1);
const firstSeed = wholeNumber('seed', values.seed, 0);
const seedCount = Math.min(wholeNumber('seeds', values.seeds, 1), totalRuns);
const parallel = wholeNumber('parallel', values.parallel, 1);
const logDir = join('test-results', 'convergence');
mkdirSync(logDir, { recursive: true });

/** What one seed's process did. */
interface SeedResult {
  readonly seed: number;
  readonly asked: number;
  /** Runs that ran (the failing one included). */
  readonly ran: number;
  readonly failed: boolean;
  readonly seconds: number;
  readonly summary: string;
  readonly failure: string;
  readonly replay: string;
}

/** Runs one seed's share of the campaign in its own vitest process. */
function runSeed(seed: number, runs: number): Promise<SeedResult> {
  const started = Date.now();
  const env = {
    ...process.env,
    CHAIRSIDE_CONVERGENCE_RUNS: String(runs),
    CHAIRSIDE_CONVERGENCE_SEED: String(seed),
    ...(values.model === undefined ? {} : { CHAIRSIDE_CONVERGENCE_MODEL: values.model }),
    CHAIRSIDE_CONVERGENCE_STORAGE: values.storage,
  };
  const args = [
    'vitest',
    'run',
    '--config',
    'build/vitest.config.ts',
    'test/sync/convergence.property.test.ts',
    '-t',
    'brings three devices',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('npx', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      // eslint-disable-next-line no-control-regex -- vitest colours its output
      const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
      writeFileSync(join(logDir, `seed-${seed}.log`), plain);
      const summary = /convergence: (\d+) runs[^\n]*/.exec(plain);
      const failure = /convergence run (\d+) failed: ([^\n]*)/.exec(plain);
      const path = /path: "([0-9:]+)"/.exec(plain);
      const failed = code !== 0;
      const ran = summary ? Number(summary[1]) : failure ? Number(failure[1]) : 0;
      resolve({
        seed,
        asked: runs,
        ran,
        failed,
        seconds: (Date.now() - started) / 1000,
        summary: summary?.[0] ?? '',
        failure: failed ? (failure?.[2] ?? `vitest exited with ${code}; see ${logDir}/seed-${seed}.log`) : '',
        replay:
          failed && path
            ? `CHAIRSIDE_CONVERGENCE_STORAGE=${values.storage} CHAIRSIDE_CONVERGENCE_SEED=${seed} ` +
              `CHAIRSIDE_CONVERGENCE_PATH=${path[1]} CHAIRSIDE_CONVERGENCE_RUNS=1 ` +
              `npx vitest run --config build/vitest.config.ts test/sync/convergence.property.test.ts -t 'brings three'`
            : '',
      });
    });
  });
}

const seeds = Array.from({ length: seedCount }, (_, index) => firstSeed + index);
// Runs split evenly, the first seeds taking the remainder.
const share = (index: number) => Math.floor(totalRuns / seedCount) + (index < totalRuns % seedCount ? 1 : 0);
const started = Date.now();
console.log(
  `convergence campaign: ${totalRuns} runs over seeds ${seeds[0]}..${seeds.at(-1)} on ${values.storage}, ` +
    `${parallel} at a time` +
    (values.model === undefined ? '' : `, model ${values.model}`),
);
const results: SeedResult[] = [];
let next = 0;
async function worker(): Promise<void> {
  while (next < seeds.length) {
    const index = next++;
    const result = await runSeed(seeds[index]!, share(index));
    results.push(result);
    console.log(
      `  seed ${result.seed}: ${result.failed ? `FAILED at run ${result.ran}` : `${result.ran} runs passed`} ` +
        `in ${result.seconds.toFixed(0)} s (${results.length}/${seeds.length} seeds done)`,
    );
  }
}
await Promise.all(Array.from({ length: Math.min(parallel, seeds.length) }, () => worker()));

results.sort((a, b) => a.seed - b.seed);
const ran = results.reduce((sum, result) => sum + result.ran, 0);
const failures = results.filter((result) => result.failed);
console.log('\n| seed | runs | result | seconds |\n| ---: | ---: | --- | ---: |');
for (const result of results) {
  console.log(
    `| ${result.seed} | ${result.ran} | ${result.failed ? 'FAILED' : 'passed'} | ${result.seconds.toFixed(0)} |`,
  );
}
for (const failure of failures) {
  console.log(
    `\nseed ${failure.seed}: ${failure.failure}\n  replay: ${failure.replay || '(no path found in the log)'}`,
  );
}
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const report = {
  totalRuns,
  firstSeed,
  storage: values.storage,
  seeds,
  ran,
  failures: failures.length,
  minutes: Number(minutes),
  results,
};
writeFileSync(join(logDir, 'campaign.json'), JSON.stringify(report, null, 2));
console.log(`\nconvergence campaign: ${ran} runs, ${failures.length} failed seeds, ${minutes} min`);
process.exitCode = failures.length === 0 && ran > 0 ? 0 : 1;
