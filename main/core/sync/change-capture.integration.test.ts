import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPLICATED_ENTITIES, changeRecordSchema } from '../../../shared/sync/change.js';
import { parseHlc } from '../../../shared/sync/hlc.js';
import { type TestCaller, type TestClinic, createTestClinic } from '../../../test/support/clinic-fixture.js';
import { openRawDatabase } from '../../../test/support/raw-database.js';
import type { OutboxRow } from './sync-engine.js';

/** An outbox row as stored, with the columns a push does not send. */
interface StoredOutboxRow extends OutboxRow {
  created_at: number;
  pushed_at: number | null;
}

let clinic: TestClinic;
let dentist: TestCaller & { userId: string };
let raw: Database.Database;

beforeEach(async () => {
  clinic = await createTestClinic();
  dentist = await clinic.signedInUser('Dentist');
  raw = await openRawDatabase(clinic.dataDir);
});
afterEach(async () => {
  raw.close();
  await clinic.close();
});

const outbox = () => raw.prepare('SELECT * FROM sync_outbox ORDER BY hlc').all() as StoredOutboxRow[];
const count = (table: string) => (raw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
/** The outbox row as the change record it describes, validated with the shared schema. */
const asChange = (row: OutboxRow) =>
  changeRecordSchema.parse({
    changeId: row.change_id,
    txId: row.tx_id,
    deviceId: row.device_id,
    userId: row.user_id,
    entity: row.entity,
    rowId: row.row_id,
    op: row.op,
    fields: JSON.parse(row.fields) as unknown,
    hlc: row.hlc,
    schemaVersion: row.schema_version,
  });
const createPatient = () =>
  dentist.ok('patients.create', {
    branchId: clinic.branchId,
    firstName: 'Asha',
    lastName: 'Rao',
    phone: '98111 27364',
  });

describe('change capture in patient handlers', () => {
  it('records a patient creation as one insert with every replicated field, by the caller on this device', async () => {
    const patient = await createPatient();
    const rows = outbox();
    expect(rows).toHaveLength(1);
    const change = asChange(rows[0]!);
    const device = raw.prepare('SELECT id FROM device').get() as { id: string };
    expect(change).toMatchObject({
      entity: 'patient',
      rowId: patient.id,
      op: 'insert',
      userId: dentist.userId,
      deviceId: device.id,
    });
    expect(Object.keys(change.fields).sort()).toEqual([...REPLICATED_ENTITIES.patient.fields].sort());
    expect(change.fields).toMatchObject({
      first_name: 'Asha',
      last_name: 'Rao',
      phone: '98111 27364',
      email: null,
      branch_id: clinic.branchId,
      patient_number: patient.patientNumber,
    });
    expect(rows[0]!.pushed_at).toBeNull();
    // One row clock stands for every field of the new row (field-clocks.ts).
    expect(count('sync_field_clock')).toBe(0);
    expect(count('sync_row_clock')).toBe(1);
  });

  it('records an update with the fields the call set, whether or not their value changed, and audits their names only', async () => {
    const patient = await createPatient();
    // The first name is set to the value it already has: still recorded, because on another
    // device it may hold an older value this later write must replace.
    await dentist.ok('patients.update', { patientId: patient.id, firstName: 'Asha', phone: '98111 00000' });
    const change = asChange(outbox()[1]!);
    expect(change).toMatchObject({
      op: 'update',
      rowId: patient.id,
      fields: { first_name: 'Asha', phone: '98111 00000' },
    });
    expect(Object.keys(change.fields).sort()).toEqual(['first_name', 'phone']);
    const audit = raw.prepare("SELECT body FROM audit_log WHERE action = 'patients.update'").get() as { body: string };
    expect(audit.body).not.toContain('98111 00000');
    const clock = raw
      .prepare("SELECT hlc FROM sync_field_clock WHERE entity = 'patient' AND row_id = ? AND field = 'phone'")
      .get(patient.id);
    expect(clock).toEqual({ hlc: change.hlc });
  });

  it('records only the fields a call names, not the other fields of the row', async () => {
    const patient = await createPatient();
    await dentist.ok('patients.update', { patientId: patient.id, lastName: 'Rao' });
    expect(outbox()).toHaveLength(2);
    expect(Object.keys(asChange(outbox()[1]!).fields)).toEqual(['last_name']);
  });

  it('records an archive as an update of archived_at and archive_reason, not a tombstone', async () => {
    const patient = await createPatient();
    await dentist.ok('patients.archive', { patientId: patient.id, reason: 'moved away' });
    const change = asChange(outbox()[1]!);
    expect(change).toMatchObject({
      op: 'update',
      fields: { archived_at: clinic.clock.now(), archive_reason: 'moved away' },
    });
    expect(Object.keys(change.fields).sort()).toEqual(['archive_reason', 'archived_at']);
  });

  it('records the first medical history as an insert and a later one as an update of the changed lists', async () => {
    const patient = await createPatient();
    const allergies = [{ substance: 'Penicillin', severity: 'severe' as const, reaction: null }];
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies,
      conditions: [],
      medications: [],
    });
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies,
      conditions: [],
      medications: [{ name: 'Warfarin', dose: '5 mg' }],
    });
    const [, first, second] = outbox().map(asChange);
    expect(first).toMatchObject({ entity: 'patient_medical', rowId: patient.id, op: 'insert' });
    expect(JSON.parse(first!.fields.allergies as string)).toEqual(allergies);
    expect(second).toMatchObject({ entity: 'patient_medical', op: 'update' });
    expect(Object.keys(second!.fields)).toEqual(['medications']);
  });

  it('gives each action its own transaction id', async () => {
    const patient = await createPatient();
    await dentist.ok('patients.update', { patientId: patient.id, phone: '98111 00000' });
    const [create, update] = outbox();
    expect(create!.tx_id).not.toBe(update!.tx_id);
  });

  it('leaves no outbox row and no clock change when the action fails (the audit entry cannot be written)', async () => {
    const patient = await createPatient();
    const before = { outbox: outbox(), clock: raw.prepare('SELECT hlc FROM sync_clock').get() };
    const fieldClocks = raw.prepare('SELECT * FROM sync_field_clock ORDER BY field').all();
    raw.exec("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    const result = await dentist.call('patients.update', { patientId: patient.id, phone: '98111 00000' });
    expect(result).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(outbox()).toEqual(before.outbox);
    expect(raw.prepare('SELECT hlc FROM sync_clock').get()).toEqual(before.clock);
    expect(raw.prepare('SELECT * FROM sync_field_clock ORDER BY field').all()).toEqual(fieldClocks);
  });

  it('keeps the clock monotonic across actions while the wall clock goes backwards', async () => {
    const patient = await createPatient();
    for (const [index, step] of [-120_000, 0, -5, 60_000].entries()) {
      clinic.clock.advance(step);
      await dentist.ok('patients.update', { patientId: patient.id, phone: `98111 0000${index}` });
    }
    const stamps = outbox().map((row) => row.hlc);
    expect(stamps).toHaveLength(5);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! > stamps[i - 1]!).toBe(true);
    const walls = stamps.map((hlc) => parseHlc(hlc).wallMs);
    expect(walls[1]).toBe(walls[0]); // the clock went back two minutes: the counter moved instead
  });
});

describe('outbox at rest', () => {
  it('holds the values of a change only inside the encrypted database files', async () => {
    const secret = 'Zyxquorthine';
    await dentist.ok('patients.create', { branchId: clinic.branchId, firstName: secret, lastName: 'Vantablack' });
    // The keyed connection sees the values in the outbox...
    expect(outbox().filter((row) => row.fields.includes(secret))).toHaveLength(1);
    // ...while no file of the data directory (database, WAL, shared memory, keys) holds them in plain text.
    for (const name of readdirSync(clinic.dataDir)) {
      const content = readFileSync(join(clinic.dataDir, name));
      for (const text of [secret, 'Vantablack']) {
        expect(content.includes(Buffer.from(text, 'utf8')), `${name} contains ${text}`).toBe(false);
      }
    }
  });
});

describe('change capture in branch handlers', () => {
  it('records a new branch as an insert of its name and creation time', async () => {
    const branch = await clinic.asAdmin('branches.create', { name: 'Hill Road' });
    const changes = outbox().map(asChange);
    expect(changes.at(-1)).toMatchObject({
      entity: 'branch',
      rowId: branch.id,
      op: 'insert',
      userId: clinic.adminUserId,
      fields: { name: 'Hill Road', created_at: branch.createdAt },
    });
  });
});
