import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import { completeInsertFields } from '../../../test/support/complete-fields.js';
import { canonicalJson } from '../../../shared/canonical-json.js';
import { compareHlc, parseHlc } from '../../../shared/sync/hlc.js';
import type { RunContext } from '../api/handler.js';
import type { CoreServices } from '../core-services.js';
import { WriteDb } from '../db/access.js';
import { openEncryptedDatabase } from '../db/encrypted-database.js';
import { migrate } from '../db/migrate.js';
import { migrations } from '../db/migrations/index.js';
import { cryptoRandom, testSources } from '../platform/sources.js';
import { changedFields, recordChange } from './change-recorder.js';

const DEVICE_ID = '01JDEVCE000000000000000000';
const USER_ID = '01JAVTHR000000000000000000';
const ROW_ID = '01JR0W00000000000000000000';
const T0 = Date.UTC(2026, 0, 5, 9);

let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;
let db: WriteDb;
let deviceId: string;
const sources = testSources('change-recorder');

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  db = new WriteDb(raw);
  migrate(db, migrations, () => T0);
  deviceId = DEVICE_ID;
});
afterEach(() => {
  raw.close();
  temp.remove();
});

/** The slice of a pipeline RunContext the recorder reads; a new one is a new pipeline call. */
function context(now: number): RunContext {
  const services = {
    sources,
    clinic: {
      get device() {
        return { deviceId, epoch: 1 };
      },
    },
  } as unknown as CoreServices;
  return { db, now, services, caller: { userId: USER_ID } } as unknown as RunContext;
}

const outbox = () =>
  raw
    .prepare('SELECT change_id, tx_id, entity, row_id, op, fields, hlc, user_id FROM sync_outbox ORDER BY hlc')
    .all() as Array<{
    change_id: string;
    tx_id: string;
    op: string;
    fields: string;
    hlc: string;
  }>;
const update = (fields: Record<string, string | null>) =>
  ({ entity: 'patient', rowId: ROW_ID, op: 'update', fields }) as const;

describe('recordChange', () => {
  it('gives every change of one call the same transaction id, and the next call another', () => {
    const first = context(T0);
    db.transaction(() => {
      recordChange(first, update({ first_name: 'Asha' }));
      recordChange(first, {
        entity: 'patient_medical',
        rowId: ROW_ID,
        op: 'insert',
        fields: { allergies: '[]', conditions: '[]', medications: '[]' },
      });
    });
    db.transaction(() => recordChange(context(T0), update({ phone: '111111' })));
    const rows = outbox();
    expect(rows).toHaveLength(3);
    expect(rows[0]!.tx_id).toBe(rows[1]!.tx_id);
    expect(rows[2]!.tx_id).not.toBe(rows[0]!.tx_id);
    expect(new Set(rows.map((row) => row.change_id)).size).toBe(3);
  });

  it('stores the fields as canonical JSON; an insert advances the row clock, an update the clocks of its fields', () => {
    const ctx = context(T0);
    const change = db.transaction(() =>
      recordChange(ctx, {
        entity: 'patient',
        rowId: ROW_ID,
        op: 'insert',
        fields: completeInsertFields('patient', { phone: null, first_name: 'Asha' }),
      }),
    )!;
    expect(JSON.parse(outbox()[0]!.fields)).toMatchObject({ first_name: 'Asha', phone: null });
    expect(outbox()[0]!.fields).toBe(canonicalJson(change.fields));
    // The insert clock stands for every field of the row (field-clocks.ts): no field rows yet.
    expect(raw.prepare('SELECT field, hlc FROM sync_field_clock ORDER BY field').all()).toEqual([]);
    expect(raw.prepare('SELECT inserted_hlc, deleted_hlc FROM sync_row_clock').get()).toEqual({
      inserted_hlc: change.hlc,
      deleted_hlc: null,
    });
    const edit = db.transaction(() => recordChange(context(T0 + 1), update({ phone: '111111' })))!;
    expect(raw.prepare('SELECT field, hlc FROM sync_field_clock ORDER BY field').all()).toEqual([
      { field: 'phone', hlc: edit.hlc },
    ]);
    expect(raw.prepare('SELECT inserted_hlc FROM sync_row_clock').get()).toEqual({ inserted_hlc: change.hlc });
  });

  it('keeps the clock monotonic when the wall clock goes backwards, and across calls', () => {
    const times = [T0, T0 + 10, T0 - 60_000, T0 - 60_000, T0 + 5, T0 + 11];
    const stamps = times.map(
      (now) => db.transaction(() => recordChange(context(now), update({ phone: `${now}` })))!.hlc,
    );
    expect([...stamps].sort()).toEqual(stamps);
    expect(new Set(stamps).size).toBe(stamps.length);
    expect(stamps.map((hlc) => parseHlc(hlc).wallMs)).toEqual([T0, T0 + 10, T0 + 10, T0 + 10, T0 + 10, T0 + 11]);
  });

  it('continues from the stored clock under a new device id (a cloned database)', () => {
    const before = db.transaction(() => recordChange(context(T0 + 50), update({ phone: '111111' })))!;
    deviceId = '01JCL0NE000000000000000000';
    const after = db.transaction(() => recordChange(context(T0), update({ phone: '222222' })))!;
    expect(parseHlc(after.hlc)).toEqual({ wallMs: T0 + 50, counter: 1, deviceId });
    expect(after.deviceId).toBe(deviceId);
    expect(compareHlc(parseHlc(after.hlc), parseHlc(before.hlc))).toBe(1);
  });

  it('writes nothing for an update that changes no field', () => {
    expect(db.transaction(() => recordChange(context(T0), update({})))).toBeNull();
    expect(outbox()).toEqual([]);
    expect(raw.prepare('SELECT count(*) AS n FROM sync_clock').get()).toEqual({ n: 0 });
  });

  it('refuses to run outside a transaction', () => {
    expect(() => recordChange(context(T0), update({ phone: '111111' }))).toThrow(/inside the pipeline transaction/);
  });

  it('refuses a field the entity does not declare, before writing anything', () => {
    expect(() => db.transaction(() => recordChange(context(T0), update({ failed_attempts: '3' })))).toThrow();
    expect(outbox()).toEqual([]);
  });

  it("refuses a value that breaks the entity's domain schema, or an incomplete insert, before writing anything", () => {
    expect(() => db.transaction(() => recordChange(context(T0), update({ date_of_birth: '2020-02-30' })))).toThrow(
      /fields\.date_of_birth: invalid_format/,
    );
    const incomplete = { entity: 'patient_medical', rowId: ROW_ID, op: 'insert', fields: { allergies: '[]' } } as const;
    expect(() => db.transaction(() => recordChange(context(T0), incomplete))).toThrow(
      /fields\.conditions: required in an insert/,
    );
    expect(outbox()).toEqual([]);
  });

  it('keeps outbox rows as written: no edit, no delete, pushed_at set once', () => {
    db.transaction(() => recordChange(context(T0), update({ phone: '111111' })));
    expect(() => raw.prepare("UPDATE sync_outbox SET fields = '{}'").run()).toThrow(/never edited/);
    expect(() => raw.prepare('DELETE FROM sync_outbox').run()).toThrow(/never deleted/);
    raw.prepare('UPDATE sync_outbox SET pushed_at = 1').run();
    expect(() => raw.prepare('UPDATE sync_outbox SET pushed_at = 2').run()).toThrow(/set once/);
  });
});

describe('changedFields', () => {
  it('keeps only the fields whose value differs, including a value cleared to null', () => {
    expect(changedFields({ a: 'x', b: 1, c: 'y' }, { a: 'x', b: 2, c: null })).toEqual({ b: 2, c: null });
  });
});
