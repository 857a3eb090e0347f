/**
 * What every area of the PostgreSQL storage (changes/, compaction/, audit/, devices/,
 * quarantine/, directory/) shares: transactions with the clinic set for row-level security, the
 * clinic's counters (their row locks order this clinic's writes) and the device check writes make.
 * An area's operations are plain functions over a PostgresClinicContext; postgres-storage.ts
 * combines them into the clinic's ClinicStore.
 */
import pg from 'pg';
import type { Clock } from '../../../shared/clock.js';
import { DeviceRevokedError, UnknownClinicError, UnknownDeviceError } from '../errors.js';
import type { Counter } from '../stored-rows.js';
import type { ClinicDataKey } from './clinic-data-key.js';
import { SCHEMA } from './migrate.js';

/** Custom settings for one transaction: (name, value) pairs set with set_config(..., true). */
export type Settings = ReadonlyArray<readonly [name: string, value: string]>;
/** Runs fn in one transaction of the clinic (chairside.clinic_id set for that transaction only). */
export type Run = <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

/** One clinic's view of the database, as the areas reach it. */
export interface PostgresClinicContext {
  readonly clinicId: string;
  /** Every call is a transaction with this clinic set. */
  readonly run: Run;
  readonly clock: Clock;
  /** Seals and opens the clinic's patient data columns (clinic-data-key.ts). */
  readonly dataKey: ClinicDataKey;
}

/** Runs fn in a transaction on its own connection after setting each custom setting for that transaction only. */
export async function inTransaction<T>(
  pool: pg.Pool,
  settings: Settings,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    try {
      await client.query('BEGIN');
      for (const [name, value] of settings) await client.query('SELECT set_config($1, $2, true)', [name, value]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    // A connection whose rollback failed is discarded, never handed to the next clinic.
    client.release(broken);
  }
}

/** True when the error is a unique violation of this constraint. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  return error instanceof pg.DatabaseError && error.code === '23505' && error.constraint === constraint;
}

/** Throws UnknownDeviceError or DeviceRevokedError unless the device may write. */
export async function requireActiveDevice(client: pg.PoolClient, deviceId: string): Promise<void> {
  // FOR SHARE: a revocation committing meanwhile waits for this push, never interleaves with it.
  const row = (
    await client.query<{ revoked_at: number | null }>(
      `SELECT revoked_at FROM ${SCHEMA}.devices WHERE device_id = $1 FOR SHARE`,
      [deviceId],
    )
  ).rows[0];
  if (!row) throw new UnknownDeviceError('no such device in this clinic');
  if (row.revoked_at !== null) throw new DeviceRevokedError('the device is revoked');
}

/** The clinic's counter, without a lock. */
export async function counterValue(client: pg.PoolClient, counter: Counter): Promise<number> {
  const row = (
    await client.query<{ value: number }>(`SELECT value FROM ${SCHEMA}.clinic_counters WHERE counter = $1`, [counter])
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}

/** Locks the clinic's counter row until commit and returns its value. */
export async function lockCounter(client: pg.PoolClient, counter: Counter): Promise<number> {
  const row = (
    await client.query<{ value: number }>(`SELECT value FROM ${SCHEMA}.clinic_counters WHERE counter = $1 FOR UPDATE`, [
      counter,
    ])
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}

/** Adds `by` to the clinic's counter (locking its row until commit) and returns the new value. */
export async function advanceCounter(client: pg.PoolClient, counter: Counter, by: number): Promise<number> {
  const row = (
    await client.query<{ value: number }>(
      `UPDATE ${SCHEMA}.clinic_counters SET value = value + $1 WHERE counter = $2 RETURNING value`,
      [by, counter],
    )
  ).rows[0];
  if (!row) throw new UnknownClinicError('no such clinic');
  return row.value;
}
