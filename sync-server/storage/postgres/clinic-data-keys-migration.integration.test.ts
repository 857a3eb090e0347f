/**
 * Migration 0110 on a database an older server filled with plaintext patient data: it refuses to
 * run without the master key, then gives each clinic a data key, seals every existing change's
 * fields and quarantined change's detail, and leaves no plaintext in any column or in pg_dump;
 * the storage then serves the same data as before.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MASTER_KEY_ENV, masterKeyPath, writeMasterKeyFile } from '../../cli/master-key.js';
import { migrateDatabase } from '../../cli/ops-commands.js';
import {
  TestClock,
  enrollDevice,
  makeBatch,
  newDevicePublicKey,
} from '../../../test/support/sync-server/conformance-fixtures.js';
import { postgresStoredText } from '../../../test/support/sync-server/stored-bytes.js';
import { type TestDatabase, createTestDatabase } from '../../../test/support/sync-server/test-database.js';
import { SealedValueError } from './clinic-data-key.js';
import { MigrationError, SCHEMA } from './migrate.js';
import { postgresMigrations } from './migrations/index.js';
import { MasterKeyMismatchError, openPostgresSyncStorage } from './postgres-storage.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  vi.unstubAllEnvs();
});

const before110 = postgresMigrations.filter((step) => step.version < 110);
const BRANCH = '01HZZZZZZZZZZZZZZZZZZZZZZZ';

/** One clinic as the pre-0110 schema held it, written as the superuser: plaintext fields and detail. */
async function seedPlaintextClinic(client: pg.Client, canary: string): Promise<string> {
  const clinicId = randomUUID();
  const codeId = randomUUID();
  await client.query(`INSERT INTO ${SCHEMA}.clinics (clinic_id, name, created_at) VALUES ($1, 'Old Dental', 1)`, [
    clinicId,
  ]);
  await client.query(
    `INSERT INTO ${SCHEMA}.clinic_counters (clinic_id, counter, value)
     VALUES ($1, 'changes', 3), ($1, 'audit_leaves', 0), ($1, 'security_events', 0), ($1, 'devices', 1)`,
    [clinicId],
  );
  await client.query(
    `INSERT INTO ${SCHEMA}.enrollment_codes (clinic_id, code_id, code_hash, created_at, expires_at, redeemed_at,
       redeemed_by_device) VALUES ($1, $2, $3, 0, 99, 5, 'old-device')`,
    [clinicId, codeId, randomBytes(32).toString('hex')],
  );
  await client.query(
    `INSERT INTO ${SCHEMA}.devices (clinic_id, device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
     VALUES ($1, 'old-device', 'Front desk', $2, $3, 5, 1)`,
    [clinicId, Buffer.from(newDevicePublicKey()), codeId],
  );
  const changes = [
    ['c1', 'patient', 'p1', 'insert', { branch_id: BRANCH, first_name: `${canary}First` }],
    ['c2', 'patient', 'p1', 'update', { address: `1 ${canary} Street` }],
    ['c3', 'user', 'u1', 'insert', { username: 'dentist', password_hash: `${canary}Hash` }],
  ] as const;
  for (const [index, [changeId, entity, rowId, op, fields]] of changes.entries()) {
    await client.query(
      `INSERT INTO ${SCHEMA}.changes (clinic_id, server_seq, change_id, tx_id, device_id, user_id, entity, row_id, op,
         fields, hlc, schema_version, content_hash, received_at)
       VALUES ($1, $2, $3, 'tx1', 'old-device', 'u1', $4, $5, $6, $7, $8, 1, $9, 10)`,
      [clinicId, index + 1, changeId, entity, rowId, op, JSON.stringify(fields), `h${index}`, 'a'.repeat(64)],
    );
  }
  await client.query(
    `INSERT INTO ${SCHEMA}.quarantined_changes (clinic_id, change_id, tx_id, device_id, user_id, entity, row_id, op,
       hlc, reason, detail, content_hash, quarantined_at)
     VALUES ($1, 'q1', 'tx2', 'old-device', 'u9', 'patient', 'p2', 'insert', 'h9', 'schema', $2, $3, 11)`,
    [clinicId, `fields.${canary}: unrecognized`, 'b'.repeat(64)],
  );
  return clinicId;
}

/** `db migrate` as the CLI runs it, with the master key from `keyFile` (none when undefined). */
async function migrate(database: TestDatabase, keyFile?: string): Promise<number[]> {
  const ownerUrl = String(database.owner.connectionString);
  return (await migrateDatabase(ownerUrl, database.appRole, keyFile, 2)).applied;
}

async function asSuperuser<T>(database: TestDatabase, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(database.superuser);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('clinic data keys migration (0110)', () => {
  it('refuses to run without the master key while plaintext rows exist, then seals them all', async () => {
    const database = await createTestDatabase(before110);
    cleanup.push(() => database.drop());
    const canary = `Canary${randomBytes(6).toString('hex')}`;
    const clinics = await asSuperuser(database, async (client) => [
      await seedPlaintextClinic(client, canary),
      await seedPlaintextClinic(client, canary),
    ]);
    expect(await postgresStoredText(database)).toContain(canary);

    // No key in the environment (as the operator forgot it) and no key file.
    vi.stubEnv(MASTER_KEY_ENV, '');
    await expect(migrate(database)).rejects.toBeInstanceOf(MigrationError);
    // Rolled back: still plaintext.
    expect(await postgresStoredText(database)).toContain(canary);
    const keyDir = mkdtempSync(join(tmpdir(), 'chairside-0110-'));
    cleanup.push(async () => rmSync(keyDir, { recursive: true, force: true }));
    writeMasterKeyFile(keyDir, database.masterKey);
    expect(await migrate(database, masterKeyPath(keyDir))).toContain(110);

    const stored = await postgresStoredText(database);
    expect(stored).toContain(clinics[0]);
    expect(stored.split('\n').filter((line) => line.includes(canary))).toEqual([]);

    await expect(
      openPostgresSyncStorage({ connection: database.app, clock: new TestClock(), masterKey: randomBytes(32) }),
    ).rejects.toBeInstanceOf(MasterKeyMismatchError);
    const storage = await openPostgresSyncStorage({
      connection: database.app,
      clock: new TestClock(1_000),
      masterKey: database.masterKey,
    });
    cleanup.push(() => storage.close());
    for (const clinicId of clinics) {
      const store = await storage.clinic(clinicId);
      const page = await store.pullChanges({ after: 0, limit: 10 });
      expect(page.changes.map((change) => change.fields)).toEqual([
        { branch_id: BRANCH, first_name: `${canary}First` },
        { address: `1 ${canary} Street` },
        { username: 'dentist', password_hash: `${canary}Hash` },
      ]);
      expect(await store.readPatientBranches(['p1', 'p2'])).toEqual([{ patientId: 'p1', branchId: BRANCH }]);
      expect((await store.findQuarantinedChanges(['q1'])).map((change) => change.detail)).toEqual([
        `fields.${canary}: unrecognized`,
      ]);
      // The migrated clinic keeps working: a new device's appends are sealed under the same key.
      await enrollDevice(storage, store, 'new-device');
      await store.appendChanges(makeBatch('new-device', 'tx-new', 2));
      expect((await store.pullChanges({ after: 3, limit: 10 })).changes).toHaveLength(2);
    }
  });
});

describe('sealed rows on PostgreSQL', () => {
  it('refuses to serve sealed fields moved onto another change or another clinic', async () => {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const storage = await openPostgresSyncStorage({
      connection: database.app,
      clock: new TestClock(),
      masterKey: database.masterKey,
    });
    cleanup.push(() => storage.close());
    const stores = [];
    for (const name of ['Alpha', 'Bravo']) {
      const clinic = await storage.createClinic({ name });
      const store = await storage.clinic(clinic.clinicId);
      await enrollDevice(storage, store, 'device-1');
      await store.appendChanges(makeBatch('device-1', 'tx-1', 2));
      stores.push(store);
    }
    const [alpha, bravo] = stores as [(typeof stores)[0], (typeof stores)[0]];
    // As a database superuser could: Bravo's first change gets Alpha's first change's ciphertext,
    // and Alpha's second change gets Alpha's first one's.
    await asSuperuser(database, async (client) => {
      await client.query(
        `UPDATE ${SCHEMA}.changes AS target SET sealed_fields = source.sealed_fields
           FROM ${SCHEMA}.changes AS source
          WHERE source.clinic_id = $1 AND source.server_seq = 1
            AND ((target.clinic_id = $2 AND target.server_seq = 1) OR (target.clinic_id = $1 AND target.server_seq = 2))`,
        [alpha.clinicId, bravo.clinicId],
      );
    });
    await expect(bravo.pullChanges({ after: 0, limit: 10 })).rejects.toBeInstanceOf(SealedValueError);
    await expect(alpha.pullChanges({ after: 1, limit: 10 })).rejects.toBeInstanceOf(SealedValueError);
    expect((await alpha.pullChanges({ after: 0, limit: 1 })).changes).toHaveLength(1);
  });
});
