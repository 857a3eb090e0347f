/**
 * Domain conflicts through a real sync server (docs/sync-protocol.md, "Domain conflicts"): device
 * A founds the clinic and connects (device 1); B, and later C, join with setup.joinClinic
 * (devices 2 and 3). Patient numbers allocated offline never collide; the same person registered
 * offline on two devices is flagged on every device; a merge keeps both histories and replicates;
 * a colliding number pulled from old data is kept and flagged; a forged number is quarantined.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import type { ChannelOutput } from '../../shared/api/registry.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import {
  ADMIN_PASSWORD,
  type TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import {
  FAST_SYNC,
  type ListeningServer,
  connectFoundingClinic,
  joinFounderClinic,
  startListeningServer,
} from './sync-support.js';

let server: ListeningServer;
let a: TestClinic;
let dentistA: TestCaller & { userId: string };
let serverClinicId: string;
const cleanup: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  server = await startListeningServer();
  ({ clinic: a, dentist: dentistA, serverClinicId } = await connectFoundingClinic(server));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await a.close();
  await server.close();
});

interface JoinedDevice {
  readonly core: ClinicCore;
  readonly dentist: TestCaller;
  readonly admin: TestCaller;
  readonly dataDir: string;
  readonly deviceId: string;
}

/** A fresh device joins the clinic with a code from A's Admin; A's Dentist and Admin sign in on it. */
async function joinDevice(seed: string): Promise<JoinedDevice> {
  const { device, dentist, admin, deviceId } = await joinFounderClinic(a, server.url, seed);
  cleanup.push(() => device.close());
  return { core: device.core, dentist, admin, dataDir: device.dataDir, deviceId };
}

async function patientNumbers(dataDir: string): Promise<string[]> {
  const db = await openRawDatabase(dataDir);
  try {
    const rows = db.prepare('SELECT patient_number FROM patients ORDER BY patient_number').all() as Array<{
      patient_number: string;
    }>;
    return rows.map((row) => row.patient_number);
  } finally {
    db.close();
  }
}

const samePerson = (branchId: string) => ({
  branchId,
  firstName: 'Meera',
  lastName: 'Krishnan',
  dateOfBirth: '1988-04-12',
  phone: '+91 98450 11111',
});

type Inbox = ChannelOutput<'conflicts.list'>;
const pairIds = (inbox: Inbox) =>
  inbox.duplicates.map((pair) => ({ ids: [pair.first.id, pair.second.id], reason: pair.reason, status: pair.status }));

describe('patient numbers across devices', () => {
  it('gives every patient created offline on two devices a distinct number on both devices', async () => {
    const b = await joinDevice('domain-device-b');
    const numbersA: string[] = [];
    const numbersB: string[] = [];
    for (let i = 0; i < 3; i++) {
      const onA = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Ana', lastName: `A${i}` });
      const onB = await b.dentist.ok('patients.create', { branchId: a.branchId, firstName: 'Bea', lastName: `B${i}` });
      numbersA.push(onA.patientNumber);
      numbersB.push(onB.patientNumber);
    }
    // Device 1 keeps the clinic's own numbering; device 2 numbers in its own space.
    expect(numbersA).toEqual(['P000001', 'P000002', 'P000003']);
    expect(numbersB).toEqual(['P2-000001', 'P2-000002', 'P2-000003']);

    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    expect(await b.dentist.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });
    expect(await dentistA.ok('sync.now', {})).toMatchObject({ ok: true, refused: 0 });

    const expected = [...numbersA, ...numbersB].sort();
    expect(await patientNumbers(a.dataDir)).toEqual(expected);
    expect(await patientNumbers(b.dataDir)).toEqual(expected);
    expect((await dentistA.ok('conflicts.list', {})).duplicates).toEqual([]);
    // The front desk finds a device's number as printed, or as typed so far.
    for (const query of ['P2-000002', 'p2-000002', 'P2-00000']) {
      const found = await dentistA.ok('patients.search', { query });
      expect(found.results.map((result) => result.patientNumber)).toContain('P2-000002');
    }
    const exact = await dentistA.ok('patients.search', { query: 'P2-000002' });
    expect(exact.results.map((result) => result.patientNumber)).toEqual(['P2-000002']);
  });

  it('lets a clinic database without patients connect as another device, numbering in its own space', async () => {
    const other = await createTestClinic({ sync: FAST_SYNC, sources: testSources('domain-empty', new ManualClock()) });
    cleanup.push(() => other.close());
    const store = await server.storage.clinic(serverClinicId);
    const code = (await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null })).code;
    await other.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    await other.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    const created = await other.asAdmin('patients.create', {
      branchId: other.branchId,
      firstName: 'New',
      lastName: 'One',
    });
    expect(created.patientNumber).toBe('P2-000001');
  });

  it('refuses sync.connect of a clinic with patients to a server clinic that already has a device', async () => {
    // Its own seed: its own device id, as on another computer.
    const other = await createTestClinic({ sync: FAST_SYNC, sources: testSources('domain-other', new ManualClock()) });
    cleanup.push(() => other.close());
    await other.asAdmin('patients.create', { branchId: other.branchId, firstName: 'Own', lastName: 'Patient' });
    const store = await server.storage.clinic(serverClinicId);
    const code = (await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null })).code;
    const before = await other.asAdmin('sync.status', {});
    await other.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const refused = await other.admin.call('sync.connect', { serverUrl: server.url, enrollmentCode: code });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe('CONFLICT');
      expect(refused.error.message).toContain('already has another device');
      expect(refused.error.message).toContain('patients');
    }
    // Left as it was: not connected, nothing more queued.
    expect(before).toMatchObject({ connected: false });
    expect(await other.asAdmin('sync.status', {})).toEqual(before);
  });
});

describe('possible duplicates', () => {
  it('flags the same person registered offline on two devices on both, and on a device that joins later', async () => {
    const b = await joinDevice('domain-device-b');
    const onA = await dentistA.ok('patients.create', samePerson(a.branchId));
    // Typed differently at the other desk: case, accents and phone format do not matter.
    const onB = await b.dentist.ok('patients.create', {
      ...samePerson(a.branchId),
      firstName: 'MEERA',
      lastName: 'krishnan ',
      phone: '098450-11111',
    });
    expect((await dentistA.ok('conflicts.list', {})).duplicates).toEqual([]);

    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});
    await dentistA.ok('sync.now', {});

    const ids = [onA.id, onB.id].sort();
    const expected = [{ ids, reason: 'same-person', status: 'open' }];
    expect(pairIds(await dentistA.ok('conflicts.list', {}))).toEqual(expected);
    expect(pairIds(await b.dentist.ok('conflicts.list', {}))).toEqual(expected);

    const c = await joinDevice('domain-device-c');
    expect(pairIds(await c.dentist.ok('conflicts.list', {}))).toEqual(expected);
    const onC = await c.dentist.ok('patients.create', { branchId: a.branchId, firstName: 'Cy', lastName: 'Third' });
    expect(onC.patientNumber).toBe('P3-000001');
  });

  it('merges on one device keeping both histories, and the pair shows merged on the other after sync', async () => {
    const b = await joinDevice('domain-device-b');
    const survivor = await dentistA.ok('patients.create', samePerson(a.branchId));
    await dentistA.ok('patients.updateMedicalHistory', {
      patientId: survivor.id,
      allergies: [{ substance: 'Latex', severity: 'moderate' }],
      conditions: [],
      medications: [],
    });
    const duplicate = await b.dentist.ok('patients.create', samePerson(a.branchId));
    await b.dentist.ok('patients.updateMedicalHistory', {
      patientId: duplicate.id,
      allergies: [{ substance: 'Penicillin', severity: 'severe' }],
      conditions: [],
      medications: [],
    });
    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});
    await dentistA.ok('sync.now', {});

    const input = { survivorId: survivor.id, duplicateId: duplicate.id, reason: 'Registered twice' };
    await dentistA.ok('auth.reauthenticate', { password: USER_PASSWORD });
    const merged = await dentistA.ok('patients.merge', input);
    expect(merged.duplicate).toMatchObject({ id: duplicate.id, mergedInto: survivor.id });
    expect(merged.duplicate.archivedAt).not.toBeNull();
    expect(merged.survivor.mergedRecords.map((record) => record.id)).toEqual([duplicate.id]);
    expect(await dentistA.errorCode('patients.merge', input)).toBe('CONFLICT');

    // Both histories stay readable under their own ids.
    const kept = await dentistA.ok('patients.get', { patientId: duplicate.id });
    expect(kept.medicalHistory?.allergies).toEqual([{ substance: 'Penicillin', severity: 'severe' }]);
    const survivorRecord = await dentistA.ok('patients.get', { patientId: survivor.id });
    expect(survivorRecord.medicalHistory?.allergies).toEqual([{ substance: 'Latex', severity: 'moderate' }]);

    // Audited with both ids, in the merge's own entry.
    const audit = await a.asAdmin('audit.list', { action: 'patients.merge', outcome: 'success' });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      entityId: survivor.id,
      details: { survivorId: survivor.id, duplicateId: duplicate.id },
    });

    const resolved = { ids: [survivor.id, duplicate.id].sort(), reason: 'same-person', status: 'merged' };
    expect(pairIds(await dentistA.ok('conflicts.list', {}))).toEqual([]);
    expect(pairIds(await dentistA.ok('conflicts.list', { includeResolved: true }))).toEqual([resolved]);
    expect(pairIds(await b.dentist.ok('conflicts.list', {}))).toMatchObject([{ status: 'open' }]);

    await dentistA.ok('sync.now', {});
    expect(await b.dentist.ok('sync.now', {})).toMatchObject({ ok: true });
    expect(pairIds(await b.dentist.ok('conflicts.list', { includeResolved: true }))).toEqual([resolved]);
    const onB = await b.dentist.ok('patients.get', { patientId: survivor.id });
    expect(onB.mergedRecords.map((record) => record.id)).toEqual([duplicate.id]);
    expect((await b.dentist.ok('patients.get', { patientId: duplicate.id })).mergedInto).toBe(survivor.id);
  });

  it('dismisses a pair as two different people on this device', async () => {
    const first = await dentistA.ok('patients.create', samePerson(a.branchId));
    const second = await dentistA.ok('patients.create', samePerson(a.branchId));
    const dismissed = await dentistA.ok('conflicts.dismissDuplicate', {
      firstId: second.id,
      secondId: first.id,
      reason: 'same-person',
      note: 'Twins',
    });
    expect(dismissed).toMatchObject({ status: 'dismissed', resolvedBy: dentistA.userId });
    expect((await dentistA.ok('conflicts.list', {})).duplicates).toEqual([]);
    expect(
      await dentistA.errorCode('conflicts.dismissDuplicate', {
        firstId: first.id,
        secondId: second.id,
        reason: 'same-person',
        note: 'Again',
      }),
    ).toBe('CONFLICT');
  });
});

describe('field conflicts in the inbox', () => {
  it('shows the losing medical value to a Dentist and withholds it from the Admin', async () => {
    const b = await joinDevice('domain-device-b');
    const patient = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Ravi', lastName: 'Iyer' });
    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});
    const history = (substance: string) => ({
      patientId: patient.id,
      allergies: [{ substance, severity: 'severe' as const }],
      conditions: [],
      medications: [],
    });
    await dentistA.ok('patients.updateMedicalHistory', history('Latex'));
    await b.dentist.ok('patients.updateMedicalHistory', history('Penicillin'));
    await dentistA.ok('sync.now', {});
    await b.dentist.ok('sync.now', {});

    const clinical = (await b.dentist.ok('conflicts.list', {})).fieldConflicts;
    expect(clinical).toMatchObject([
      { entity: 'patient_medical', rowId: patient.id, field: 'allergies', medical: true },
    ]);
    expect(clinical[0]!.hidden).toBe(false);
    expect(JSON.stringify([clinical[0]!.losingValue, clinical[0]!.winningValue])).toContain('Latex');
    const administrative = (await b.admin.ok('conflicts.list', {})).fieldConflicts;
    expect(administrative).toMatchObject([{ field: 'allergies', hidden: true, losingValue: null, winningValue: null }]);
  });
});

describe('numbers that collide or are forged', () => {
  it('keeps a pulled patient whose number collides (old data) and shows it in the inbox', async () => {
    const b = await joinDevice('domain-device-b');
    const own = await dentistA.ok('patients.create', { branchId: a.branchId, firstName: 'Own', lastName: 'Number' });
    await dentistA.ok('sync.now', {});
    // A change an older version accepted: written straight into the server's log, past
    // re-validation, with A's number on a patient of a third device.
    const store = await server.storage.clinic(serverClinicId);
    const legacy = '01JQ0000000000000000000009';
    await server.storage.redeemEnrollmentCode({
      code: (await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null })).code,
      deviceId: legacy,
      name: 'Older version',
      publicKey: new Uint8Array(32).fill(7),
    });
    const rowId = '01JQ0000000000000000000001';
    const fields = {
      patient_number: own.patientNumber,
      branch_id: a.branchId,
      first_name: 'Old',
      last_name: 'Data',
      date_of_birth: null,
      sex: 'unknown',
      phone: null,
      email: null,
      address: null,
      archived_at: null,
      archive_reason: null,
      // No merged_into: an older version did not have the field, and the insert still applies.
      created_at: a.clock.now(),
      created_by: dentistA.userId,
    };
    await store.appendChanges({
      deviceId: legacy,
      txId: '01JQ0000000000000000000002',
      changes: [
        {
          changeId: '01JQ0000000000000000000003',
          txId: '01JQ0000000000000000000002',
          deviceId: legacy,
          userId: dentistA.userId,
          entity: 'patient',
          rowId,
          op: 'insert',
          fields,
          hlc: encodeHlc({ wallMs: a.clock.now(), counter: 0, deviceId: legacy }),
          schemaVersion: 1,
        },
      ],
    });

    const round = await dentistA.ok('sync.now', {});
    expect(round).toMatchObject({ ok: true, error: null });
    expect(await dentistA.ok('patients.get', { patientId: rowId })).toMatchObject({
      patientNumber: own.patientNumber,
      lastName: 'Data',
    });
    const collision = { ids: [own.id, rowId].sort(), reason: 'same-number', status: 'open' };
    expect(pairIds(await dentistA.ok('conflicts.list', {}))).toEqual([collision]);
    expect(await b.dentist.ok('sync.now', {})).toMatchObject({ ok: true, error: null });
    expect(pairIds(await b.dentist.ok('conflicts.list', {}))).toEqual([collision]);
  });

  it('has the server quarantine a patient number outside the pushing device’s space', async () => {
    const b = await joinDevice('domain-device-b');
    // B forgets it is device 2 and issues device 1's numbers.
    const raw = await openRawDatabase(b.dataDir);
    raw.prepare('UPDATE sync_identity SET device_number = 1').run();
    raw.close();
    const forged = await b.dentist.ok('patients.create', { branchId: a.branchId, firstName: 'Forged', lastName: 'No' });
    expect(forged.patientNumber).toBe('P000001');

    expect(await b.dentist.ok('sync.now', {})).toMatchObject({ ok: true, refused: 1 });
    const inbox = await b.dentist.ok('conflicts.list', {});
    expect(inbox.refused).toMatchObject([{ entity: 'patient', rowId: forged.id, op: 'insert', code: 'schema' }]);
    expect(inbox.refused[0]!.fields).toContain('patient_number');
    // The device keeps the server's detail, which names the field and the rule.
    expect(inbox.refused[0]!.message).toBe("fields.patient_number: outside the pushing device's numbering space");
    await dentistA.ok('sync.now', {});
    expect(await dentistA.errorCode('patients.get', { patientId: forged.id })).toBe('NOT_FOUND');
  });
});
