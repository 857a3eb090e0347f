/**
 * Online backup and restore of the embedded (SQLite) storage: `backup --out DIR` and
 * `restore --from DIR --data-dir NEW_DIR`.
 *
 * A backup is a directory holding a consistent copy of the catalog and of every clinic file it
 * lists, and a manifest (sizes and SHA-256 of each file, the clinics, the key id). Each copy is
 * made with `VACUUM INTO`, one read transaction on the live database, so it is consistent while
 * the server keeps writing (WAL lets the reader and the writer run together). better-sqlite3's
 * `db.backup()` is not used: it refuses to copy an encrypted database into an unkeyed target,
 * whereas SQLite3MultipleCiphers writes `VACUUM INTO` with the source's cipher and key, so the
 * copy is as encrypted as the original and never exists in plaintext.
 *
 * The master key is not in the backup: whoever holds the backup alone cannot read it. The
 * operator keeps the key (server-master.key or CHAIRSIDE_SYNC_MASTER_KEY) apart, and restoring
 * needs it; the manifest's key id (a hash, not the key) tells a wrong key at once.
 *
 * A restore checks every file against the manifest (a changed byte is refused), refuses a data
 * directory that is not empty, opens every file with its key (SQLCipher's per-page HMAC refuses
 * a file changed and re-hashed), and verifies every clinic's audit log before it reports success;
 * on any failure it removes what it wrote.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { z } from 'zod';
import { deriveServerKeys } from '../auth/server-keys.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { clinicIdSchema, timeMsSchema } from '../storage/records.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { catalogFilePath, clinicFilePath, openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import { openEncryptedDatabase } from '../storage/sqlite/open-database.js';
import type { SyncStorage } from '../storage/storage.js';
import { type AuditVerdict, verifyClinicAuditLog } from './audit-verify.js';

/** The manifest's file name inside a backup directory. */
export const BACKUP_MANIFEST_FILE = 'manifest.json';
const FORMAT = 'chairside-sync-backup/v1';

const backupFileSchema = z.strictObject({
  path: z.string().regex(/^(catalog\.db|clinics\/[0-9a-f-]{36}\.db)$/),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** What a backup holds, written last (a backup without its manifest is incomplete). */
export const backupManifestSchema = z.strictObject({
  format: z.literal(FORMAT),
  createdAt: timeMsSchema,
  /** The key id of the master key (auth/server-keys.ts): names the key, reveals nothing of it. */
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  clinics: z.array(clinicIdSchema),
  files: z.array(backupFileSchema).min(1),
});
export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** A backup or restore that cannot proceed; nothing it wrote is left behind. */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}

function isEmptyOrMissing(dir: string): boolean {
  return !existsSync(dir) || (statSync(dir).isDirectory() && readdirSync(dir).length === 0);
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Opens a copied file read-only with the settings of storage/sqlite/open-database.ts and runs
 * SQLite's quick check; throws BackupError when the key does not open it or a page is damaged.
 */
function checkEncryptedCopy(path: string, key: Buffer, label: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    // Hex of a 32-byte key we derived, never caller text.
    db.pragma(`key = "x'${key.toString('hex')}'"`);
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') throw new Error('quick_check failed');
  } catch {
    throw new BackupError(`${label} does not open with its key or is damaged`);
  } finally {
    db?.close();
  }
}

/** What `backup` needs. */
export interface BackupOptions {
  /** The data directory of the embedded storage (the server may be running on it). */
  readonly dataDir: string;
  /** A directory that is missing or empty; the backup is written there. */
  readonly out: string;
  readonly masterKey: Buffer;
  readonly now: number;
}

/** Copies the catalog and every clinic file it lists into `out`, then writes the manifest. */
export async function backupSqliteDataDir(options: BackupOptions): Promise<BackupManifest> {
  if (!existsSync(catalogFilePath(options.dataDir))) throw new BackupError('the data directory holds no storage');
  if (!isEmptyOrMissing(options.out)) throw new BackupError('the backup directory must be empty or not exist yet');
  const keys = masterKeySource(options.masterKey);
  const created = !existsSync(options.out);
  mkdirSync(join(options.out, 'clinics'), { recursive: true, mode: 0o700 });
  try {
    // The catalog first: every clinic it lists was complete before it was listed, so its file exists.
    const catalogKey = await keys.catalogKey();
    const catalogCopy = catalogFilePath(options.out);
    copyDatabase(catalogFilePath(options.dataDir), catalogCopy, catalogKey);
    checkEncryptedCopy(catalogCopy, catalogKey, 'the catalog copy');
    const clinics = listedClinics(catalogCopy, catalogKey);

    const files: BackupManifest['files'] = [fileEntry(options.out, 'catalog.db')];
    for (const clinicId of clinics) {
      const key = await keys.clinicKey(clinicId);
      const copy = clinicFilePath(options.out, clinicId);
      copyDatabase(clinicFilePath(options.dataDir, clinicId), copy, key);
      checkEncryptedCopy(copy, key, `the copy of clinic ${clinicId}`);
      files.push(fileEntry(options.out, `clinics/${clinicId}.db`));
    }
    const manifest: BackupManifest = {
      format: FORMAT,
      createdAt: options.now,
      keyId: deriveServerKeys(options.masterKey).keyId,
      clinics,
      files,
    };
    writeFileSync(join(options.out, BACKUP_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    return manifest;
  } catch (error) {
    removeWritten(options.out, created);
    throw error;
  }
}

/** One consistent, still encrypted copy of a live database file. */
function copyDatabase(source: string, target: string, key: Buffer): void {
  const db = openEncryptedDatabase(source, key, { create: false });
  try {
    // A bound path: VACUUM INTO takes an expression. It writes with the source's cipher and key.
    db.prepare('VACUUM INTO ?').run(target);
  } finally {
    db.close();
  }
  chmodSync(target, 0o600);
}

function listedClinics(catalogPath: string, key: Buffer): string[] {
  const db = new Database(catalogPath, { readonly: true, fileMustExist: true });
  try {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    db.pragma(`key = "x'${key.toString('hex')}'"`);
    const rows = db.prepare('SELECT clinic_id FROM clinics ORDER BY created_at, clinic_id').all() as Array<{
      clinic_id: string;
    }>;
    return rows.map((row) => clinicIdSchema.parse(row.clinic_id));
  } finally {
    db.close();
  }
}

function fileEntry(root: string, path: string): BackupManifest['files'][number] {
  const full = join(root, path);
  return { path, bytes: statSync(full).size, sha256: sha256File(full) };
}

function removeWritten(dir: string, createdDir: boolean): void {
  if (createdDir) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  // The directory was there (empty) before: empty it again, keep it.
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** What `restore` needs. */
export interface RestoreOptions {
  /** A backup directory written by backupSqliteDataDir. */
  readonly from: string;
  /** The new data directory: missing or empty. */
  readonly dataDir: string;
  readonly masterKey: Buffer;
  readonly now: number;
}

/** One restored clinic, as `restore` reports it. */
export interface RestoredClinic {
  readonly clinicId: string;
  readonly devices: number;
  readonly audit: AuditVerdict;
}

/** Checks the backup, copies it into the new data directory and verifies every clinic there. */
export async function restoreSqliteBackup(options: RestoreOptions): Promise<{ clinics: RestoredClinic[] }> {
  if (!isEmptyOrMissing(options.dataDir)) {
    throw new BackupError('refusing to restore into a data directory that is not empty');
  }
  const manifest = readManifest(options.from);
  if (deriveServerKeys(options.masterKey).keyId !== manifest.keyId) {
    throw new BackupError('the master key given is not the key this backup was made with');
  }
  const expected = ['catalog.db', ...manifest.clinics.map((id) => `clinics/${id}.db`)].sort();
  if (JSON.stringify(manifest.files.map((file) => file.path).sort()) !== JSON.stringify(expected)) {
    throw new BackupError('the manifest does not list exactly the catalog and its clinics');
  }
  for (const file of manifest.files) {
    const path = join(options.from, file.path);
    if (!existsSync(path) || statSync(path).size !== file.bytes || sha256File(path) !== file.sha256) {
      throw new BackupError(`${file.path} differs from the manifest (damaged or tampered)`);
    }
  }

  const created = !existsSync(options.dataDir);
  mkdirSync(join(options.dataDir, 'clinics'), { recursive: true, mode: 0o700 });
  try {
    const keys = masterKeySource(options.masterKey);
    for (const file of manifest.files) {
      const target = join(options.dataDir, file.path);
      copyFileSync(join(options.from, file.path), target);
      chmodSync(target, 0o600);
      const clinicId = /^clinics\/(.+)\.db$/.exec(file.path)?.[1];
      const key = clinicId === undefined ? await keys.catalogKey() : await keys.clinicKey(clinicId);
      checkEncryptedCopy(target, key, file.path);
    }
    return { clinics: await verifyRestored(options, manifest) };
  } catch (error) {
    removeWritten(options.dataDir, created);
    throw error;
  }
}

function readManifest(from: string): BackupManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(from, BACKUP_MANIFEST_FILE), 'utf8'));
  } catch {
    throw new BackupError(`${BACKUP_MANIFEST_FILE} is missing or not JSON: not a complete backup`);
  }
  const result = backupManifestSchema.safeParse(parsed);
  if (!result.success) throw new BackupError(`${BACKUP_MANIFEST_FILE} is not a backup manifest`);
  return result.data;
}

/** Opens the restored storage as the server would and verifies each clinic's audit log. */
async function verifyRestored(options: RestoreOptions, manifest: BackupManifest): Promise<RestoredClinic[]> {
  const storage = await openSqliteSyncStorage({
    dataDir: options.dataDir,
    keys: masterKeySource(options.masterKey),
    clock: { now: () => options.now },
  });
  try {
    return await verifyRestoredClinics(storage, options.masterKey, manifest.clinics, 'catalog');
  } finally {
    await storage.close();
  }
}

/**
 * Checks a restored storage (either kind) as the server reads it: the clinics the manifest names,
 * in its order, and each clinic's consolidated audit log verified against the checkpoint key the
 * master key derives. Throws BackupError naming the first failure.
 */
export async function verifyRestoredClinics(
  storage: SyncStorage,
  masterKey: Buffer,
  expectedClinics: readonly string[],
  where: string,
): Promise<RestoredClinic[]> {
  const serverKeys = deriveServerKeys(masterKey);
  const listed = (await storage.listClinics()).map((clinic) => clinic.clinicId);
  if (JSON.stringify(listed) !== JSON.stringify(expectedClinics)) {
    throw new BackupError(`the restored ${where} lists other clinics than the manifest`);
  }
  const restored: RestoredClinic[] = [];
  for (const clinicId of listed) {
    const store = await storage.clinic(clinicId);
    const audit = await verifyClinicAuditLog(
      store,
      { keyName: serverKeys.checkpointKeyName, publicKey: serverKeys.checkpointPublicKey },
      nodeSha256,
    );
    if (!audit.ok) throw new BackupError(`clinic ${clinicId}: audit verification failed: ${audit.failures[0]}`);
    restored.push({ clinicId, devices: (await store.listDevices()).length, audit });
  }
  return restored;
}
