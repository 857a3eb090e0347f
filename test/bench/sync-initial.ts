/**
 * Initial sync of a big clinic to a new device (issue #4, "Benchmark"), on each storage.
 *
 * Seeding (not timed): the server's clinic gets, through the storage API in bulk, the clinic's
 * users (with bcrypt hashes), a branch, `CHAIRSIDE_BENCH_SYNC_PATIENTS` patients each with a
 * medical history (two changes per patient, in transactions of 1000 changes as a founding PC's
 * upload would store them), and `CHAIRSIDE_BENCH_SYNC_AUDIT` audit entries: genuine hash chains of
 * 10 enrolled devices, appended with sequence and linkage checks, each entry a leaf of the
 * clinic's Merkle log.
 *
 * Timed: a fresh ClinicCore runs `setup.joinClinic` through the pipeline against the listening
 * server (create the encrypted database, enroll with a new Ed25519 key, take a token, pull every
 * change, apply them all in one transaction with the FTS index), until it answers. The split
 * between pulling and applying is taken from the device's own fetch (the time of the last
 * answer). Then the Admin signs in and searches for the last patient, and the bench checks that
 * every patient is in the table and in the search index.
 *
 * What the new device downloads: the change log only. Devices do not pull the consolidated audit
 * log (nothing in the protocol sends it to devices yet), so the audit entries make the server's
 * database bigger but are not transferred.
 */
import bcrypt from 'bcryptjs';
import { type AuditEntryBody, auditGenesisHash, canonicalAuditBody, chainHash } from '../../shared/audit-chain.js';
import type { ChangeRecord } from '../../shared/sync/change.js';
import { ClinicCore } from '../../main/core/clinic-core.js';
import type { CoreServices } from '../../main/core/core-services.js';
import { ManualClock, type IdSource, testSources } from '../../main/core/platform/sources.js';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { generatePatients } from '../../main/demo/synthetic-patients.js';
import { nodeSha256 } from '../../sync-server/storage/node-crypto.js';
import { newDevicePublicKey } from '../../sync-server/storage/conformance-fixtures.js';
import type { AuditEntryInput, ClinicStore } from '../../sync-server/storage/storage.js';
import { ADMIN_PASSWORD, TestCaller, tempDataDir, testKeyProvider } from '../support/clinic-fixture.js';
import type { BenchRow } from './report.js';
import {
  type BenchServer,
  type BenchStorageKind,
  ChangeFactory,
  benchFetch,
  benchIds,
  benchStorages,
  envCount,
  machineNote,
  medicalFields,
  operatorEnrollmentCode,
  patientInsertFields,
  startBenchServer,
  syncBenchEnabled,
} from './sync-bench-support.js';
import { elapsedMs } from './timing.js';

const SECTION = '7 initial sync';
/** Seconds a new device may take to be usable with 100,000 patients (issue #4: half the peer's 23.6 s). */
const JOIN_TARGET_S = 12;
/** The patient count the target is set for; other sizes are reported without a target. */
const TARGET_PATIENTS = 100_000;
/** Changes per stored transaction when seeding (the server's per-batch limit). */
const SEED_BATCH = 1000;
/** Device chains the seeded audit entries come from. */
const AUDIT_DEVICES = 10;

/** Sizes, from the environment (defaults in docs/sync-protocol.md, "Benchmarks"). */
export interface InitialSyncConfig {
  readonly patients: number;
  readonly auditEntries: number;
}

export function readInitialSyncConfig(): InitialSyncConfig {
  return {
    patients: envCount('CHAIRSIDE_BENCH_SYNC_PATIENTS', 100_000),
    auditEntries: envCount('CHAIRSIDE_BENCH_SYNC_AUDIT', 500_000),
  };
}

/** What the seeding left for the checks. */
interface SeededClinic {
  readonly changes: number;
  readonly lastPatientNumber: string;
}

/** Appends one device's changes through the storage in transactions of SEED_BATCH. */
async function appendInBatches(store: ClinicStore, deviceId: string, changes: readonly ChangeRecord[]): Promise<void> {
  for (let start = 0; start < changes.length; start += SEED_BATCH) {
    const slice = changes.slice(start, start + SEED_BATCH);
    // One transaction id per stored batch: rewrite the slice's txId to the batch's first change's.
    const txId = slice[0]!.txId;
    await store.appendChanges({ deviceId, txId, changes: slice.map((change) => ({ ...change, txId })) });
  }
}

async function seedChanges(server: BenchServer, store: ClinicStore, ids: IdSource, patients: number) {
  const deviceId = ids.next();
  await store
    .createEnrollmentCode({ ttlMs: 60_000, createdBy: null })
    .then(({ code }) =>
      server.storage.redeemEnrollmentCode({ code, deviceId, name: 'Founding PC', publicKey: newDevicePublicKey() }),
    );
  const factory = new ChangeFactory(deviceId, ids);
  const adminId = ids.next();
  const dentistId = ids.next();
  const branchId = ids.next();
  const now = Date.now();
  const adminHash = bcrypt.hashSync(ADMIN_PASSWORD, 4);
  const tx = factory.transaction();
  const founding: ChangeRecord[] = [
    factory.change(tx, adminId, 'user', adminId, 'insert', {
      username: 'admin',
      display_name: 'Asha Admin',
      role: 'Admin',
      all_branches: 1,
      disabled: 0,
      password_hash: adminHash,
      password_changed_at: now,
      created_at: now,
    }),
    factory.change(tx, adminId, 'user', dentistId, 'insert', {
      username: 'drmeera',
      display_name: 'Dr Meera',
      role: 'Dentist',
      all_branches: 1,
      disabled: 0,
      password_hash: adminHash,
      password_changed_at: now,
      created_at: now,
    }),
    factory.change(tx, adminId, 'branch', branchId, 'insert', { name: 'MG Road', created_at: now }),
  ];
  const synthetic = generatePatients(patients, `sync-initial:${server.kind}`, now - 400 * 86_400_000);
  const changes: ChangeRecord[] = [...founding];
  for (const patient of synthetic) {
    const txId = factory.transaction();
    changes.push(
      factory.change(
        txId,
        dentistId,
        'patient',
        patient.id,
        'insert',
        patientInsertFields(patient, branchId, dentistId, now),
      ),
      factory.change(txId, dentistId, 'patient_medical', patient.id, 'insert', medicalFields(patient.medical)),
    );
  }
  await appendInBatches(store, deviceId, changes);
  return { changes: changes.length, lastPatientNumber: synthetic.at(-1)!.patientNumber, dentistId };
}

/** Appends genuine device chains (hash-linked, from the genesis hash) through the storage. */
async function seedAudit(
  server: BenchServer,
  store: ClinicStore,
  ids: IdSource,
  entries: number,
  userId: string,
): Promise<void> {
  const perDevice = Math.ceil(entries / AUDIT_DEVICES);
  let left = entries;
  for (let d = 0; d < AUDIT_DEVICES && left > 0; d++) {
    const deviceId = ids.next();
    const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
    await server.storage.redeemEnrollmentCode({ code, deviceId, name: `PC ${d}`, publicKey: newDevicePublicKey() });
    let prevHash = auditGenesisHash(nodeSha256, deviceId, 1);
    const count = Math.min(perDevice, left);
    left -= count;
    const time = Date.now() - count * 1000;
    for (let start = 1; start <= count; start += 1000) {
      const batch: AuditEntryInput[] = [];
      for (let seq = start; seq < Math.min(start + 1000, count + 1); seq++) {
        const entry: AuditEntryBody = {
          v: 1,
          deviceId,
          epoch: 1,
          seq,
          time: time + seq * 1000,
          userId,
          role: 'Dentist',
          action: seq % 3 === 0 ? 'patients.update' : 'patients.get',
          entityType: 'patient',
          entityId: ids.next(),
          outcome: 'success',
          purpose: 'treatment',
          legalBasis: 'consent',
          details: {},
        };
        const body = canonicalAuditBody(entry);
        const hash = chainHash(nodeSha256, prevHash, body);
        batch.push({ seq, body, prevHash, hash });
        prevHash = hash;
      }
      await store.appendAuditEntries({ deviceId, epoch: 1, entries: batch });
    }
  }
}

/** The core's services, reached by bracket access (type-checked) for the count checks. */
function servicesOf(core: ClinicCore): CoreServices {
  return core['services'];
}

async function measureOn(
  kind: BenchStorageKind,
  config: InitialSyncConfig,
  progress: (message: string) => void,
): Promise<BenchRow[]> {
  const server = await startBenchServer(kind);
  const temp = tempDataDir();
  let core: ClinicCore | undefined;
  try {
    const seedStart = process.hrtime.bigint();
    const store = await server.storage.clinic(server.clinicId);
    const ids = benchIds(`sync-initial:${kind}`);
    const seeded: SeededClinic & { dentistId: string } = await seedChanges(server, store, ids, config.patients);
    await seedAudit(server, store, ids, config.auditEntries, seeded.dentistId);
    progress(
      `  ${kind}: seeded ${seeded.changes.toLocaleString('en-US')} changes and ${config.auditEntries.toLocaleString('en-US')} audit entries in ${(elapsedMs(seedStart) / 1000).toFixed(1)} s`,
    );

    // The device's fetch notes when each answer has been read: the last one ends the pull.
    let lastAnswerAt = 0n;
    const timedFetch: FetchLike = async (url, init) => {
      const response = await benchFetch(url, init);
      const body = await response.arrayBuffer();
      lastAnswerAt = process.hrtime.bigint();
      return new Response(body, { status: response.status, headers: response.headers });
    };
    core = await ClinicCore.open({
      dataDir: temp.dir,
      keyProvider: testKeyProvider(),
      sources: testSources(`sync-initial-device:${kind}`, new ManualClock(Date.now())),
      bcryptCost: 4,
      rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
      sync: { fetch: timedFetch, requestTimeoutMs: 120_000 },
    });
    const caller = new TestCaller(core);
    const code = await operatorEnrollmentCode(server);

    const joinCpu = process.cpuUsage();
    const joinStart = process.hrtime.bigint();
    const joined = await caller.ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: code });
    const joinMs = elapsedMs(joinStart);
    const joinMachine = machineNote(joinCpu);
    const pullMs = Number(lastAnswerAt - joinStart) / 1e6;

    const usableStart = process.hrtime.bigint();
    await caller.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    const found = await caller.ok('patients.search', { query: seeded.lastPatientNumber, limit: 5 });
    const usableMs = elapsedMs(usableStart);

    const db = servicesOf(core).clinic.db!;
    const count = (sql: string) => db.query<{ n: number }>(sql).get()!.n;
    const stored = count('SELECT count(*) AS n FROM patients');
    const indexed = count('SELECT count(*) AS n FROM patients_fts');
    const histories = count('SELECT count(*) AS n FROM patient_medical');
    if (stored !== config.patients || indexed !== config.patients || histories !== config.patients) {
      throw new Error(`the new device holds ${stored} patients, ${indexed} indexed, ${histories} histories`);
    }
    if (!found.results.some((result) => result.patientNumber === seeded.lastPatientNumber)) {
      throw new Error('the last patient is not searchable on the new device');
    }
    if (joined.applied !== seeded.changes) throw new Error(`applied ${joined.applied} of ${seeded.changes} changes`);
    progress(`  ${kind}: joined in ${(joinMs / 1000).toFixed(2)} s (pull ${(pullMs / 1000).toFixed(2)} s)`);

    const size = `${config.patients.toLocaleString('en-US')} patients, ${seeded.changes.toLocaleString('en-US')} changes`;
    return [
      {
        section: SECTION,
        name: `${kind}: setup.joinClinic to usable, ${size}`,
        value: joinMs,
        unit: 'ms',
        ...(config.patients === TARGET_PATIENTS
          ? { target: { comparator: '<' as const, threshold: JOIN_TARGET_S * 1000 } }
          : {}),
        note: `${(joinMs / 1000).toFixed(2)} s; audit log of ${config.auditEntries.toLocaleString('en-US')} entries on the server, not downloaded; ${joinMachine}`,
      },
      {
        section: SECTION,
        name: `${kind}: changes applied/s over the whole join`,
        value: seeded.changes / (joinMs / 1000),
        unit: 'rows/s',
      },
      {
        section: SECTION,
        name: `${kind}: of which pulling every page (HTTP, parse)`,
        value: pullMs,
        unit: 'ms',
        note: `${(seeded.changes / (pullMs / 1000)).toFixed(0)} changes/s`,
      },
      {
        section: SECTION,
        name: `${kind}: of which applying (one transaction, FTS)`,
        value: joinMs - pullMs,
        unit: 'ms',
        note: `${(seeded.changes / ((joinMs - pullMs) / 1000)).toFixed(0)} changes/s`,
      },
      {
        section: SECTION,
        name: `${kind}: then sign-in + first search`,
        value: usableMs,
        unit: 'ms',
      },
    ];
  } finally {
    await core?.close();
    temp.remove();
    await server.close();
  }
}

/** Runs the initial-sync measurement on each storage chosen. */
export async function measureInitialSync(
  progress: (message: string) => void,
  caller: 'bench' | 'standalone' = 'bench',
): Promise<BenchRow[]> {
  if (!syncBenchEnabled('initial', caller === 'standalone')) return [];
  const config = readInitialSyncConfig();
  const rows: BenchRow[] = [];
  for (const kind of benchStorages()) rows.push(...(await measureOn(kind, config, progress)));
  return rows;
}
