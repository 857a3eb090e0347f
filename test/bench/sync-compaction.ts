/**
 * Compaction of a big clinic's change log (docs/sync-protocol.md, "Compaction"), on each storage:
 * how long `compactChanges` takes, and above all how long the clinic's other requests wait while
 * it runs. A compaction that held the thread (SQLite is synchronous) or the clinic's change
 * counter (PostgreSQL) for its whole length would stall every pull or push of the clinic for as
 * long; compaction works in slices so that none waits more than about 100 ms.
 *
 * Seeded through the storage API (not timed): `CHAIRSIDE_BENCH_SYNC_COMPACT_PATIENTS` patients
 * (default 2,000; the issue's figure is 100,000 patients, 500,000 changes), each an insert, a
 * medical-history insert and three phone edits one after the other (the first two are superseded
 * by the third), in transactions of 1000 changes. The one device then records its cursor at the
 * log's head, so the horizon is the head.
 *
 * Timed: one `compactChanges`, while a pull of 100 changes is issued every PULL_EVERY_MS and a push
 * of one new patient every PUSH_EVERY_MS, at the storage API in the same process (the server's
 * thread, as a request would reach it). A request's latency runs from the moment it was due, not
 * from when a blocked event loop got round to issuing it, so a stall counts in full. Checked: the
 * compaction removed exactly the two superseded edits of each seeded patient (the pushed patients
 * are new rows above the horizon), every pull and push succeeded, and a second run removes nothing.
 */
import type { ChangeRecord } from '../../shared/sync/change.js';
import { generatePatients } from '../../main/demo/synthetic-patients.js';
import { newDevicePublicKey } from '../support/sync-server/conformance-fixtures.js';
import type { ClinicStore } from '../../sync-server/storage/storage.js';
import type { BenchRow } from './report.js';
import { summarize } from './stats.js';
import {
  type BenchServer,
  type BenchStorageKind,
  ChangeFactory,
  appendInBatches,
  benchIds,
  benchStorages,
  envCount,
  machineNote,
  registrationChanges,
  startBenchServer,
  syncBenchEnabled,
} from './sync-bench-support.js';
import { elapsedMs } from './timing.js';

const SECTION = '8 compaction';
/** Phone edits per patient; all but the last are superseded. */
const EDITS = 3;
/** How often a pull is due during the compaction. */
const PULL_EVERY_MS = 10;
/** How often a push is due during the compaction. */
const PUSH_EVERY_MS = 50;
/** Changes per pulled page. */
const PULL_LIMIT = 100;
/** How long the same load runs without a compaction, for comparison. */
const IDLE_MS = 1000;
/** What the slices are for: no request of the clinic waits longer than this during a compaction. */
const WAIT_TARGET_MS = 100;

interface SeededLog {
  readonly deviceId: string;
  readonly userId: string;
  readonly branchId: string;
  readonly factory: ChangeFactory;
  readonly changes: number;
}

/** Seeds the clinic's log; returns the device that wrote it and the number of changes. */
async function seedLog(server: BenchServer, store: ClinicStore, patients: number): Promise<SeededLog> {
  const ids = benchIds(`sync-compaction:${server.kind}`);
  const deviceId = ids.next();
  const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
  await server.storage.redeemEnrollmentCode({ code, deviceId, name: 'Founding PC', publicKey: newDevicePublicKey() });
  const factory = new ChangeFactory(deviceId, ids);
  const userId = ids.next();
  const branchId = ids.next();
  const now = Date.now();
  const changes: ChangeRecord[] = [];
  for (const patient of generatePatients(patients, `sync-compaction:${server.kind}`, now - 400 * 86_400_000)) {
    changes.push(...registrationChanges(factory, userId, patient, branchId, now));
    for (let edit = 0; edit < EDITS; edit++) {
      changes.push(
        factory.change(factory.transaction(), userId, 'patient', patient.id, 'update', {
          phone: `98450 ${String(10_000 + edit).padStart(5, '0')}`,
        }),
      );
    }
  }
  await appendInBatches(store, deviceId, changes);
  return { deviceId, userId, branchId, factory, changes: changes.length };
}

/** Latencies of the requests issued while `work` ran, each measured from when it was due. */
interface LoadResult {
  readonly pulls: number[];
  readonly pushes: number[];
}

/**
 * Runs `work` while pulls and pushes fall due at fixed intervals. A 1 ms timer issues whatever
 * is due; when the event loop was blocked, the requests that fell due meanwhile are issued late
 * and their wait counts from their due time.
 */
async function underLoad<T>(
  store: ClinicStore,
  seeded: SeededLog,
  head: number,
  work: () => Promise<T>,
): Promise<{ value: T; load: LoadResult }> {
  const pulls: number[] = [];
  const pushes: number[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let pullsIssued = 0;
  let pushesIssued = 0;
  const patients = generatePatients(1000, 'sync-compaction:pushed', Date.now() - 400 * 86_400_000);
  const issueDue = () => {
    const now = performance.now();
    while (start + pullsIssued * PULL_EVERY_MS <= now) {
      const due = start + pullsIssued * PULL_EVERY_MS;
      // A page somewhere in the log, a different one each time (a prime stride over the head).
      const after = (pullsIssued * 7919) % Math.max(head, 1);
      pullsIssued++;
      pending.push(
        store.pullChanges({ after, limit: PULL_LIMIT }).then(() => {
          pulls.push(performance.now() - due);
        }),
      );
    }
    while (start + pushesIssued * PUSH_EVERY_MS <= now) {
      const due = start + pushesIssued * PUSH_EVERY_MS;
      const patient = patients[pushesIssued % patients.length]!;
      pushesIssued++;
      const changes = registrationChanges(seeded.factory, seeded.userId, patient, seeded.branchId, Date.now());
      pending.push(
        store.appendChanges({ deviceId: seeded.deviceId, txId: changes[0]!.txId, changes }).then(() => {
          pushes.push(performance.now() - due);
        }),
      );
    }
  };
  issueDue();
  const timer = setInterval(issueDue, 1);
  try {
    const started = work();
    // A synchronous storage may finish before any timer fires: what fell due meanwhile still runs.
    const value = await started;
    issueDue();
    return { value, load: { pulls, pushes } };
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
  }
}

async function measureOn(
  kind: BenchStorageKind,
  patients: number,
  progress: (message: string) => void,
): Promise<BenchRow[]> {
  const server = await startBenchServer(kind);
  try {
    const store = await server.storage.clinic(server.clinicId);
    const seeded = await seedLog(server, store, patients);
    const head = await store.latestChangeSeq();
    await store.recordPulledCursor(seeded.deviceId, head);
    await server.settle();
    progress(`  ${kind}: seeded ${seeded.changes.toLocaleString('en-US')} changes; compacting under load`);

    // The same load without a compaction first: what a request waits on this machine anyway.
    const idle = await underLoad(store, seeded, head, () => new Promise((resolve) => setTimeout(resolve, IDLE_MS)));
    const idlePulls = summarize(idle.load.pulls);
    const idlePushes = summarize(idle.load.pushes);

    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    const { value: result, load } = await underLoad(store, seeded, head, () => store.compactChanges());
    const ms = elapsedMs(start);
    const machine = machineNote(cpu);

    const expectedRemoved = patients * (EDITS - 1);
    if (result.removed !== expectedRemoved) {
      throw new Error(`compaction removed ${result.removed} changes, expected ${expectedRemoved}`);
    }
    const again = await store.compactChanges();
    if (again.removed !== 0) throw new Error(`a second compaction removed ${again.removed} changes`);
    if (load.pulls.length === 0 || load.pushes.length === 0) throw new Error('no request ran during the compaction');
    const pulls = summarize(load.pulls);
    const pushes = summarize(load.pushes);
    progress(
      `  ${kind}: removed ${result.removed.toLocaleString('en-US')} in ${(ms / 1000).toFixed(2)} s; ` +
        `idle pull wait p99 ${idlePulls.p99.toFixed(1)} ms; pull wait p50 ${pulls.p50.toFixed(1)} ms, p99 ${pulls.p99.toFixed(1)} ms, max ${pulls.max.toFixed(1)} ms; ` +
        `push wait p99 ${pushes.p99.toFixed(1)} ms, max ${pushes.max.toFixed(1)} ms`,
    );

    const log = `${seeded.changes.toLocaleString('en-US')} changes`;
    return [
      {
        section: SECTION,
        name: `${kind}: compact a log of ${log} under load`,
        value: ms,
        unit: 'ms',
        note: `removed ${result.removed.toLocaleString('en-US')}, kept ${result.kept.toLocaleString('en-US')}; ${machine}`,
      },
      {
        section: SECTION,
        name: `${kind}: pull wait during compaction (${log}), p99`,
        stats: pulls,
        value: pulls.p99,
        unit: 'ms',
        target: { comparator: '<', threshold: WAIT_TARGET_MS },
        note: `a page of ${PULL_LIMIT} due every ${PULL_EVERY_MS} ms, timed from when due; p50 ${pulls.p50.toFixed(1)} ms, max ${pulls.max.toFixed(1)} ms, ${pulls.count} pulls; without a compaction p99 ${idlePulls.p99.toFixed(1)} ms`,
      },
      {
        section: SECTION,
        name: `${kind}: push wait during compaction (${log}), p99`,
        stats: pushes,
        value: pushes.p99,
        unit: 'ms',
        target: { comparator: '<', threshold: WAIT_TARGET_MS },
        note: `a new patient due every ${PUSH_EVERY_MS} ms, timed from when due; p50 ${pushes.p50.toFixed(1)} ms, max ${pushes.max.toFixed(1)} ms, ${pushes.count} pushes; without a compaction p99 ${idlePushes.p99.toFixed(1)} ms`,
      },
    ];
  } finally {
    await server.close();
  }
}

/** Runs the compaction measurement on each storage chosen. */
export async function measureCompaction(
  progress: (message: string) => void,
  caller: 'bench' | 'standalone' = 'bench',
): Promise<BenchRow[]> {
  if (!syncBenchEnabled('compaction', caller === 'standalone')) return [];
  const patients = envCount('CHAIRSIDE_BENCH_SYNC_COMPACT_PATIENTS', 2_000);
  const rows: BenchRow[] = [];
  for (const kind of benchStorages()) rows.push(...(await measureOn(kind, patients, progress)));
  return rows;
}
