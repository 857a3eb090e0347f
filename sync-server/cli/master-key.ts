/**
 * The server master key of an embedded deployment: 32 random bytes from which the clinic
 * database keys (storage/sqlite/key-source.ts) and the server's signing keys
 * (auth/server-keys.ts) are derived. Taken from CHAIRSIDE_SYNC_MASTER_KEY (64 hex characters)
 * when set, else from `<data dir>/server-master.key`, which is generated on first start with
 * mode 0600. A key file others can read is refused, as ssh refuses a readable private key.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable that can hold the master key. */
export const MASTER_KEY_ENV = 'CHAIRSIDE_SYNC_MASTER_KEY';

/** The key file of a data directory. */
export function masterKeyPath(dataDir: string): string {
  return join(dataDir, 'server-master.key');
}

/** Thrown when the key cannot be read safely. */
export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

function parseHexKey(text: string, where: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new MasterKeyError(`${where} must hold 64 hexadecimal characters`);
  return Buffer.from(hex, 'hex');
}

/** Loads the master key, creating the key file (mode 0600) when there is none. */
export function loadOrCreateMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseHexKey(fromEnv, MASTER_KEY_ENV);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = masterKeyPath(dataDir);
  if (!existsSync(path)) {
    // 'wx' fails if another process created it meanwhile, rather than overwriting its key.
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return readKeyFile(path);
}

function readKeyFile(path: string): Buffer {
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new MasterKeyError(`${path} is readable by other users; run chmod 600 on it`);
  }
  return parseHexKey(readFileSync(path, 'utf8'), path);
}

/**
 * Loads an existing master key: from CHAIRSIDE_SYNC_MASTER_KEY, else from `keyFile`. Never
 * creates one, for commands that must use the key the data was written with (backup, restore,
 * audit verify, a PostgreSQL server whose processes all share one key).
 */
export function loadExistingMasterKey(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseHexKey(fromEnv, MASTER_KEY_ENV);
  if (keyFile === undefined || !existsSync(keyFile)) {
    throw new MasterKeyError(`no master key: set ${MASTER_KEY_ENV} or give the key file`);
  }
  return readKeyFile(keyFile);
}

/** Writes the key file of a data directory (mode 0600), refusing to replace an existing one. */
export function writeMasterKeyFile(dataDir: string, key: Buffer): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(masterKeyPath(dataDir), `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
}
