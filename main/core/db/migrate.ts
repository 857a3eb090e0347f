/**
 * The migration runner: numbered, forward-only steps, each in its own transaction and recorded.
 * It checks the numbers only increase, refuses a database written by a newer app, and fails
 * loudly when the steps applied to a database disagree with the steps this app ships.
 */
import type { WriteDb } from './access.js';

/** One schema step. Numbers leave gaps (0010, 0020) so a step can be slotted in during review. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: WriteDb): void;
}

/** Thrown when a database and the app's migrations do not fit together. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every migration the database lacks; returns the versions applied now. */
export function migrate(db: WriteDb, migrations: readonly Migration[], now: () => number): number[] {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new MigrationError(`migration ${migrations[i]!.version} does not come after ${migrations[i - 1]!.version}`);
    }
  }
  db.execScript(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
  );
  const applied = db
    .query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
    .all();
  const latestKnown = migrations.at(-1)?.version ?? 0;
  const newest = applied.at(-1);
  if (newest && newest.version > latestKnown) {
    throw new MigrationError(
      `this database was written by a newer version of Chairside (schema ${newest.version}); update the app`,
    );
  }
  applied.forEach((row, index) => {
    const expected = migrations[index];
    if (!expected || expected.version !== row.version || expected.name !== row.name) {
      throw new MigrationError(
        `applied migration ${row.version} (${row.name}) does not match the app's migration ${expected ? `${expected.version} (${expected.name})` : 'list'}`,
      );
    }
  });
  const done: number[] = [];
  const record = db.command('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations.slice(applied.length)) {
    db.transaction(() => {
      migration.up(db);
      record.run([migration.version, migration.name, now()]);
    });
    done.push(migration.version);
  }
  return done;
}
