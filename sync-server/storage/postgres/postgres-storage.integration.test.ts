import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rootOf } from '../../../shared/merkle/tree.js';
import {
  AuditChainBuilder,
  TestClock,
  checkpointKeys,
  enrollDevice,
  makeBatch,
} from '../../../test/support/sync-server/conformance-fixtures.js';
import { hashEnrollmentCode } from '../enrollment-code.js';
import { nodeSha256 } from '../node-crypto.js';
import { describeSyncStorageConformance } from '../../../test/support/sync-server/storage.conformance.js';
import type { SyncStorage } from '../storage.js';
import { MigrationError, SCHEMA, migratePostgres } from './migrate.js';
import { LOG_TABLES, TENANT_TABLES, postgresMigrations } from './migrations/index.js';
import { UnconfinedRoleError, openPostgresSyncStorage } from './postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../../../test/support/sync-server/test-database.js';

// One database per file; every test creates its own clinics in it, so tests share no rows.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** Every row of every table in the schema, read as the superuser (which row security does not bind). */
async function dumpAsSuperuser(): Promise<string> {
  const client = new pg.Client(db.superuser);
  await client.connect();
  try {
    const tables = await client.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [SCHEMA],
    );
    const parts: string[] = [];
    for (const { relname } of tables.rows) {
      // Table names come from pg_class, not from input, and are quoted.
      const rows = await client.query<{ row: string }>(
        `SELECT to_jsonb(t)::text AS row FROM ${SCHEMA}.${pg.escapeIdentifier(relname)} t`,
      );
      parts.push(...rows.rows.map((row) => row.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

describeSyncStorageConformance({
  name: 'PostgreSQL',
  open: (clock) => openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey }),
  dumpStoredText: () => dumpAsSuperuser(),
});

describe('PostgreSQL storage: row-level security against the app role', () => {
  const MARK = 'bravo-secret';
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** A raw connection as the app role, closed after the test. */
  async function appConnection(): Promise<pg.Client> {
    const client = new pg.Client(db.app);
    await client.connect();
    cleanup.push(() => client.end());
    return client;
  }

  /** Clinics A and B with a row in every table; B's rows carry the marker. */
  async function seedTwoClinics() {
    const clock = new TestClock();
    const storage: SyncStorage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey });
    cleanup.push(() => storage.close());
    const seed = async (name: string, deviceId: string) => {
      const clinic = await storage.createClinic({ name });
      const store = await storage.clinic(clinic.clinicId);
      await enrollDevice(storage, store, deviceId, `Laptop ${name}`);
      const batch = makeBatch(deviceId, `${deviceId}-tx`, 2);
      batch.changes[0]!.fields = { first_name: `Patient of ${name}` };
      await store.appendChanges(batch);
      // Two updates of one patient field, the first compacted away: rows in device_cursors and compacted_changes.
      const superseded = makeBatch(deviceId, `${deviceId}-stx`, 2);
      for (const change of superseded.changes) Object.assign(change, { entity: 'patient', rowId: 'p1' });
      await store.appendChanges(superseded);
      await store.recordPulledCursor(deviceId, 4);
      expect(await store.compactChanges()).toEqual({ horizon: 4, removed: 1, kept: 3 });
      await store.appendAuditEntries({
        deviceId,
        epoch: 1,
        entries: new AuditChainBuilder(deviceId).next(3, { clinic: name }),
      });
      const root = rootOf(nodeSha256, await store.auditLeafHashes(0, 3));
      await store.storeCheckpoint({ size: 3, rootHash: root, note: checkpointKeys().sign(`${name}.log`, 3, root) });
      await store.appendSecurityEvent({ kind: 'probe', deviceId, userId: null, details: { clinic: name } });
      const quarantined = makeBatch(deviceId, `${deviceId}-qtx`, 1).changes[0]!;
      await store.quarantineChanges({
        deviceId,
        txId: quarantined.txId,
        entries: [{ change: quarantined, reason: 'forbidden', detail: 'patients.write' }],
      });
      await store.updateUserDirectory([{ userId: 'user-1', role: 'Admin', roleHlc: 'a' }]);
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      return { clinic, store, deviceId, code };
    };
    const a = await seed('Alpha', 'alpha-device');
    const b = await seed(`Clinic ${MARK}`, `${MARK}-device`);
    return { a, b };
  }

  /** Runs sql in a transaction with `clinicId` set, returning the result or the error, then rolls back. */
  async function asClinic(client: pg.Client, clinicId: string | null, sql: string, params: unknown[] = []) {
    await client.query('BEGIN');
    try {
      if (clinicId) await client.query('SELECT set_config($1, $2, true)', ['chairside.clinic_id', clinicId]);
      return await client.query(sql, params).then(
        (result) => ({ result, error: null }),
        (error: pg.DatabaseError) => ({ result: null, error }),
      );
    } finally {
      await client.query('ROLLBACK');
    }
  }

  it('forces row-level security with the clinic policy on every table the app role can reach', async () => {
    const client = await appConnection();
    const tables = await client.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'schema_migrations' ORDER BY c.relname`,
      [SCHEMA],
    );
    expect(tables.rows.map((row) => row.relname)).toEqual([...TENANT_TABLES].sort());
    for (const row of tables.rows)
      expect(row, row.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
    const policies = await client.query<{ tablename: string; qual: string; with_check: string }>(
      `SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = $1 AND policyname = 'clinic_isolation'`,
      [SCHEMA],
    );
    expect(policies.rows.map((row) => row.tablename).sort()).toEqual([...TENANT_TABLES].sort());
    for (const policy of policies.rows) {
      expect(policy.qual).toContain("current_setting('chairside.clinic_id'::text, true)");
      expect(policy.with_check).toBe(policy.qual);
    }
    const columns = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'clinic_id'`,
      [SCHEMA],
    );
    expect(columns.rows.map((row) => row.table_name).sort()).toEqual([...TENANT_TABLES].sort());
  });

  it('runs as a role that is no superuser, cannot bypass row security and owns no table', async () => {
    const client = await appConnection();
    const role = await client.query(
      'SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user',
    );
    expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false }]);
    const owners = await client.query<{ owner: string }>(
      `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      [SCHEMA],
    );
    expect(owners.rows).toEqual([{ owner: db.ownerRole }]);
    for (const connection of [db.owner, db.superuser]) {
      await expect(
        openPostgresSyncStorage({ connection, clock: new TestClock(), masterKey: db.masterKey }),
      ).rejects.toBeInstanceOf(UnconfinedRoleError);
    }
  });

  it('shows no row of any table to a query that set no clinic', async () => {
    await seedTwoClinics();
    const client = await appConnection();
    const count = async (table: string) =>
      (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.${table}`)).rows[0]!.n;
    for (const table of TENANT_TABLES) expect(await count(table), table).toBe(0);
    // After a transaction that set a clinic, the setting reads '' on this connection: still nothing.
    const { a } = await seedTwoClinics();
    await asClinic(client, a.clinic.clinicId, 'SELECT 1');
    expect((await client.query("SELECT current_setting('chairside.clinic_id', true) AS v")).rows[0].v).toBe('');
    for (const table of TENANT_TABLES) expect(await count(table), table).toBe(0);
  });

  it("returns only clinic A's rows from every table while clinic A is set", async () => {
    const { a, b } = await seedTwoClinics();
    const client = await appConnection();
    for (const table of TENANT_TABLES) {
      const { result, error } = await asClinic(
        client,
        a.clinic.clinicId,
        `SELECT t.*, t::text AS text FROM ${SCHEMA}.${table} t`,
      );
      expect(error, table).toBeNull();
      expect(result!.rows.length, table).toBeGreaterThan(0);
      for (const row of result!.rows as Array<{ clinic_id: string; text: string }>) {
        expect(row.clinic_id, table).toBe(a.clinic.clinicId);
        expect(row.text, table).not.toContain(MARK);
        expect(row.text, table).not.toContain(b.clinic.clinicId);
      }
    }
  });

  it("refuses to insert a row carrying clinic B's id while clinic A is set", async () => {
    const { a, b } = await seedTwoClinics();
    const client = await appConnection();
    const attempts: Array<[string, unknown[]]> = [
      [`INSERT INTO ${SCHEMA}.clinics (clinic_id, name, created_at) VALUES ($1, 'Forged', 1)`, [b.clinic.clinicId]],
      [
        `INSERT INTO ${SCHEMA}.clinic_counters (clinic_id, counter, value) VALUES ($1, 'changes', 99)`,
        [b.clinic.clinicId],
      ],
      [
        `INSERT INTO ${SCHEMA}.security_events (clinic_id, event_seq, kind, details, occurred_at) VALUES ($1, 99, 'forged', '{}', 1)`,
        [b.clinic.clinicId],
      ],
      [
        `INSERT INTO ${SCHEMA}.audit_leaves (clinic_id, leaf_index, leaf_hash) VALUES ($1, 99, $2)`,
        [b.clinic.clinicId, Buffer.alloc(32)],
      ],
      [
        `INSERT INTO ${SCHEMA}.audit_checkpoints (clinic_id, tree_size, root_hash, note, created_at) VALUES ($1, 99, $2, 'x', 1)`,
        [b.clinic.clinicId, Buffer.alloc(32)],
      ],
    ];
    for (const [sql, params] of attempts) {
      const { error } = await asClinic(client, a.clinic.clinicId, sql, params);
      expect(error?.code, sql).toBe('42501');
      expect(error?.message, sql).toContain('row-level security policy');
    }
  });

  it('grants no UPDATE or DELETE on the log tables, and no DELETE or TRUNCATE anywhere', async () => {
    const { a } = await seedTwoClinics();
    const client = await appConnection();
    for (const table of LOG_TABLES) {
      const update = await asClinic(client, a.clinic.clinicId, `UPDATE ${SCHEMA}.${table} SET clinic_id = clinic_id`);
      expect(update.error?.code, table).toBe('42501');
      expect(update.error?.message, table).toContain('permission denied');
    }
    for (const table of TENANT_TABLES) {
      for (const sql of [`DELETE FROM ${SCHEMA}.${table}`, `TRUNCATE ${SCHEMA}.${table}`]) {
        const { error } = await asClinic(client, a.clinic.clinicId, sql);
        expect(error?.code, sql).toBe('42501');
      }
    }
    // Mutable tables allow only their one-way columns: a device's identity is not updatable.
    const identity = await asClinic(client, a.clinic.clinicId, `UPDATE ${SCHEMA}.devices SET public_key = $1`, [
      Buffer.alloc(32),
    ]);
    expect(identity.error?.code).toBe('42501');
  });

  it('lets the app role delete a change only once compaction recorded it under the same number and id', async () => {
    const { a } = await seedTwoClinics();
    const client = await appConnection();
    const guard = 'a change leaves it only by compaction';
    // seq 4 is in the log; seq 3 was compacted by the seed.
    const bare = await asClinic(client, a.clinic.clinicId, `DELETE FROM ${SCHEMA}.changes WHERE server_seq = 4`);
    expect(bare.error?.code).toBe('42501');
    expect(bare.error?.message).toContain(guard);
    const run = async (statements: Array<[string, unknown[]]>) => {
      await client.query('BEGIN');
      try {
        await client.query('SELECT set_config($1, $2, true)', ['chairside.clinic_id', a.clinic.clinicId]);
        for (const [sql, params] of statements) await client.query(sql, params);
        return null;
      } catch (error) {
        return error as pg.DatabaseError;
      } finally {
        await client.query('ROLLBACK');
      }
    };
    const record = (changeId: string) =>
      [
        `INSERT INTO ${SCHEMA}.compacted_changes (server_seq, change_id, device_id, content_hash, compacted_at)
         SELECT server_seq, $1, device_id, content_hash, 1 FROM ${SCHEMA}.changes WHERE server_seq = 4`,
        [changeId],
      ] as [string, unknown[]];
    const remove: [string, unknown[]] = [`DELETE FROM ${SCHEMA}.changes WHERE server_seq = 4`, []];
    expect((await run([record('another-id'), remove]))?.message).toContain(guard);
    expect(await run([record('alpha-device-stx-c2'), remove])).toBeNull();
    // The other one-way rules: a change is never rewritten, a compaction record never changed or
    // removed, a pulled cursor never lowered or removed.
    for (const sql of [
      `UPDATE ${SCHEMA}.changes SET sealed_fields = '\\x00'`,
      `UPDATE ${SCHEMA}.compacted_changes SET content_hash = content_hash`,
      `DELETE FROM ${SCHEMA}.compacted_changes`,
      `DELETE FROM ${SCHEMA}.device_cursors`,
      `UPDATE ${SCHEMA}.device_cursors SET device_id = 'other'`,
    ]) {
      const { error } = await asClinic(client, a.clinic.clinicId, sql);
      expect(error?.code, sql).toBe('42501');
    }
    const lowered = await asClinic(client, a.clinic.clinicId, `UPDATE ${SCHEMA}.device_cursors SET pulled_after = 0`);
    expect(lowered.error?.message).toContain('a pulled cursor only advances');
  });

  it("changes none of clinic B's rows through an update run as clinic A", async () => {
    const { a, b } = await seedTwoClinics();
    const client = await appConnection();
    const { result } = await asClinic(
      client,
      a.clinic.clinicId,
      `UPDATE ${SCHEMA}.devices SET revoked_at = 1, revoked_reason = 'hostile' WHERE device_id = $1`,
      [b.deviceId],
    );
    expect(result?.rowCount).toBe(0);
    const counters = await asClinic(
      client,
      a.clinic.clinicId,
      `UPDATE ${SCHEMA}.clinic_counters SET value = value + 1 WHERE clinic_id = $1`,
      [b.clinic.clinicId],
    );
    expect(counters.result?.rowCount).toBe(0);
    expect(await b.store.isDeviceRevoked(b.deviceId)).toBe(false);
    expect((await b.store.appendChanges(makeBatch(b.deviceId, 'later', 1))).changes[0]!.serverSeq).toBe(5);
  });

  it('cannot turn row security off, drop a policy, become the owner or read the migration records', async () => {
    const { a } = await seedTwoClinics();
    const client = await appConnection();
    for (const table of TENANT_TABLES) {
      for (const sql of [
        `ALTER TABLE ${SCHEMA}.${table} DISABLE ROW LEVEL SECURITY`,
        `ALTER TABLE ${SCHEMA}.${table} NO FORCE ROW LEVEL SECURITY`,
        `DROP POLICY clinic_isolation ON ${SCHEMA}.${table}`,
      ]) {
        const { error } = await asClinic(client, a.clinic.clinicId, sql);
        expect(error?.code, sql).toBe('42501');
      }
    }
    for (const sql of [
      `SET ROLE ${db.ownerRole}`,
      `SELECT * FROM ${SCHEMA}.schema_migrations`,
      `CREATE TABLE ${SCHEMA}.x (a int)`,
    ]) {
      const { error } = await asClinic(client, a.clinic.clinicId, sql);
      expect(error?.code, sql).toBe('42501');
    }
  });

  it('lets the catalog scope list clinics and nothing else, and a code hash reveal only its code', async () => {
    const { a, b } = await seedTwoClinics();
    const client = await appConnection();
    await client.query('BEGIN');
    try {
      await client.query('SELECT set_config($1, $2, true)', ['chairside.scope', 'catalog']);
      const clinics = await client.query<{ clinic_id: string }>(`SELECT clinic_id FROM ${SCHEMA}.clinics`);
      expect(clinics.rows.map((row) => row.clinic_id)).toEqual(
        expect.arrayContaining([a.clinic.clinicId, b.clinic.clinicId]),
      );
      for (const table of TENANT_TABLES.filter((name) => name !== 'clinics')) {
        expect((await client.query(`SELECT 1 FROM ${SCHEMA}.${table}`)).rowCount, table).toBe(0);
      }
      await client.query('SELECT set_config($1, $2, true)', ['chairside.scope', '']);
      await client.query('SELECT set_config($1, $2, true)', [
        'chairside.enrollment_code_hash',
        hashEnrollmentCode(b.code)!,
      ]);
      const codes = await client.query<{ clinic_id: string }>(`SELECT clinic_id FROM ${SCHEMA}.enrollment_codes`);
      expect(codes.rows).toEqual([{ clinic_id: b.clinic.clinicId }]);
      expect((await client.query(`SELECT 1 FROM ${SCHEMA}.devices`)).rowCount).toBe(0);
    } finally {
      await client.query('ROLLBACK');
    }
  });
});

describe('PostgreSQL storage migrations', () => {
  it('applies nothing twice and refuses a database migrated by a newer server', async () => {
    const client = new pg.Client(db.owner);
    await client.connect();
    try {
      expect(await migratePostgres(client, postgresMigrations, { appRole: db.appRole, now: 1 })).toEqual([]);
      await expect(
        migratePostgres(client, postgresMigrations.slice(0, 2), { appRole: db.appRole, now: 1 }),
      ).rejects.toBeInstanceOf(MigrationError);
      const renamed = postgresMigrations.map((step, i) => (i === 0 ? { ...step, name: 'renamed' } : step));
      await expect(migratePostgres(client, renamed, { appRole: db.appRole, now: 1 })).rejects.toBeInstanceOf(
        MigrationError,
      );
      await expect(
        migratePostgres(client, postgresMigrations, { appRole: 'app"; DROP TABLE x; --', now: 1 }),
      ).rejects.toBeInstanceOf(MigrationError);
      const recorded = await client.query(`SELECT version, name FROM ${SCHEMA}.schema_migrations ORDER BY version`);
      expect(recorded.rows).toEqual(postgresMigrations.map(({ version, name }) => ({ version, name })));
    } finally {
      await client.end();
    }
  });
});
