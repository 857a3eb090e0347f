/**
 * The initial-sync bench's server, in a process of its own (a new device and the clinic's server
 * are different computers; sharing one event loop would add the server's work to the device's
 * time). Started by sync-initial.ts with `fork`: it opens the storage, seeds the clinic (not
 * timed), listens on loopback and sends the parent the address, a one-time enrollment code and
 * what it seeded; on the parent's `close` message it stops, removes its data and exits.
 *
 * Seeding: through the storage API in bulk, the clinic's users (with bcrypt hashes), a branch,
 * the patients each with a medical history (two changes per patient, in transactions of 1000
 * changes as a founding PC's upload would store them), and the audit entries: genuine hash chains
 * of 10 enrolled devices, appended with sequence and linkage checks, each entry a leaf of the
 * clinic's Merkle log.
 *
 * Then, also before any timed join, a device asks for the clinic's snapshot once: the server
 * builds it (timed here, reported as the server's build) and from then on holds it and keeps it
 * current, as it does for a clinic whose log it has seen grow (snapshot/snapshot-cache.ts). The
 * seed went into the storage directly, past the push route that would have told the server.
 */
import bcrypt from 'bcryptjs';
import { type AuditEntryBody, auditGenesisHash, canonicalAuditBody, chainHash } from '../../shared/audit-chain.js';
import type { ChangeRecord } from '../../shared/sync/change.js';
import type { IdSource } from '../../main/core/platform/sources.js';
import { generatePatients } from '../../main/demo/synthetic-patients.js';
import { nodeSha256 } from '../../sync-server/storage/node-crypto.js';
import { newDevicePublicKey } from '../support/sync-server/conformance-fixtures.js';
import type { AuditEntryInput, ClinicStore } from '../../sync-server/storage/storage.js';
import { ADMIN_PASSWORD } from '../support/clinic-fixture.js';
import {
  BENCH_STORAGES,
  type BenchServer,
  ChangeFactory,
  appendInBatches,
  benchFetch,
  benchIds,
  enrollBenchDevice,
  registrationChanges,
  operatorEnrollmentCode,
  startBenchServer,
} from './sync-bench-support.js';
import { elapsedMs } from './timing.js';
import { callSyncRoute } from '../../main/core/sync/sync-http.js';
import { snapshotManifest } from '../../shared/sync/wire/snapshot.js';

/** What the server process tells the bench once it listens. */
export interface InitialSyncServerReady {
  readonly url: string;
  /** One-time codes, one for each join the bench times (snapshot built, snapshot held, replay). */
  readonly enrollmentCodes: readonly string[];
  readonly changes: number;
  readonly lastPatientNumber: string;
  readonly seedMs: number;
  /** How long the server took to build the clinic's snapshot after the seed (the cold build, in the background for a join). */
  readonly snapshotBuildMs: number;
}

/** Device chains the seeded audit entries come from. */
const AUDIT_DEVICES = 10;

/** What the seeding left for the checks, and the user the audit entries are of. */
interface SeededClinic {
  readonly changes: number;
  readonly lastPatientNumber: string;
  readonly dentistId: string;
}

async function seedChanges(
  server: BenchServer,
  store: ClinicStore,
  ids: IdSource,
  patients: number,
): Promise<SeededClinic> {
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
    changes.push(...registrationChanges(factory, dentistId, patient, branchId, now));
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

async function main(): Promise<void> {
  const [kindArg, patientsArg, auditArg] = process.argv.slice(2);
  const kind = BENCH_STORAGES.find((name) => name === kindArg);
  if (!kind || !process.send)
    throw new Error('usage: forked by sync-initial.ts with a storage, patients and audit entries');
  const server = await startBenchServer(kind);
  try {
    const seedStart = process.hrtime.bigint();
    const store = await server.storage.clinic(server.clinicId);
    const ids = benchIds(`sync-initial:${kind}`);
    const seeded = await seedChanges(server, store, ids, Number(patientsArg));
    await seedAudit(server, store, ids, Number(auditArg), seeded.dentistId);
    await server.settle();
    const seedMs = elapsedMs(seedStart);
    const warmUp = await enrollBenchDevice(server, ids, 'Snapshot warm-up');
    const buildStart = process.hrtime.bigint();
    await callSyncRoute(benchFetch, server.url, snapshotManifest, {}, { token: warmUp.token, timeoutMs: 600_000 });
    const snapshotBuildMs = elapsedMs(buildStart);
    const ready: InitialSyncServerReady = {
      url: server.url,
      enrollmentCodes: [
        await operatorEnrollmentCode(server),
        await operatorEnrollmentCode(server),
        await operatorEnrollmentCode(server),
      ],
      changes: seeded.changes,
      lastPatientNumber: seeded.lastPatientNumber,
      seedMs,
      snapshotBuildMs,
    };
    process.send({ ready });
    await new Promise<void>((resolve) => {
      process.on('message', (message) => {
        if (message === 'close') resolve();
      });
      process.on('disconnect', () => resolve());
    });
  } finally {
    await server.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  },
);
