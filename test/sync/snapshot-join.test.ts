import { generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../support/clinic-fixture.js';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import type { ChangeRecord, FieldValue } from '../../shared/sync/change.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import { SnapshotMerge } from '../../shared/sync/snapshot.js';
import { packSnapshot } from '../../sync-server/snapshot/snapshot-build.js';
import { WriteDb } from '../../main/core/db/access.js';
import { openEncryptedDatabase } from '../../main/core/db/encrypted-database.js';
import { migrate } from '../../main/core/db/migrate.js';
import { migrations } from '../../main/core/db/migrations/index.js';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { cryptoRandom } from '../../main/core/platform/sources.js';
import { REPLICATION_HOOKS } from '../../main/core/replication.js';
import { JoinMerge, applyJoinChanges } from '../../main/core/sync/join-apply.js';
import { addSnapshotToJoin, mergeSnapshotIntoDatabase } from '../../main/core/sync/snapshot-apply.js';
import { type VerifiedSnapshot, verifiedChunk, verifiedManifest } from '../../main/core/sync/snapshot-fetch.js';
import { applyRemoteChange } from '../../main/core/sync/sync-apply.js';

const T0 = Date.UTC(2026, 0, 5, 9);
const DEVICES = ['01JDEV1000000000000000000A', '01JDEV2000000000000000000B', '01JDEV3000000000000000000C'];
const USERS = ['01JVSER0000000000000000000', '01JVSER1000000000000000000'];
const BRANCH_ID = '01JBRANCH10000000000000000';
const PATIENTS = [
  '01JPAT1000000000000000000A',
  '01JPAT2000000000000000000B',
  '01JPAT3000000000000000000C',
  '01JPAT4000000000000000000D',
];
const SERVER_CLINIC = '3f8c2a52-6f1e-4b7a-9d3c-1a2b3c4d5e6f';
const KEY = generateKeyPairSync('ed25519');
const VERIFIER_KEY = formatEd25519VerifierKey(
  nodeSha256,
  'chairside-sync',
  new Uint8Array(KEY.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)),
);

let temp: ReturnType<typeof tempDataDir>;
const opened: Database.Database[] = [];

beforeEach(() => {
  temp = tempDataDir();
});
afterEach(() => {
  for (const raw of opened.splice(0)) raw.close();
  temp.remove();
});

function openDatabase(name: string): { raw: Database.Database; db: WriteDb } {
  const raw = openEncryptedDatabase(join(temp.dir, `${name}.db`), cryptoRandom.bytes(32), { create: true });
  opened.push(raw);
  const db = new WriteDb(raw);
  migrate(db, migrations, () => T0);
  return { raw, db };
}

interface Step {
  readonly kind: 'patient' | 'medical' | 'repeat';
  readonly op: 'insert' | 'update' | 'delete';
  readonly patient: number;
  readonly device: number;
  readonly user: number;
  /** Wall clock offset: small, so HLCs of different devices interleave and arrive out of order. */
  readonly wall: number;
  readonly pick: readonly number[];
}

const FIRST = ['Asha', 'asha', 'Ravi'];
const LAST = ['Rao', 'Iyer'];
const PHONE = ['+91 98111 27364', '098111-27364', null];
const NUMBER = ['P000001', 'P000002', 'P2-000001'];

function patientFields(pick: readonly number[]): Record<string, FieldValue> {
  const at = (i: number) => pick[i % pick.length]!;
  return {
    patient_number: NUMBER[at(0) % NUMBER.length]!,
    branch_id: BRANCH_ID,
    first_name: FIRST[at(1) % FIRST.length]!,
    last_name: LAST[at(2) % LAST.length]!,
    date_of_birth: at(3) % 2 ? '1980-02-01' : null,
    sex: 'female',
    phone: PHONE[at(4) % PHONE.length]!,
    email: null,
    address: `Street ${at(5) % 3}`,
    archived_at: at(6) % 4 === 0 ? T0 : null,
    archive_reason: null,
    merged_into: null,
    created_at: T0,
    created_by: USERS[0]!,
  };
}

function medicalFields(pick: readonly number[]): Record<string, FieldValue> {
  const at = (i: number) => pick[i % pick.length]!;
  return {
    allergies: JSON.stringify(at(0) % 2 ? ['latex'] : []),
    conditions: JSON.stringify(at(1) % 2 ? ['asthma'] : []),
    medications: JSON.stringify(at(2) % 3 ? [] : ['salbutamol']),
  };
}

function someFields(all: Record<string, FieldValue>, pick: readonly number[]): Record<string, FieldValue> {
  const names = Object.keys(all).filter((_, i) => pick[i % pick.length]! % 3 === 0);
  const chosen = names.length > 0 ? names : [Object.keys(all)[pick[0]! % Object.keys(all).length]!];
  return Object.fromEntries(chosen.map((name) => [name, all[name]!]));
}

/** The clinic's branch, then the steps, in server order. */
function toChanges(steps: readonly Step[]): ChangeRecord[] {
  let seq = 0;
  const make = (
    deviceId: string,
    userId: string,
    entity: ChangeRecord['entity'],
    rowId: string,
    op: ChangeRecord['op'],
    fields: Record<string, FieldValue>,
    wallMs: number,
  ): ChangeRecord => {
    seq++;
    const id = `01JCHANGE${String(seq).padStart(17, '0')}`;
    return {
      changeId: id,
      txId: id,
      deviceId,
      userId,
      entity,
      rowId,
      op,
      fields,
      hlc: encodeHlc({ wallMs, counter: seq, deviceId }),
      schemaVersion: 1,
    };
  };
  const changes: ChangeRecord[] = [
    make(DEVICES[0]!, USERS[0]!, 'branch', BRANCH_ID, 'insert', { name: 'MG Road', created_at: T0 }, T0 - 1000),
  ];
  // A device edits only rows it holds, so the server's order has a row's first insert before its
  // other changes. (A replay given an update ahead of the row's insert writes the insert's values
  // over the newer update's, where a snapshot keeps the newer value: such logs are left out.)
  const insertedPatients = new Set<number>();
  const insertedMedical = new Set<number>();
  for (const step of steps) {
    if (step.kind === 'patient' && step.op === 'insert') insertedPatients.add(step.patient);
    if (step.kind === 'medical' && !insertedPatients.has(step.patient)) continue;
    if (step.kind === 'patient' && !insertedPatients.has(step.patient)) continue;
    if (step.kind === 'medical' && step.op === 'insert') insertedMedical.add(step.patient);
    if (step.kind === 'medical' && !insertedMedical.has(step.patient)) continue;
    if (step.kind === 'repeat') {
      if (changes.length > 1) changes.push(changes[1 + (step.pick[0]! % (changes.length - 1))]!);
      continue;
    }
    const entity = step.kind === 'patient' ? 'patient' : 'patient_medical';
    const all = step.kind === 'patient' ? patientFields(step.pick) : medicalFields(step.pick);
    const fields = step.op === 'insert' ? all : step.op === 'update' ? someFields(all, step.pick) : {};
    changes.push(
      make(DEVICES[step.device]!, USERS[step.user]!, entity, PATIENTS[step.patient]!, step.op, fields, T0 + step.wall),
    );
  }
  return changes;
}

function stepArbitrary(ops: ReadonlyArray<Step['op']>): fc.Arbitrary<Step> {
  return fc.record({
    kind: fc.constantFrom('patient', 'patient', 'medical', 'repeat'),
    op: fc.constantFrom(...ops),
    patient: fc.integer({ min: 0, max: PATIENTS.length - 1 }),
    device: fc.integer({ min: 0, max: DEVICES.length - 1 }),
    user: fc.integer({ min: 0, max: USERS.length - 1 }),
    wall: fc.integer({ min: 0, max: 40 }),
    pick: fc.array(fc.nat({ max: 11 }), { minLength: 9, maxLength: 9 }),
  });
}

/** The snapshot the server would build from the log, checked as a device checks it (chunks of 2 rows). */
function snapshotOf(changes: readonly ChangeRecord[]): VerifiedSnapshot {
  const merge = new SnapshotMerge();
  changes.forEach((change, index) => merge.add(change, index + 1));
  const built = packSnapshot(merge, {
    clinicId: SERVER_CLINIC,
    sign: (message) => new Uint8Array(sign(null, message, KEY.privateKey)),
    now: T0,
    chunkRows: 2,
  });
  const manifest = verifiedManifest(built.signed, { verifierKey: VERIFIER_KEY, serverClinicId: SERVER_CLINIC });
  return { manifest, chunks: built.chunks.map((bytes, index) => verifiedChunk(manifest, index, bytes)) };
}

/**
 * What sync reads of a device's rows: replicated columns (not `updated_at`/`updated_by`, which a
 * replay takes from the last writer in server order and a snapshot from the newest writer by
 * clock), every clock row, and the search index.
 */
function syncedState(raw: Database.Database): unknown {
  const all = (sql: string) => raw.prepare(sql).all();
  return {
    patients: all(
      `SELECT id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone, email, address,
         archived_at, archive_reason, merged_into, created_at, created_by FROM patients ORDER BY id`,
    ),
    medical: all('SELECT patient_id, allergies, conditions, medications FROM patient_medical ORDER BY patient_id'),
    rowClocks: all('SELECT * FROM sync_row_clock ORDER BY entity, row_id'),
    fieldClocks: all('SELECT * FROM sync_field_clock ORDER BY entity, row_id, field'),
    index: all(
      `SELECT p.id, f.name, f.phone, f.number, f.dob FROM patients_fts f JOIN patients p ON p.rowid = f.rowid
        ORDER BY p.id`,
    ),
    branches: all('SELECT * FROM branches ORDER BY id'),
  };
}

function clocksOf(raw: Database.Database): unknown {
  return {
    rowClocks: raw.prepare('SELECT * FROM sync_row_clock ORDER BY entity, row_id').all(),
    fieldClocks: raw.prepare('SELECT * FROM sync_field_clock ORDER BY entity, row_id, field').all(),
  };
}

/** Joins from the replayed log or from its snapshot; the database, or null when the join failed. */
function joined(name: string, changes: readonly ChangeRecord[], from: 'replay' | 'snapshot') {
  const { raw, db } = openDatabase(name);
  try {
    db.transaction(() => {
      if (from === 'replay') return applyJoinChanges(db, changes, T0 + 5000, REPLICATION_HOOKS);
      const merge = new JoinMerge(REPLICATION_HOOKS);
      addSnapshotToJoin(merge, snapshotOf(changes), []);
      return merge.write(db, T0 + 5000);
    });
    return raw;
  } catch {
    return null;
  }
}

describe('joining a clinic from its snapshot', () => {
  it('stores the same rows, clocks and search index as replaying the log, on random histories without deletes', () => {
    let run = 0;
    let compared = 0;
    fc.assert(
      fc.property(fc.array(stepArbitrary(['insert', 'update', 'update']), { minLength: 1, maxLength: 40 }), (steps) => {
        run++;
        const changes = toChanges(steps);
        const replayed = joined(`replay-${run}`, changes, 'replay');
        if (!replayed) return;
        const fromSnapshot = joined(`snapshot-${run}`, changes, 'snapshot');
        expect(fromSnapshot).not.toBeNull();
        expect(syncedState(fromSnapshot!)).toEqual(syncedState(replayed));
        compared++;
      }),
      { seed: 20261207, numRuns: 50 },
    );
    expect(compared).toBeGreaterThan(25);
  });

  it('stores the same clocks as replaying the log, on random histories with deletes', () => {
    let run = 0;
    let compared = 0;
    fc.assert(
      fc.property(
        fc.array(stepArbitrary(['insert', 'update', 'update', 'delete']), { minLength: 1, maxLength: 40 }),
        (steps) => {
          run++;
          const changes = toChanges(steps);
          const replayed = joined(`replay-${run}`, changes, 'replay');
          if (!replayed) return;
          const fromSnapshot = joined(`snapshot-${run}`, changes, 'snapshot');
          expect(fromSnapshot).not.toBeNull();
          expect(clocksOf(fromSnapshot!)).toEqual(clocksOf(replayed));
          compared++;
        },
      ),
      { seed: 20261208, numRuns: 50 },
    );
    expect(compared).toBeGreaterThan(25);
  });

  it("stamps each row with its newest writer's time and user, as a replay in clock order does", () => {
    const steps: Step[] = [
      { kind: 'patient', op: 'insert', patient: 0, device: 0, user: 0, wall: 1, pick: [0, 0, 0, 0, 0, 0, 1, 1, 0] },
      { kind: 'patient', op: 'update', patient: 0, device: 1, user: 1, wall: 5, pick: [0, 3, 1, 1, 1, 1, 1, 1, 1] },
      { kind: 'medical', op: 'insert', patient: 0, device: 1, user: 1, wall: 6, pick: [1, 1, 1, 1, 1, 1, 1, 1, 1] },
    ];
    const changes = toChanges(steps);
    const stamps = (raw: Database.Database) => ({
      patients: raw.prepare('SELECT id, updated_at, updated_by FROM patients').all(),
      medical: raw.prepare('SELECT patient_id, updated_at, updated_by FROM patient_medical').all(),
    });
    const replayed = stamps(joined('replay', changes, 'replay')!);
    expect(stamps(joined('snapshot', changes, 'snapshot')!)).toEqual(replayed);
    expect(replayed.patients).toEqual([{ id: PATIENTS[0], updated_at: T0 + 5, updated_by: USERS[1] }]);
  });
});

describe('merging a snapshot into a database that holds the clinic (restored from a backup)', () => {
  it('ends with what applying the whole log one change at a time gives, keeping a newer local value', () => {
    const steps: Step[] = [
      { kind: 'patient', op: 'insert', patient: 0, device: 0, user: 0, wall: 1, pick: [0, 0, 0, 0, 0, 0, 1, 1, 0] },
      { kind: 'patient', op: 'insert', patient: 1, device: 1, user: 1, wall: 2, pick: [1, 2, 1, 1, 1, 1, 1, 1, 1] },
      { kind: 'patient', op: 'update', patient: 0, device: 1, user: 1, wall: 5, pick: [0, 3, 1, 1, 1, 1, 1, 1, 1] },
      { kind: 'medical', op: 'insert', patient: 1, device: 2, user: 0, wall: 7, pick: [1, 1, 1, 1, 1, 1, 1, 1, 1] },
    ];
    const changes = toChanges(steps);
    // The restored database held the log's first two changes; then wrote a newer phone of its own.
    const { raw, db } = openDatabase('restored');
    db.command(
      `INSERT INTO sync_identity (server_url, server_clinic_id, device_id, private_key, public_key, connected_at, pulled_cursor)
       VALUES ('http://127.0.0.1:1', ?, ?, zeroblob(32), zeroblob(32), ?, 2)`,
    ).run([SERVER_CLINIC, DEVICES[0]!, T0]);
    db.transaction(() => {
      for (const change of changes.slice(0, 2)) applyRemoteChange(db, change, T0, REPLICATION_HOOKS);
    });
    const localEdit: ChangeRecord = {
      ...changes[1]!,
      changeId: '01JCHANGELOCAL000000000000',
      txId: '01JCHANGELOCAL000000000000',
      deviceId: DEVICES[0]!,
      rowId: PATIENTS[0]!,
      op: 'update',
      fields: { phone: '+91 90000 00000' },
      hlc: encodeHlc({ wallMs: T0 + 100, counter: 0, deviceId: DEVICES[0]! }),
    };
    db.transaction(() => applyRemoteChange(db, localEdit, T0, REPLICATION_HOOKS));

    const merged = mergeSnapshotIntoDatabase(db, snapshotOf(changes), DEVICES[0]!, T0 + 200, REPLICATION_HOOKS);
    expect(merged.cursor).toBe(changes.length);

    const { raw: expectedRaw, db: expected } = openDatabase('one-by-one');
    expected.transaction(() => {
      for (const change of [...changes, localEdit]) applyRemoteChange(expected, change, T0, REPLICATION_HOOKS);
    });
    expect(syncedState(raw)).toEqual(syncedState(expectedRaw));
    expect(raw.prepare('SELECT phone FROM patients WHERE id = ?').get(PATIENTS[0])).toEqual({
      phone: '+91 90000 00000',
    });
    expect(raw.prepare('SELECT pulled_cursor FROM sync_identity').get()).toEqual({ pulled_cursor: changes.length });
  });
});
