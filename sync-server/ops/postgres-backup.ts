/**
 * Backup and restore of the PostgreSQL storage: `backup --postgres-owner URL --out DIR` and
 * `restore --from DIR --postgres-owner URL --app-role NAME --postgres APP_URL`.
 *
 * A backup is a directory holding `chairside.dump` (pg_dump's custom format, of the storage's two
 * schemas only: `chairside` and `chairside_auth`) and a manifest (the dump's size and SHA-256, the
 * migration version, the clinics). pg_dump runs on a snapshot exported by our own read-only
 * transaction, so the clinics and version in the manifest are those of the dump, while servers
 * keep writing. The dumping role must read every row: every tenant table has FORCED row-level
 * security, which binds the owner too, so the owner role needs BYPASSRLS (or a superuser's URL is
 * given); otherwise pg_dump would fail on the first tenant table, and we refuse before starting.
 *
 * The dump is NOT encrypted and holds every clinic's data in the clear (no master key, though):
 * the operator stores it encrypted at rest.
 *
 * A restore checks the dump against the manifest (a changed byte is refused), refuses a database
 * that already has either schema (it never overwrites), and restores as the owner with
 * `--no-owner --no-privileges` in one transaction: the objects belong to the owner of the URL, and
 * the source's app role, which may have another name or not exist here, gets nothing. The app role
 * then gets exactly the grants `db migrate` gives it: the migrations up to the dump's version are
 * run in a transaction that is rolled back, and the grants they made are read from the catalog and
 * replayed on the restored objects. The restore then checks that row-level security is still
 * forced on every tenant table and that the app role cannot rewrite the log tables, opens the
 * storage as the app role and verifies every clinic's audit log; on any failure after pg_restore
 * it drops both schemas again.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { SCHEMA, migratePostgres } from '../storage/postgres/migrate.js';
import { AUTH_SCHEMA } from '../storage/postgres/migrations/0080-auth-state.js';
import { LOG_TABLES, TENANT_TABLES, postgresMigrations } from '../storage/postgres/migrations/index.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { clinicIdSchema, timeMsSchema } from '../storage/records.js';
import { BACKUP_MANIFEST_FILE, BackupError, type RestoredClinic, verifyRestoredClinics } from './sqlite-backup.js';

/** The dump's file name inside a backup directory. */
export const POSTGRES_DUMP_FILE = 'chairside.dump';
/** Every schema the storage owns, and so every schema a backup holds. */
export const STORAGE_SCHEMAS = [SCHEMA, AUTH_SCHEMA] as const;

/** What a PostgreSQL backup holds, written last (a backup without its manifest is incomplete). */
export const postgresBackupManifestSchema = z.strictObject({
  format: z.literal('chairside-sync-backup/v1'),
  kind: z.literal('postgres'),
  createdAt: timeMsSchema,
  /** The newest migration applied to the database the dump was made of. */
  migrationVersion: z.number().int().min(1),
  schemas: z.tuple([z.literal(SCHEMA), z.literal(AUTH_SCHEMA)]),
  clinics: z.array(clinicIdSchema),
  files: z.tuple([
    z.strictObject({
      path: z.literal(POSTGRES_DUMP_FILE),
      bytes: z.number().int().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ]),
  /** Said in the manifest too, so whoever finds the directory knows what it holds. */
  encrypted: z.literal(false),
});
export type PostgresBackupManifest = z.infer<typeof postgresBackupManifestSchema>;

// As in storage/postgres/migrate.ts: a role name is interpolated (quoted) into GRANTs.
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A connection URL fit to print: the password replaced by `***`. Anything that does not parse
 * as a URL is not printed at all, since it may be a key=value string holding a password.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (key.toLowerCase() === 'password') parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '(a connection string)';
  }
}

/** Removes every occurrence of the URL's password (raw and decoded) from a text we may print. */
function scrub(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  try {
    const parsed = new URL(url);
    for (const secret of [parsed.password, decodeURIComponent(parsed.password), parsed.searchParams.get('password')]) {
      if (secret) out = out.split(secret).join('***');
    }
  } catch {
    // Not a URL: the whole string was replaced above.
  }
  return out;
}

/**
 * The URL without its password, and the password for PGPASSWORD: a password in an argument
 * would show in `ps` to every user of the machine while pg_dump runs.
 */
function clientConnection(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BackupError('--postgres-owner must be a postgres:// URL');
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new BackupError('--postgres-owner must be a postgres:// URL');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (parsed.password !== '') {
    env.PGPASSWORD = decodeURIComponent(parsed.password);
    parsed.password = '';
  }
  return { dbname: parsed.toString(), env };
}

/** Runs a PostgreSQL client program with an argument array (never a shell); refuses with its scrubbed stderr. */
function runTool(program: string, args: readonly string[], url: string): Promise<void> {
  const { env } = clientConnection(url);
  return new Promise((resolve, reject) => {
    execFile(program, [...args], { env, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (!error) {
        resolve();
        return;
      }
      const detail = scrub(String(stderr).trim().split('\n').slice(0, 3).join(' '), url);
      const name = program.split('/').at(-1) ?? program;
      reject(new BackupError(`${name} failed: ${detail || error.message}`));
    });
  });
}

function isEmptyOrMissing(dir: string): boolean {
  return !existsSync(dir) || (statSync(dir).isDirectory() && readdirSync(dir).length === 0);
}

/** Streams the file: a dump can be far larger than memory. */
function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new BackupError(`cannot connect to PostgreSQL: ${scrub((error as Error).message, url)}`);
  }
  return client;
}

/** What `backup` on PostgreSQL needs. */
export interface PostgresBackupOptions {
  /** A role that reads every row: the owner with BYPASSRLS, or a superuser. */
  readonly ownerUrl: string;
  /** A directory that is missing or empty; the backup is written there. */
  readonly out: string;
  readonly now: number;
  /** pg_dump's path; PATH's by default. */
  readonly pgDump?: string;
}

/** Dumps the storage's schemas into `out` on one snapshot, then writes the manifest. */
export async function backupPostgres(options: PostgresBackupOptions): Promise<PostgresBackupManifest> {
  if (!isEmptyOrMissing(options.out)) throw new BackupError('the backup directory must be empty or not exist yet');
  const { dbname } = clientConnection(options.ownerUrl);
  const client = await connect(options.ownerUrl);
  let created = false;
  try {
    const role = (
      await client.query<{ reads_all: boolean }>(
        'SELECT rolsuper OR rolbypassrls AS reads_all FROM pg_roles WHERE rolname = current_user',
      )
    ).rows[0];
    if (role?.reads_all !== true) {
      throw new BackupError(
        'the backup role must read every clinic: row-level security is forced on the owner too, so give the owner role BYPASSRLS (ALTER ROLE … BYPASSRLS, as a superuser) or use a superuser',
      );
    }
    // Our snapshot is the dump's: the manifest describes exactly what the dump holds.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const present = await storageSchemasIn(client);
    if (present.length !== STORAGE_SCHEMAS.length) throw new BackupError('the database holds no migrated storage');
    const migrationVersion = (
      await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${SCHEMA}.schema_migrations`)
    ).rows[0]?.version;
    if (typeof migrationVersion !== 'number') throw new BackupError('the database holds no migrated storage');
    const clinics = (
      await client.query<{ clinic_id: string }>(
        `SELECT clinic_id FROM ${SCHEMA}.clinics ORDER BY created_at, clinic_id`,
      )
    ).rows.map((row) => {
      const parsed = clinicIdSchema.safeParse(row.clinic_id);
      if (!parsed.success) throw new BackupError('the database holds a clinic id that is not a valid id');
      return parsed.data;
    });

    created = !existsSync(options.out);
    mkdirSync(options.out, { recursive: true, mode: 0o700 });
    const dumpPath = join(options.out, POSTGRES_DUMP_FILE);
    await runTool(
      options.pgDump ?? 'pg_dump',
      [
        '--format=custom',
        ...STORAGE_SCHEMAS.map((schema) => `--schema=${schema}`),
        `--snapshot=${snapshot}`,
        '--no-password',
        `--file=${dumpPath}`,
        `--dbname=${dbname}`,
      ],
      options.ownerUrl,
    );
    await client.query('COMMIT');
    await chmod(dumpPath, 0o600);
    const manifest: PostgresBackupManifest = {
      format: 'chairside-sync-backup/v1',
      kind: 'postgres',
      createdAt: options.now,
      migrationVersion,
      schemas: [SCHEMA, AUTH_SCHEMA],
      clinics,
      files: [{ path: POSTGRES_DUMP_FILE, bytes: statSync(dumpPath).size, sha256: await sha256File(dumpPath) }],
      encrypted: false,
    };
    writeFileSync(join(options.out, BACKUP_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    return manifest;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (existsSync(options.out)) removeWritten(options.out, created);
    throw error;
  } finally {
    await client.end();
  }
}

function removeWritten(dir: string, createdDir: boolean): void {
  if (createdDir) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  // The directory was there (empty) before: empty it again, keep it.
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

async function storageSchemasIn(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[]) ORDER BY nspname',
    [[...STORAGE_SCHEMAS]],
  );
  return rows.map((row) => row.nspname);
}

/** What `restore` on PostgreSQL needs. */
export interface PostgresRestoreOptions {
  /** A backup directory written by backupPostgres. */
  readonly from: string;
  /** The owner role of the target database; the restored objects belong to it. */
  readonly ownerUrl: string;
  /** The role the server connects as; it gets the grants `db migrate` gives it. */
  readonly appRole: string;
  /** The app role's URL: the restore is checked through the storage as the server opens it. */
  readonly appUrl: string;
  /** The master key whose checkpoint key signed the clinics' audit logs. */
  readonly masterKey: Buffer;
  readonly now: number;
  /** pg_restore's path; PATH's by default. */
  readonly pgRestore?: string;
}

/** Reads and checks a PostgreSQL backup's manifest and dump; throws BackupError when anything differs. */
export async function checkPostgresBackup(from: string): Promise<PostgresBackupManifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(from, BACKUP_MANIFEST_FILE), 'utf8'));
  } catch {
    throw new BackupError(`${BACKUP_MANIFEST_FILE} is missing or not JSON: not a complete backup`);
  }
  const result = postgresBackupManifestSchema.safeParse(parsed);
  if (!result.success) throw new BackupError(`${BACKUP_MANIFEST_FILE} is not a PostgreSQL backup manifest`);
  const manifest = result.data;
  const [file] = manifest.files;
  const path = join(from, file.path);
  if (!existsSync(path) || statSync(path).size !== file.bytes || (await sha256File(path)) !== file.sha256) {
    throw new BackupError(`${file.path} differs from the manifest (damaged or tampered)`);
  }
  const shipped = postgresMigrations.map((step) => step.version);
  if (!shipped.includes(manifest.migrationVersion)) {
    throw new BackupError(
      manifest.migrationVersion > (shipped.at(-1) ?? 0)
        ? `the dump was made by a newer server (schema ${manifest.migrationVersion})`
        : `the dump's schema version ${manifest.migrationVersion} is not one this server knows`,
    );
  }
  return manifest;
}

/** One privilege the app role holds on an object of the storage. */
interface Grant {
  readonly kind: 'schema' | 'table' | 'sequence' | 'column';
  readonly schema: string;
  readonly name: string | null;
  readonly column: string | null;
  readonly privilege: string;
}

const PRIVILEGES = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'USAGE', 'REFERENCES', 'TRIGGER', 'TRUNCATE']);

/**
 * The grants `db migrate` gives `appRole` for the migrations up to `version`: they are run in a
 * transaction on the (still empty) target, the catalog read, and everything rolled back. So the
 * restore grants what the server's own migrations grant, not what a backup file claims.
 */
async function migrationGrants(client: pg.ClientBase, appRole: string, version: number): Promise<Grant[]> {
  await client.query('BEGIN');
  try {
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    const context = { appRole: pg.escapeIdentifier(appRole) };
    for (const step of postgresMigrations) if (step.version <= version) await step.up(client, context);
    const { rows } = await client.query<Grant>(
      `SELECT 'schema' AS kind, n.nspname AS schema, NULL AS name, NULL AS column, a.privilege_type AS privilege
         FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
        WHERE n.nspname = ANY($1::text[]) AND a.grantee = $2::regrole
       UNION ALL
       SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, n.nspname, c.relname, NULL, a.privilege_type
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
        WHERE n.nspname = ANY($1::text[]) AND a.grantee = $2::regrole
       UNION ALL
       SELECT 'column', n.nspname, c.relname, att.attname, a.privilege_type
         FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              CROSS JOIN LATERAL aclexplode(att.attacl) a
        WHERE n.nspname = ANY($1::text[]) AND a.grantee = $2::regrole
       ORDER BY 1, 2, 3, 4, 5`,
      [[...STORAGE_SCHEMAS], appRole],
    );
    return rows;
  } finally {
    await client.query('ROLLBACK');
  }
}

function grantStatement(grant: Grant, appRole: string): string {
  if (!PRIVILEGES.has(grant.privilege)) throw new BackupError(`unexpected privilege ${grant.privilege}`);
  const role = pg.escapeIdentifier(appRole);
  const schema = pg.escapeIdentifier(grant.schema);
  if (grant.kind === 'schema') return `GRANT ${grant.privilege} ON SCHEMA ${schema} TO ${role}`;
  const object = `${schema}.${pg.escapeIdentifier(grant.name ?? '')}`;
  if (grant.kind === 'sequence') return `GRANT ${grant.privilege} ON SEQUENCE ${object} TO ${role}`;
  if (grant.kind === 'column') {
    return `GRANT ${grant.privilege} (${pg.escapeIdentifier(grant.column ?? '')}) ON TABLE ${object} TO ${role}`;
  }
  return `GRANT ${grant.privilege} ON TABLE ${object} TO ${role}`;
}

/**
 * What must hold after a restore whatever the dump said: row-level security enabled and forced
 * on every tenant table, and no UPDATE or DELETE on a log table for the app role (but DELETE on
 * `changes`, which its trigger keeps to compaction). Returns what is wrong.
 */
export async function storageSafetyProblems(client: pg.ClientBase, appRole: string): Promise<string[]> {
  const problems: string[] = [];
  const { rows } = await client.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
    `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
    [SCHEMA, [...TENANT_TABLES]],
  );
  for (const table of TENANT_TABLES) {
    const row = rows.find((candidate) => candidate.relname === table);
    if (!row) problems.push(`${table} is missing`);
    else if (!row.relrowsecurity || !row.relforcerowsecurity) problems.push(`${table} lost forced row-level security`);
  }
  for (const table of LOG_TABLES) {
    if (!rows.some((row) => row.relname === table)) continue;
    const forbidden = table === 'changes' ? ['UPDATE'] : ['UPDATE', 'DELETE'];
    for (const privilege of [...forbidden, 'TRUNCATE']) {
      const held = (
        await client.query<{ held: boolean }>('SELECT has_table_privilege($1, $2, $3) AS held', [
          appRole,
          `${SCHEMA}.${table}`,
          privilege,
        ])
      ).rows[0]?.held;
      if (held !== false) problems.push(`the app role may ${privilege} ${table}`);
    }
  }
  return problems;
}

/** Checks the backup, restores it into an empty database, grants the app role, and verifies every clinic there. */
export async function restorePostgresBackup(
  options: PostgresRestoreOptions,
): Promise<{ migrationVersion: number; clinics: RestoredClinic[] }> {
  if (!ROLE_NAME.test(options.appRole)) throw new BackupError('the app role name must match [a-z_][a-z0-9_]*');
  const manifest = await checkPostgresBackup(options.from);
  const { dbname } = clientConnection(options.ownerUrl);
  const client = await connect(options.ownerUrl);
  let restored = false;
  try {
    const present = await storageSchemasIn(client);
    if (present.length > 0) {
      throw new BackupError(
        `refusing to restore into a database that already holds the storage (schema ${present.join(', ')})`,
      );
    }
    const appRoleExists = (
      await client.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS found', [
        options.appRole,
      ])
    ).rows[0]?.found;
    if (appRoleExists !== true) throw new BackupError(`the app role ${options.appRole} does not exist`);
    const grants = await migrationGrants(client, options.appRole, manifest.migrationVersion);

    restored = true;
    // One transaction: a pg_restore that fails leaves nothing behind. No owner and no privileges
    // from the dump: the owner of the URL owns everything, and only our grants below apply.
    await runTool(
      options.pgRestore ?? 'pg_restore',
      [
        '--no-owner',
        '--no-privileges',
        '--single-transaction',
        '--exit-on-error',
        '--no-password',
        `--dbname=${dbname}`,
        join(options.from, POSTGRES_DUMP_FILE),
      ],
      options.ownerUrl,
    );
    await client.query('BEGIN');
    for (const grant of grants) await client.query(grantStatement(grant, options.appRole));
    await client.query('COMMIT');
    const problems = await storageSafetyProblems(client, options.appRole);
    if (problems.length > 0) throw new BackupError(`the restored database is not safe to serve: ${problems[0]}`);
    const version = (
      await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${SCHEMA}.schema_migrations`)
    ).rows[0]?.version;
    if (version !== manifest.migrationVersion)
      throw new BackupError('the dump holds another schema version than its manifest');
    // A dump older than this server is brought to its schema before the storage opens it (which
    // needs the newest one); a step that encrypts existing data (0110) uses the master key.
    await migratePostgres(client, postgresMigrations, {
      appRole: options.appRole,
      now: options.now,
      masterKey: options.masterKey,
    });

    return { migrationVersion: manifest.migrationVersion, clinics: await verifyRestored(options, manifest) };
  } catch (error) {
    if (restored) {
      await client.query('ROLLBACK').catch(() => undefined);
      // pg_restore ran in one transaction, so either both schemas are there or neither is.
      await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA}, ${AUTH_SCHEMA} CASCADE`).catch(() => undefined);
    }
    if (error instanceof Error && !(error instanceof BackupError)) {
      throw new BackupError(`restore failed: ${scrub(scrub(error.message, options.ownerUrl), options.appUrl)}`);
    }
    throw error;
  } finally {
    await client.end();
  }
}

/** Opens the restored storage as the server would and verifies each clinic's audit log. */
async function verifyRestored(
  options: PostgresRestoreOptions,
  manifest: PostgresBackupManifest,
): Promise<RestoredClinic[]> {
  const storage = await openPostgresSyncStorage({
    connection: { connectionString: options.appUrl, max: 2 },
    clock: { now: () => options.now },
    masterKey: options.masterKey,
  });
  try {
    return await verifyRestoredClinics(storage, options.masterKey, manifest.clinics, 'database');
  } finally {
    await storage.close();
  }
}
