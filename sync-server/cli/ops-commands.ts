/**
 * The operator commands that run without opening the storage the usual way: `db migrate` (as
 * the PostgreSQL owner role, which the server itself never uses), `backup` and `restore` of either
 * storage (the restore target must stay empty until the restore writes it).
 */
import pg from 'pg';
import { MASTER_KEY_ENV, masterKeyPath } from './master-key.js';
import { loadExistingMasterKey, writeMasterKeyFile } from './master-key.js';
import { migratePostgres } from '../storage/postgres/migrate.js';
import { postgresMigrations } from '../storage/postgres/migrations/index.js';
import { backupPostgres, redactUrl, restorePostgresBackup } from '../ops/postgres-backup.js';
import { backupSqliteDataDir, restoreSqliteBackup } from '../ops/sqlite-backup.js';

/**
 * `db migrate --postgres-owner URL --app-role NAME [--master-key-file FILE]`: applies the missing
 * steps as the owner role. The master key (CHAIRSIDE_SYNC_MASTER_KEY, else FILE) is read only when
 * given: a step that encrypts existing clinics' data (0110) refuses to run without it.
 */
export async function migrateDatabase(
  ownerUrl: string,
  appRole: string,
  keyFile: string | undefined,
  now: number,
): Promise<{ applied: number[] }> {
  const masterKey = keyFile === undefined && !process.env[MASTER_KEY_ENV] ? undefined : loadExistingMasterKey(keyFile);
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    return { applied: await migratePostgres(client, postgresMigrations, { appRole, now, masterKey }) };
  } finally {
    await client.end();
  }
}

/** `backup --data-dir DIR --out BACKUP_DIR`: an online, still encrypted copy; the key stays out of it. */
export async function backupDataDir(dataDir: string, out: string, now: number) {
  const masterKey = loadExistingMasterKey(masterKeyPath(dataDir));
  const manifest = await backupSqliteDataDir({ dataDir, out, masterKey, now });
  return {
    backup: out,
    clinics: manifest.clinics.length,
    files: manifest.files.length,
    bytes: manifest.files.reduce((sum, file) => sum + file.bytes, 0),
    keyId: manifest.keyId,
  };
}

/**
 * `restore --from BACKUP_DIR --data-dir NEW_DIR [--master-key-file FILE]`: the key from the
 * environment or the file; a key read from a file is written as the new data directory's key
 * file, so `--data-dir NEW_DIR` then serves the restored clinics.
 */
export async function restoreDataDir(from: string, dataDir: string, keyFile: string | undefined, now: number) {
  const masterKey = loadExistingMasterKey(keyFile, keyFile === undefined ? process.env : {});
  const { clinics } = await restoreSqliteBackup({ from, dataDir, masterKey, now });
  if (keyFile !== undefined) writeMasterKeyFile(dataDir, masterKey);
  return {
    restored: dataDir,
    clinics: clinics.map((clinic) => ({
      clinicId: clinic.clinicId,
      devices: clinic.devices,
      auditEntries: clinic.audit.entries,
      auditVerified: clinic.audit.ok,
    })),
  };
}

/**
 * `backup --postgres-owner URL --out BACKUP_DIR`: pg_dump of the storage's schemas on one
 * snapshot. The output says the dump is not encrypted, so no operator takes it for one.
 */
export async function backupPostgresDatabase(ownerUrl: string, out: string, now: number) {
  const manifest = await backupPostgres({ ownerUrl, out, now });
  const [dump] = manifest.files;
  return {
    backup: out,
    kind: manifest.kind,
    clinics: manifest.clinics.length,
    migrationVersion: manifest.migrationVersion,
    bytes: dump.bytes,
    sha256: dump.sha256,
    encrypted: false,
    note: 'the dump is not encrypted: store it encrypted at rest',
  };
}

/**
 * `restore --from BACKUP_DIR --postgres-owner URL --app-role NAME --postgres APP_URL`: into a
 * database without the storage's schemas; the master key (CHAIRSIDE_SYNC_MASTER_KEY) checks the
 * audit logs' signed checkpoints. The database is named with its password redacted.
 */
export async function restorePostgresDatabase(
  from: string,
  target: { readonly ownerUrl: string; readonly appRole: string; readonly appUrl: string },
  masterKey: Buffer,
  now: number,
) {
  const { migrationVersion, clinics } = await restorePostgresBackup({ from, ...target, masterKey, now });
  return {
    restored: redactUrl(target.ownerUrl),
    kind: 'postgres',
    migrationVersion,
    clinics: clinics.map((clinic) => ({
      clinicId: clinic.clinicId,
      devices: clinic.devices,
      auditEntries: clinic.audit.entries,
      auditVerified: clinic.audit.ok,
    })),
  };
}
