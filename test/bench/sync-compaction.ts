/**
 * Compaction of a big clinic's change log (docs/sync-protocol.md, "Compaction (built)"), on each
 * storage: how long `compactChanges` takes and how much memory it holds, since it reads every
 * change of the mutable entities at once.
 *
 * Seeded through the storage API (not timed): `CHAIRSIDE_BENCH_SYNC_COMPACT_PATIENTS` patients,
 * each an insert, a medical-history insert and three phone edits one after the other (the first
 * two are superseded by the third), in transactions of 1000 changes. The one device then records
 * its cursor at the log's head, so the horizon is the head. Timed: one `compactChanges`. Checked:
 * it removed exactly the two superseded edits of each patient, and a second run removes nothing.
 * The heap is sampled on a timer, which only fires while a compaction awaits (PostgreSQL): the
 * SQLite figure is the heap after the run, not its peak.
 */
import type { ChangeRecord } from '../../shared/sync/change.js';
import { generatePatients } from '../../main/demo/synthetic-patients.js';
import { newDevicePublicKey } from '../../sync-server/storage/conformance-fixtures.js';
import type { ClinicStore } from '../../sync-server/storage/storage.js';
import type { BenchRow } from './report.js';
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

/** Seeds the clinic's log; returns the device that wrote it and the number of changes. */
async function seedLog(
  server: BenchServer,
  store: ClinicStore,
  patients: number,
): Promise<{ deviceId: string; changes: number }> {
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
  return { deviceId, changes: changes.length };
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
    await store.recordPulledCursor(seeded.deviceId, await store.latestChangeSeq());
    await server.settle();
    progress(`  ${kind}: seeded ${seeded.changes.toLocaleString('en-US')} changes; compacting`);

    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => {
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }, 5);
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    const result = await store.compactChanges();
    const ms = elapsedMs(start);
    clearInterval(sampler);
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    const machine = machineNote(cpu);

    const expectedRemoved = patients * (EDITS - 1);
    if (result.removed !== expectedRemoved) {
      throw new Error(`compaction removed ${result.removed} changes, expected ${expectedRemoved}`);
    }
    const again = await store.compactChanges();
    if (again.removed !== 0) throw new Error(`a second compaction removed ${again.removed} changes`);
    progress(`  ${kind}: removed ${result.removed.toLocaleString('en-US')} in ${(ms / 1000).toFixed(2)} s`);

    return [
      {
        section: SECTION,
        name: `${kind}: compact a log of ${seeded.changes.toLocaleString('en-US')} changes`,
        value: ms,
        unit: 'ms',
        note: `removed ${result.removed.toLocaleString('en-US')}, kept ${result.kept.toLocaleString('en-US')}; heap +${((heapPeak - heapBefore) / 2 ** 20).toFixed(0)} MiB at most as sampled every 5 ms (no sample can run during a synchronous SQLite compaction; ${global.gc ? 'after a GC' : 'no forced GC'}); ${machine}`,
      },
      {
        section: SECTION,
        name: `${kind}: changes examined/s`,
        value: seeded.changes / (ms / 1000),
        unit: 'rows/s',
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
  const patients = envCount('CHAIRSIDE_BENCH_SYNC_COMPACT_PATIENTS', 100_000);
  const rows: BenchRow[] = [];
  for (const kind of benchStorages()) rows.push(...(await measureOn(kind, patients, progress)));
  return rows;
}
