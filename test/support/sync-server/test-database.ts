/**
 * A throwaway PostgreSQL database for the integration tests: its own database, owner role and
 * app role, all named `chairside_test_<random>`, migrated by the owner and dropped afterwards.
 * Connects as the superuser from CHAIRSIDE_PG_URL (default postgres://postgres@127.0.0.1:5432)
 * only to create and drop them. Test support only; the server never imports it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type PostgresMigration, migratePostgres } from '../../../sync-server/storage/postgres/migrate.js';
import { postgresMigrations } from '../../../sync-server/storage/postgres/migrations/index.js';

/** A migrated test database and how to connect to it as each role. */
export interface TestDatabase {
  readonly database: string;
  readonly ownerRole: string;
  readonly appRole: string;
  /** Connection settings of the app role: what the storage is given. */
  readonly app: pg.PoolConfig;
  /** Connection settings of the owner (migration) role. */
  readonly owner: pg.PoolConfig;
  /** Connection settings of the superuser, on the test database. */
  readonly superuser: pg.PoolConfig;
  /**
   * The server master key of this database (random per database): the storage opened on it must
   * be given this key, which wraps its clinics' data keys.
   */
  readonly masterKey: Buffer;
  /** Drops the database and both roles. */
  drop(): Promise<void>;
}

/** The superuser connection URL of the test server. */
export function testServerUrl(): string {
  return process.env.CHAIRSIDE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

function urlFor(user: string, database: string, password?: string): string {
  const url = new URL(testServerUrl());
  url.username = user;
  url.password = password ?? '';
  url.pathname = `/${database}`;
  return url.toString();
}

function superuserUrl(database: string): string {
  const url = new URL(testServerUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates, and migrates as the owner role, a fresh database with its own owner and app roles.
 * `migrations` stops at an older step, for tests of a later step on existing rows.
 */
export async function createTestDatabase(
  migrations: readonly PostgresMigration[] = postgresMigrations,
): Promise<TestDatabase> {
  // Database and role names are identifiers, which cannot be bound as parameters. They are
  // built only from this hex suffix and checked against [a-z0-9_] before use, so they are inert.
  const suffix = randomBytes(6).toString('hex');
  const database = `chairside_test_${suffix}`;
  const ownerRole = `chairside_test_${suffix}_owner`;
  const appRole = `chairside_test_${suffix}_app`;
  for (const name of [database, ownerRole, appRole]) if (!/^[a-z0-9_]+$/.test(name)) throw new Error('bad test name');
  // Trust authentication ignores it, but the app role gets a real random password anyway, as
  // it would in production; it too is hex, and quoted as a literal.
  const password = randomBytes(18).toString('hex');

  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${ownerRole} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`);
    await admin.query(
      `CREATE ROLE ${appRole} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT PASSWORD ${pg.escapeLiteral(password)}`,
    );
    await admin.query(`CREATE DATABASE ${database} OWNER ${ownerRole}`);
    await admin.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    await admin.query(`GRANT CONNECT ON DATABASE ${database} TO ${appRole}`);
  } finally {
    await admin.end();
  }

  const owner: pg.PoolConfig = { connectionString: urlFor(ownerRole, database) };
  const migrator = new pg.Client(owner);
  await migrator.connect();
  try {
    await migratePostgres(migrator, migrations, { appRole, now: Date.now() });
  } finally {
    await migrator.end();
  }

  return {
    database,
    ownerRole,
    appRole,
    app: { connectionString: urlFor(appRole, database, password), max: 6 },
    owner,
    superuser: { connectionString: superuserUrl(database) },
    masterKey: randomBytes(32),
    async drop() {
      const dropper = new pg.Client({ connectionString: testServerUrl() });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await dropper.query(`DROP ROLE IF EXISTS ${appRole}`);
        await dropper.query(`DROP ROLE IF EXISTS ${ownerRole}`);
      } finally {
        await dropper.end();
      }
    },
  };
}
