/**
 * Migration runner of the PostgreSQL storage, run by the owner (migration) role, never by the
 * app role: numbered, forward-only steps, each in its own transaction under an advisory lock (so
 * two server instances starting together do not both migrate), recorded in
 * chairside.schema_migrations. It refuses a database migrated by a newer server and fails loudly
 * when the applied steps and the shipped ones disagree.
 */
import pg from 'pg';

/** The schema holding every table of the sync server. */
export const SCHEMA = 'chairside';

/** What a step needs besides the connection: the role the server connects as, to grant it access. */
export interface MigrationContext {
  /** The app role's name, already quoted as an SQL identifier. */
  readonly appRole: string;
  /**
   * The server master key, for a step that encrypts existing rows (0110); such a step refuses to
   * run without it when there is anything to encrypt.
   */
  readonly masterKey?: Buffer | undefined;
}

/** One schema step. Numbers leave gaps (0010, 0020) so a step can be slotted in during review. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  up(client: pg.ClientBase, context: MigrationContext): Promise<void>;
}

/** Thrown when the database and the server's migrations do not fit together. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

// Role names are identifiers and cannot be bound as parameters: accept only plain lower-case
// names, then quote them anyway.
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
// Any constant: the advisory lock that serialises migrators of one database.
const MIGRATION_LOCK = 4_242_001;

/** Applies every step the database lacks, granting `appRole` its access; returns the versions applied. */
export async function migratePostgres(
  client: pg.ClientBase,
  migrations: readonly PostgresMigration[],
  options: { readonly appRole: string; readonly now: number; readonly masterKey?: Buffer | undefined },
): Promise<number[]> {
  if (!ROLE_NAME.test(options.appRole)) throw new MigrationError('the app role name must match [a-z_][a-z0-9_]*');
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new MigrationError(`migration ${migrations[i]!.version} does not come after ${migrations[i - 1]!.version}`);
    }
  }
  const context: MigrationContext = { appRole: pg.escapeIdentifier(options.appRole), masterKey: options.masterKey };
  const done: number[] = [];
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
      );
      const applied = (
        await client.query<{ version: number; name: string }>(
          `SELECT version, name FROM ${SCHEMA}.schema_migrations ORDER BY version`,
        )
      ).rows;
      checkApplied(applied, migrations);
      const next = migrations[applied.length];
      if (!next) {
        await client.query('COMMIT');
        return done;
      }
      await next.up(client, context);
      await client.query(`INSERT INTO ${SCHEMA}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
        next.version,
        next.name,
        options.now,
      ]);
      await client.query('COMMIT');
      done.push(next.version);
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  }
}

function checkApplied(
  applied: ReadonlyArray<{ version: number; name: string }>,
  migrations: readonly PostgresMigration[],
) {
  const newest = applied.at(-1);
  if (newest && newest.version > (migrations.at(-1)?.version ?? 0)) {
    throw new MigrationError(`this database was migrated by a newer server (schema ${newest.version})`);
  }
  applied.forEach((row, index) => {
    const expected = migrations[index];
    if (!expected || expected.version !== row.version || expected.name !== row.name) {
      throw new MigrationError(`applied migration ${row.version} (${row.name}) does not match the server's migrations`);
    }
  });
}
