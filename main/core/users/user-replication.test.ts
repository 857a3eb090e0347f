import { join } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../../test/support/clinic-fixture.js';
import type { ChangeRecord, FieldValue } from '../../../shared/sync/change.js';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import { WriteDb } from '../db/access.js';
import { openEncryptedDatabase } from '../db/encrypted-database.js';
import { migrate } from '../db/migrate.js';
import { migrations } from '../db/migrations/index.js';
import { cryptoRandom } from '../platform/sources.js';
import { readReplicatedFields } from '../sync/change-recorder.js';
import { applyRemoteChange } from '../sync/sync-apply.js';
import { REPLICATION_HOOKS } from '../replication.js';

const DEVICE_ID = '01JDEVCE000000000000000000';
const ADMIN_ID = '01JADM1N000000000000000000';
const USER_ID = '01JVSER0000000000000000000';
const BRANCH_1 = '01JBRANCH10000000000000000';
const BRANCH_2 = '01JBRANCH20000000000000000';
const T0 = Date.UTC(2026, 0, 5, 9);

let temp: ReturnType<typeof tempDataDir>;
let raw: Database.Database;
let db: WriteDb;
let seq = 0;

beforeEach(() => {
  temp = tempDataDir();
  raw = openEncryptedDatabase(join(temp.dir, 'clinic.db'), cryptoRandom.bytes(32), { create: true });
  db = new WriteDb(raw);
  migrate(db, migrations, () => T0);
});
afterEach(() => {
  raw.close();
  temp.remove();
});

function change(
  entity: 'user' | 'branch',
  rowId: string,
  op: 'insert' | 'update',
  fields: Record<string, FieldValue>,
  wallMs = T0,
): ChangeRecord {
  seq++;
  const id = `01JCHANGE${String(seq).padStart(17, '0')}`;
  return {
    changeId: id,
    txId: id,
    deviceId: DEVICE_ID,
    userId: ADMIN_ID,
    entity,
    rowId,
    op,
    fields,
    hlc: encodeHlc({ wallMs, counter: seq, deviceId: DEVICE_ID }),
    schemaVersion: 1,
  };
}

const userFields = (extra: Record<string, FieldValue>): Record<string, FieldValue> => ({
  username: 'frontdesk',
  display_name: 'Front Desk',
  role: 'Receptionist',
  all_branches: 0,
  disabled: 0,
  password_hash: '$2a$04$abcdefghijklmnopqrstuv',
  password_changed_at: T0,
  created_at: T0,
  ...extra,
});
const apply = (record: ChangeRecord) => db.transaction(() => applyRemoteChange(db, record, T0, REPLICATION_HOOKS));
const assigned = () =>
  raw
    .prepare('SELECT branch_id FROM user_branches WHERE user_id = ? ORDER BY branch_id')
    .pluck()
    .all(USER_ID) as string[];
const branch = (id: string, name: string) => change('branch', id, 'insert', { name, created_at: T0 });

describe('pulled branch assignments', () => {
  it('writes a pulled user’s branch_ids to user_branches, and waits for a branch not pulled yet', () => {
    apply(branch(BRANCH_1, 'Main Street'));
    apply(change('user', USER_ID, 'insert', userFields({ branch_ids: JSON.stringify([BRANCH_1, BRANCH_2]) })));
    expect(assigned()).toEqual([BRANCH_1]);
    // The value this device holds is the one it pulled, though branch 2 is not here yet.
    expect(readReplicatedFields(db, 'user', USER_ID, REPLICATION_HOOKS)?.branch_ids).toBe(
      JSON.stringify([BRANCH_1, BRANCH_2]),
    );
    apply(branch(BRANCH_2, 'Lake Road'));
    expect(assigned()).toEqual([BRANCH_1, BRANCH_2]);
    expect(raw.prepare('SELECT count(*) FROM sync_pending_user_branches').pluck().get()).toBe(0);
  });

  it('lets the later clock win and ignores an older assignment delivered late', () => {
    apply(branch(BRANCH_1, 'Main Street'));
    apply(branch(BRANCH_2, 'Lake Road'));
    apply(change('user', USER_ID, 'insert', userFields({ branch_ids: JSON.stringify([BRANCH_1]) })));
    const newer = change('user', USER_ID, 'update', { branch_ids: JSON.stringify([BRANCH_2]) }, T0 + 2000);
    const older = change('user', USER_ID, 'update', { branch_ids: JSON.stringify([BRANCH_1, BRANCH_2]) }, T0 + 1000);
    apply(newer);
    apply(older);
    expect(assigned()).toEqual([BRANCH_2]);
    // All branches: the list is empty.
    apply(change('user', USER_ID, 'update', { all_branches: 1, branch_ids: '[]' }, T0 + 3000));
    expect(assigned()).toEqual([]);
  });

  it('applies a user insert of an older version without branch_ids, and skips a malformed list', () => {
    apply(branch(BRANCH_1, 'Main Street'));
    const outcome = apply(change('user', USER_ID, 'insert', userFields({})));
    expect(outcome.applied).toBe(true);
    expect(raw.prepare('SELECT username FROM users WHERE id = ?').pluck().get(USER_ID)).toBe('frontdesk');
    expect(assigned()).toEqual([]);
    apply(change('user', USER_ID, 'update', { branch_ids: JSON.stringify([BRANCH_1]) }, T0 + 1000));
    expect(assigned()).toEqual([BRANCH_1]);
    apply(change('user', USER_ID, 'update', { branch_ids: 'not json' }, T0 + 2000));
    expect(assigned()).toEqual([BRANCH_1]);
  });
});
