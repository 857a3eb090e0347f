/**
 * Which storage a command runs on: PostgreSQL when `--postgres URL` is given or
 * CHAIRSIDE_SYNC_PG_URL is set, else the embedded storage in `--data-dir`. The URL connects as
 * the app role (never the owner: the storage refuses a role row security does not bind).
 *
 * The variable is not CHAIRSIDE_PG_URL: the PostgreSQL test suites read that one as the
 * superuser's address, and a developer who sets it for them must not turn every CLI command
 * (and the CLI tests, which spawn it) into a superuser PostgreSQL server.
 *
 * The master key: for SQLite from CHAIRSIDE_SYNC_MASTER_KEY or the data directory's key file
 * (created on first use). For PostgreSQL every process must share one key (tokens and challenges
 * of one process are checked by another), so it comes from CHAIRSIDE_SYNC_MASTER_KEY, or from
 * the key file of a `--data-dir` given only for that purpose.
 */
import pg from 'pg';
import type { Clock } from '../../shared/clock.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../storage/storage.js';
import { MASTER_KEY_ENV, loadExistingMasterKey, loadOrCreateMasterKey } from './master-key.js';

/** The environment variable that can hold the PostgreSQL URL of the app role. */
export const PG_URL_ENV = 'CHAIRSIDE_SYNC_PG_URL';

/** The storage a command runs on. */
export type StorageChoice =
  | { readonly kind: 'sqlite'; readonly dataDir: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly dataDir: string | undefined };

/** Thrown when the options name no usable storage or key. */
export class StorageChoiceError extends Error {
  override readonly name = 'StorageChoiceError';
}

/** Picks the storage from the command line and the environment. */
export function chooseStorage(
  options: { readonly postgres?: string | undefined; readonly dataDir?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): StorageChoice {
  const url = options.postgres ?? (env[PG_URL_ENV] || undefined);
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) throw new StorageChoiceError('--postgres must be a postgres:// URL');
    return { kind: 'postgres', url, dataDir: options.dataDir };
  }
  if (options.dataDir === undefined) {
    throw new StorageChoiceError(`--data-dir is required (or --postgres URL, or ${PG_URL_ENV})`);
  }
  return { kind: 'sqlite', dataDir: options.dataDir };
}

/** The master key for a storage choice (see the file header). */
export function masterKeyFor(choice: StorageChoice, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (choice.dataDir !== undefined) return loadOrCreateMasterKey(choice.dataDir, env);
  if (!env[MASTER_KEY_ENV]) {
    throw new StorageChoiceError(
      `PostgreSQL needs the master key every server process shares: set ${MASTER_KEY_ENV} or give --data-dir holding server-master.key`,
    );
  }
  return loadExistingMasterKey(undefined, env);
}

/** Opens the chosen storage. */
export function openChosenStorage(choice: StorageChoice, masterKey: Buffer, clock: Clock): Promise<SyncStorage> {
  if (choice.kind === 'postgres') {
    // The same master key unwraps each clinic's data key (storage/postgres/clinic-data-key.ts).
    return openPostgresSyncStorage({ connection: { connectionString: choice.url, max: 10 }, clock, masterKey });
  }
  return openSqliteSyncStorage({ dataDir: choice.dataDir, keys: masterKeySource(masterKey), clock });
}

/** A small pool of the app role for the shared brute-force counters (auth/rate-limits.ts). */
export function rateLimitPool(choice: StorageChoice & { kind: 'postgres' }): pg.Pool {
  const pool = new pg.Pool({ connectionString: choice.url, max: 4 });
  // An idle client dropped by the server must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}
