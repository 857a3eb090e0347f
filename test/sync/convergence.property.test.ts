/**
 * Convergence under faults (issues #4 and #18, docs/sync-protocol.md "Convergence tests"): three
 * devices of one clinic and a real sync server over HTTP on 127.0.0.1 (SQLite files, or its own
 * PostgreSQL database). fast-check generates random offline edits on every device (the same field
 * of the same patient on several devices included; in model version 2 also the Admin's branch and
 * user edits and the edited user's own patient edits), sync rounds, partitions, lost push answers
 * with the device killed mid-push, writes interrupted inside their transaction with the device
 * killed and restarted from its files, server stops, real restarts and deaths inside a request,
 * compactions, and clock skew. Afterwards everything is healed, the devices sync until nothing
 * moves, and the checks in convergence/convergence-checks.ts must hold. CI runs a fixed seed, two
 * runs on PostgreSQL and the counterexamples longer runs found; `CHAIRSIDE_CONVERGENCE_RUNS=N`
 * (with `_SEED`, `_PATH`, `_MODEL`, `_STORAGE`) runs longer on demand, and `npm run convergence`
 * runs a campaign (convergence/campaign.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClinicCore } from '../../main/core/clinic-core.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  createTestClinic,
  tempDataDir,
  testKeyProvider,
} from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import { type Action, CURRENT_MODEL, type ModelVersion, scenarioArbitrary } from './convergence/actions.js';
import { Cluster } from './convergence/cluster.js';
import type { StorageKind } from './convergence/sync-server-process.js';
import {
  expectAcknowledgedWrites,
  expectIdenticalReplicas,
  expectLateJoinerIdentical,
  expectServerLogState,
  expectSettledDevices,
  syncUntilQuiescent,
} from './convergence/convergence-checks.js';
import { ActionRunner, type RunStats } from './convergence/run-actions.js';

const CI_SEED = 20261122;
/** Runs in CI: each sets up a server and three devices (about 2 s) and runs up to 96 commands. */
const CI_RUNS = 6;
const MAX_COMMANDS = 90;

function numberFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number, not ${text}`);
  return value;
}

const runs = numberFromEnv('CHAIRSIDE_CONVERGENCE_RUNS', CI_RUNS);
const seed = numberFromEnv('CHAIRSIDE_CONVERGENCE_SEED', CI_SEED);
const shrink = process.env.CHAIRSIDE_CONVERGENCE_SHRINK === '1';
/** fast-check's path of one run to replay (its failure report prints it), e.g. "66". */
const path = process.env.CHAIRSIDE_CONVERGENCE_PATH || undefined;
const model = numberFromEnv('CHAIRSIDE_CONVERGENCE_MODEL', CURRENT_MODEL);
if (model !== 1 && model !== 2) throw new Error(`CHAIRSIDE_CONVERGENCE_MODEL must be 1 or 2, not ${model}`);
const storageText = process.env.CHAIRSIDE_CONVERGENCE_STORAGE || 'sqlite';
if (storageText !== 'sqlite' && storageText !== 'postgres') {
  throw new Error(`CHAIRSIDE_CONVERGENCE_STORAGE must be sqlite or postgres, not ${storageText}`);
}
const storage: StorageKind = storageText;
/** Runs on PostgreSQL in CI, after the SQLite ones: each creates and drops its own database. */
const CI_POSTGRES_RUNS = 2;

/**
 * One run: a cluster named after the seed and the run's number (its ids derive from that name, so
 * a replayed path meets the ids it was found with), the commands, then every check.
 */
async function checkedRun(
  version: ModelVersion,
  runSeed: number,
  run: number,
  actions: Action[],
  kind: StorageKind = 'sqlite',
): Promise<RunStats> {
  const name = `convergence-${runSeed}-${run}`;
  const cluster = await Cluster.create(name, version, kind);
  try {
    const runner = new ActionRunner(cluster);
    await runner.run(actions);
    // A partition, a stopped server or a lost answer fail a round with NETWORK; nothing else may.
    expect(runner.unexpectedRoundErrors).toEqual([]);
    await syncUntilQuiescent(cluster);
    await expectSettledDevices(cluster);
    await expectIdenticalReplicas(cluster);
    await expectServerLogState(cluster);
    const outcome = await expectAcknowledgedWrites(cluster, runner.acknowledged.writes);
    runner.stats.compactedBeforeLateJoin = await expectLateJoinerIdentical(cluster, name);
    runner.stats.storageReopens = cluster.server.storageReopens;
    runner.stats.supersededOnDevices = outcome.superseded;
    runner.stats.displacedAndLogged = outcome.displacedAndLogged;
    runner.stats.acknowledgedCompacted = outcome.compacted;
    return runner.stats;
  } catch (error) {
    // Long runs show progress as they go; vitest prints console output only at the end.
    process.stderr.write(`convergence run ${run} failed: ${String(error).slice(0, 500)}\n`);
    throw error;
  } finally {
    await cluster.close();
  }
}

/** Replays one run of a seed by its fast-check path; returns its stats. */
async function replay(version: ModelVersion, runSeed: number, runPath: string): Promise<RunStats> {
  let stats: RunStats | undefined;
  const run = Number(runPath.split(':')[0]) + 1;
  await fc.assert(
    fc.asyncProperty(scenarioArbitrary(MAX_COMMANDS, version), async (actions) => {
      stats = await checkedRun(version, runSeed, run, actions);
    }),
    { seed: runSeed, path: runPath, numRuns: 1, endOnFailure: true },
  );
  if (!stats) throw new Error(`seed ${runSeed} path ${runPath} ran nothing`);
  return stats;
}

describe('convergence under faults', () => {
  it(
    'brings three devices to identical data without losing an acknowledged write, whatever the faults',
    async () => {
      const totals: RunStats[] = [];
      // Runs are numbered as in the campaign that found them: a replayed path keeps its run's ids.
      let run = path === undefined ? 0 : Number(path.split(':')[0]);
      await fc.assert(
        fc.asyncProperty(scenarioArbitrary(MAX_COMMANDS, model), async (actions) => {
          run++;
          totals.push(await checkedRun(model, seed, run, actions, storage));
        }),
        // Shrinking rebuilds the cluster for every attempt (minutes): only when asked for. The seed
        // and path in the failure replay the failing run.
        { seed, numRuns: runs, endOnFailure: !shrink, ...(path === undefined ? {} : { path }) },
      );
      const sum = (pick: (stats: RunStats) => number) => totals.reduce((total, stats) => total + pick(stats), 0);
      const deaths = (stats: RunStats) => Object.values(stats.serverDiedMidRequest).reduce((a, b) => a + b, 0);
      const deathsByOperation: Record<string, number> = {};
      for (const stats of totals) {
        for (const [key, count] of Object.entries(stats.serverDiedMidRequest)) {
          deathsByOperation[key] = (deathsByOperation[key] ?? 0) + count;
        }
      }
      console.info(
        `convergence: ${totals.length} runs (seed ${seed}, model ${model}, ${storage}): ${sum((s) => s.steps)} steps, ` +
          `${sum((s) => s.acknowledged)} acknowledged writes, ${sum((s) => s.rounds)} rounds, ` +
          `${sum((s) => s.killedMidTransaction)} killed mid-transaction, ${sum((s) => s.killedMidPush)} killed ` +
          `mid-push, ${sum((s) => s.serverKilledMidPush)} server restarts mid-push, ${sum(deaths)} server deaths ` +
          `mid-request (${JSON.stringify(deathsByOperation)}), ${sum((s) => s.serverStops)} server stops, ${sum((s) => s.storageReopens)} storage ` +
          `reopens, ${sum((s) => s.deviceRestarts)} device restarts, ${sum((s) => s.branchesCreated)} branches ` +
          `created, ${sum((s) => s.userEdits)} user edits, ${sum((s) => s.frontDeskEdits)} front-desk patient ` +
          `edits, ${sum((s) => s.compactions)} compactions removing ${sum((s) => s.compactedChanges)} changes ` +
          `(${sum((s) => s.acknowledgedCompacted)} acknowledged writes among them), ` +
          `${sum((s) => s.compactedBeforeLateJoin)} more removed before a late device joined; ` +
          `acknowledged values superseded on a device ${sum((s) => s.supersededOnDevices)} times, ` +
          `${sum((s) => s.displacedAndLogged)} displaced and kept in the conflict log`,
      );
      // The fixed seed must exercise every fault it claims to (a longer run only adds to them).
      if (
        seed === CI_SEED &&
        runs >= CI_RUNS &&
        path === undefined &&
        model === CURRENT_MODEL &&
        storage === 'sqlite'
      ) {
        expect(sum((s) => s.acknowledged)).toBeGreaterThan(50);
        expect(sum((s) => s.killedMidTransaction)).toBeGreaterThan(0);
        expect(sum((s) => s.killedMidPush)).toBeGreaterThan(0);
        expect(sum((s) => s.serverKilledMidPush)).toBeGreaterThan(0);
        expect(sum(deaths)).toBeGreaterThan(0);
        expect(sum((s) => s.serverStops)).toBeGreaterThan(0);
        expect(sum((s) => s.storageReopens)).toBeGreaterThan(0);
        expect(sum((s) => s.displacedAndLogged)).toBeGreaterThan(0);
        expect(sum((s) => s.compactions)).toBeGreaterThan(0);
        expect(sum((s) => s.compactedChanges + s.compactedBeforeLateJoin)).toBeGreaterThan(0);
        expect(sum((s) => s.branchesCreated)).toBeGreaterThan(0);
        expect(sum((s) => s.userEdits)).toBeGreaterThan(0);
        expect(sum((s) => s.frontDeskEdits)).toBeGreaterThan(0);
      }
    },
    // About 2-3 s a run on this 2-core machine, 10 s when loaded; a hang still fails.
    Math.max(5 * 60_000, runs * 60_000),
  );
});

describe('convergence under faults on PostgreSQL', () => {
  it('brings three devices to identical data through a server on PostgreSQL', async () => {
    const totals: RunStats[] = [];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary(MAX_COMMANDS), async (actions) => {
        run++;
        totals.push(await checkedRun(CURRENT_MODEL, CI_SEED, run, actions, 'postgres'));
      }),
      { seed: CI_SEED, numRuns: CI_POSTGRES_RUNS, endOnFailure: true },
    );
    expect(totals.reduce((sum, stats) => sum + stats.acknowledged, 0)).toBeGreaterThan(10);
    expect(totals.reduce((sum, stats) => sum + stats.storageReopens, 0)).toBeGreaterThan(0);
  }, 120_000);
});

/**
 * Counterexamples longer runs found (issue #18), replayed by seed and path with the model version
 * that found them. Both were the checks' mistake, not the product's: compaction had removed an
 * acknowledged write that a later write superseded, and the checks read only the log that was
 * left. Each replay must still meet the compacted acknowledged write, or it no longer tests that.
 */
describe('convergence regressions', () => {
  it('counts a superseded write that compaction removed as having reached the server (seed 12, path 66)', async () => {
    const stats = await replay(1, 12, '66');
    expect(stats.acknowledgedCompacted).toBeGreaterThan(0);
  }, 120_000);

  it("does not ask for a conflict entry when the device's own later write, since compacted, displaced its value (seed 20261207, path 35)", async () => {
    const stats = await replay(1, 20261207, '35');
    expect(stats.acknowledgedCompacted).toBeGreaterThan(0);
  }, 120_000);
});

/** Runs the child writer until it has acknowledged `acks` writes, waits `delayMs`, and SIGKILLs it. */
async function killWriterAfter(
  args: readonly string[],
  acks: number,
  delayMs: number,
): Promise<{ lines: string[]; signal: NodeJS.Signals | null }> {
  const script = fileURLToPath(new URL('./convergence/acknowledging-writer.ts', import.meta.url));
  // One process (tsx as a loader, not its CLI, which would run the script in a grandchild).
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let pending = '';
  let stderr = '';
  let killScheduled = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop()!;
    lines.push(...complete);
    const acknowledged = lines.filter((line) => line.startsWith('created ') || line.startsWith('updated ')).length;
    if (!killScheduled && acknowledged >= acks) {
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    }
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, exitSignal) => {
      if (exitSignal === null) reject(new Error(`writer exited with ${code} before it was killed: ${stderr}`));
      else resolve(exitSignal);
    });
  });
  return { lines, signal };
}

describe('a device killed while it writes', () => {
  it('keeps every write it acknowledged, with an intact database and audit chain, after SIGKILL', async () => {
    const [moment] = fc.sample(
      fc.record({ acks: fc.integer({ min: 4, max: 40 }), delayMs: fc.integer({ min: 0, max: 15 }) }),
      {
        seed,
        numRuns: 1,
      },
    );
    const temp = tempDataDir();
    try {
      const clinic = await createTestClinic({ dataDir: temp.dir });
      await clinic.signedInUser('Dentist', { allBranches: true, username: 'drwriter' });
      await clinic.core.close();

      const { lines, signal } = await killWriterAfter(
        [temp.dir, 'drwriter', clinic.branchId],
        moment!.acks,
        moment!.delayMs,
      );
      expect(signal).toBe('SIGKILL');
      const created = lines.filter((line) => line.startsWith('created ')).map((line) => line.split(' '));
      const updated = lines.filter((line) => line.startsWith('updated ')).map((line) => line.split(' '));
      expect(created.length).toBeGreaterThanOrEqual(Math.floor(moment!.acks / 2));

      const raw = await openRawDatabase(temp.dir);
      try {
        expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
        for (const [, patientId, lastName] of created) {
          expect(raw.prepare('SELECT last_name FROM patients WHERE id = ?').get(patientId)).toEqual({
            last_name: lastName,
          });
          // Its change was captured in the same transaction, so it will sync.
          expect(
            raw.prepare("SELECT count(*) AS n FROM sync_outbox WHERE row_id = ? AND op = 'insert'").get(patientId),
          ).toEqual({ n: 1 });
        }
        // All or nothing, acknowledged or not: no patient without the change that records it.
        expect(
          raw
            .prepare(
              `SELECT count(*) AS n FROM patients p
               WHERE NOT EXISTS (SELECT 1 FROM sync_outbox o WHERE o.row_id = p.id AND o.op = 'insert')`,
            )
            .get(),
        ).toEqual({ n: 0 });
        for (const [, patientId, phone] of updated) {
          expect(raw.prepare('SELECT phone FROM patients WHERE id = ?').get(patientId)).toEqual({
            phone: phone!.replace('_', ' '),
          });
        }
      } finally {
        raw.close();
      }

      const reopened = await ClinicCore.open({ dataDir: temp.dir, keyProvider: testKeyProvider(), bcryptCost: 4 });
      try {
        const admin = new TestCaller(reopened);
        await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
        const verified = await admin.ok('audit.verify', {});
        expect(verified).toMatchObject({ ok: true, firstBadSeq: null });
        // Every acknowledged create and update has its audit entry.
        expect(verified.entries).toBeGreaterThan(created.length + updated.length);
      } finally {
        await reopened.close();
      }
    } finally {
      temp.remove();
    }
  }, 60_000);
});
