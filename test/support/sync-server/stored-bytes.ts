/**
 * What someone who reads a storage's backing store without the server's master key sees, as
 * text, for tests that a value never reaches it in clear: every file of an embedded data
 * directory byte for byte; every column of every table of a PostgreSQL database (read as the
 * superuser, whom row-level security does not bind) and the database's `pg_dump`. Test support only.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { TestDatabase } from './test-database.js';

/** Every file under `dir`, each read as Latin-1 (byte for byte) and as UTF-8. */
export function dataDirText(dir: string): string {
  const parts: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      parts.push(dataDirText(path));
    } else {
      const bytes = readFileSync(path);
      parts.push(bytes.toString('latin1'), bytes.toString('utf8'));
    }
  }
  return parts.join('\n');
}

/**
 * Every value of every column of every table outside the system schemas: bytea read as raw bytes
 * (Latin-1 and UTF-8), every other type as its text form.
 */
export async function postgresColumnsText(db: TestDatabase): Promise<string> {
  const client = new pg.Client(db.superuser);
  await client.connect();
  try {
    const columns = await client.query<{ schema: string; table: string; column: string; type: string }>(
      `SELECT c.table_schema AS schema, c.table_name AS table, c.column_name AS column, c.data_type AS type
         FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1, 2, c.ordinal_position`,
    );
    const parts: string[] = [];
    for (const { schema, table, column, type } of columns.rows) {
      // Names come from the catalog, not from input, and are quoted.
      const name = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
      const value = type === 'bytea' ? pg.escapeIdentifier(column) : `${pg.escapeIdentifier(column)}::text`;
      const rows = await client.query<{ value: string | Buffer | null }>(`SELECT ${value} AS value FROM ${name}`);
      for (const { value: stored } of rows.rows) {
        if (stored === null) continue;
        parts.push(typeof stored === 'string' ? stored : `${stored.toString('latin1')}\n${stored.toString('utf8')}`);
      }
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

/** The plain-text `pg_dump` of the whole test database (schema and data), as the superuser. */
export function postgresDumpText(db: TestDatabase): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.env.CHAIRSIDE_PG_DUMP ?? 'pg_dump',
      ['--format=plain', '--no-owner', `--dbname=${String(db.superuser.connectionString)}`],
      { maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`pg_dump failed: ${String(stderr).trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** Both views of a PostgreSQL test database: its columns and its dump. */
export async function postgresStoredText(db: TestDatabase): Promise<string> {
  return `${await postgresColumnsText(db)}\n${await postgresDumpText(db)}`;
}
