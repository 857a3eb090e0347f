/**
 * Triggers that make a table append-only. SQLite has no privileges, so these stand where the
 * PostgreSQL storage withholds UPDATE and DELETE from the app role: the log tables (changes,
 * audit entries and leaves, checkpoints, security events) are never rewritten in place.
 */

/** SQL for the triggers refusing UPDATE and DELETE on `table` (a constant name from a migration). */
export function appendOnlyTriggers(table: string): string {
  if (!/^[a-z_]+$/.test(table)) throw new Error('table names here are constants');
  return `
    CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
      BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
    CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
      BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
  `;
}
