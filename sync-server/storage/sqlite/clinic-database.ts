/**
 * One clinic's SQLCipher file as every area of the embedded storage reaches it (changes/,
 * compaction/, audit/, devices/, quarantine/, directory/): the connection, its prepared
 * statements, the server clock, write transactions and the few reads several areas share (the
 * clinic's counters, whether a device may write). An area's operations are plain functions over
 * this handle; sqlite-storage.ts combines them into the clinic's ClinicStore.
 *
 * better-sqlite3 is synchronous: a write transaction (BEGIN IMMEDIATE) runs from start to commit
 * without another operation interleaving, which is what makes a transaction that reads one area
 * and writes another (an append checking its device) atomic without locks.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import type { Clock } from '../../../shared/clock.js';
import { DeviceRevokedError, UnknownDeviceError } from '../errors.js';
import type { Counter } from '../stored-rows.js';

/** Prepared statements built once per connection, by SQL text. Values are always bound. */
export class Statements {
  private readonly cache = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(private readonly db: Database.Database) {}

  /** The statement of this SQL text, prepared on first use. */
  get(sql: string): Database.Statement<unknown[], unknown> {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

/** The handle the embedded storage's areas share for one clinic file. */
export class SqliteClinicDatabase {
  /** Prepared statements of this file. */
  readonly sql: Statements;

  constructor(
    readonly clinicId: string,
    readonly db: Database.Database,
    readonly clock: Clock,
  ) {
    this.sql = new Statements(db);
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE); a throw rolls everything back. */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** The counter's value. */
  counterValue(counter: Counter): number {
    return (this.sql.get('SELECT value FROM counters WHERE counter = ?').get(counter) as { value: number }).value;
  }

  /** Adds `by` to a counter inside the caller's transaction and returns the new value. */
  advanceCounter(counter: Counter, by: number): number {
    const row = this.sql
      .get('UPDATE counters SET value = value + ? WHERE counter = ? RETURNING value')
      .get(by, counter);
    return (row as { value: number }).value;
  }

  /** Throws UnknownDeviceError or DeviceRevokedError unless the device may write. */
  requireActiveDevice(deviceId: string): void {
    const row = this.sql.get('SELECT revoked_at FROM devices WHERE device_id = ?').get(deviceId) as
      { revoked_at: number | null } | undefined;
    if (!row) throw new UnknownDeviceError('no such device in this clinic');
    if (row.revoked_at !== null) throw new DeviceRevokedError('the device is revoked');
  }

  /** Closes the file (the storage's close does this). */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
