/**
 * Migration runner of the embedded storage, after the app's (main/core/db/migrate.ts): numbered,
 * forward-only steps, each in its own transaction and recorded. It checks the numbers only
 * increase, refuses a file written by a newer server, and fails loudly when the steps applied to
 * a file disagree with the steps this server ships.
 */
import type Database from 'better-sqlite3-multiple-ciphers';

/** One schema step. Numbers leave gaps (0010, 0020) so a step can be slotted in during review. */
export interface SqliteMigration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}

/** Thrown when a database file and the server's migrations do not fit together. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every migration the file lacks; returns the versions applied now. */
export function migrateSqlite(db: Database.Database, migrations: readonly SqliteMigration[], now: number): number[] {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new MigrationError(`migration ${migrations[i]!.version} does not come after ${migrations[i - 1]!.version}`);
    }
  }
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
  );
  const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{
    version: number;
    name: string;
  }>;
  const newest = applied.at(-1);
  if (newest && newest.version > (migrations.at(-1)?.version ?? 0)) {
    throw new MigrationError(`this file was written by a newer server (schema ${newest.version})`);
  }
  applied.forEach((row, index) => {
    const expected = migrations[index];
    if (!expected || expected.version !== row.version || expected.name !== row.name) {
      throw new MigrationError(`applied migration ${row.version} (${row.name}) does not match the server's migrations`);
    }
  });
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const migration of migrations.slice(applied.length)) {
    db.transaction(() => {
      migration.up(db);
      record.run(migration.version, migration.name, now);
    }).immediate();
    done.push(migration.version);
  }
  return done;
}
