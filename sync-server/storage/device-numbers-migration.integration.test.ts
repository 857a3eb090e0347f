/**
 * Migration 0070 of both storages on devices enrolled before it: they are numbered 1, 2, 3... per
 * clinic in enrollment order (a revoked device too, and it stays revoked), and the next enrollment
 * continues the count.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClock, newDevicePublicKey } from '../../test/support/sync-server/conformance-fixtures.js';
import { migratePostgres } from './postgres/migrate.js';
import { postgresMigrations } from './postgres/migrations/index.js';
import { openPostgresSyncStorage } from './postgres/postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import { migrateSqlite } from './sqlite/migrate.js';
import { clinicMigrations } from './sqlite/migrations/clinic/index.js';
import { openEncryptedDatabase } from './sqlite/open-database.js';

const before70 = <M extends { version: number }>(list: readonly M[]) => list.filter((step) => step.version < 70);
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('device numbers migration (SQLite clinic file)', () => {
  it('numbers existing devices in enrollment order, keeps a revoked one revoked, and fixes the numbers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chairside-device-numbers-'));
    const db = openEncryptedDatabase(join(dir, 'clinic.db'), randomBytes(32), { create: true });
    cleanup.push(() => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    migrateSqlite(db, before70(clinicMigrations), 1);
    const enroll = (deviceId: string, at: number) => {
      const codeId = randomUUID();
      db.prepare(
        'INSERT INTO enrollment_codes (code_id, code_hash, created_at, expires_at, redeemed_at, redeemed_by_device) VALUES (?, ?, 0, 99, ?, ?)',
      ).run(codeId, randomBytes(32).toString('hex'), at, deviceId);
      db.prepare(
        'INSERT INTO devices (device_id, name, public_key, enrollment_code_id, enrolled_at) VALUES (?, ?, ?, ?, ?)',
      ).run(deviceId, deviceId, Buffer.from(newDevicePublicKey()), codeId, at);
    };
    enroll('second', 20);
    enroll('first', 10);
    enroll('third', 30);
    db.prepare("UPDATE devices SET revoked_at = 40, revoked_reason = 'Lost' WHERE device_id = 'second'").run();

    migrateSqlite(db, clinicMigrations, 2);
    expect(db.prepare('SELECT device_id, device_number FROM devices ORDER BY device_number').all()).toEqual([
      { device_id: 'first', device_number: 1 },
      { device_id: 'second', device_number: 2 },
      { device_id: 'third', device_number: 3 },
    ]);
    expect(() => db.prepare("UPDATE devices SET revoked_reason = 'x' WHERE device_id = 'second'").run()).toThrow(
      /stays revoked/,
    );
    expect(() => db.prepare("UPDATE devices SET device_number = 9 WHERE device_id = 'third'").run()).toThrow(
      /keeps its number/,
    );
  });
});

describe('device numbers migration (PostgreSQL)', () => {
  it('numbers existing devices per clinic in enrollment order and continues the count at the next enrollment', async () => {
    const database: TestDatabase = await createTestDatabase(before70(postgresMigrations));
    cleanup.push(() => database.drop());
    const superuser = new pg.Client(database.superuser);
    await superuser.connect();
    const clinics = [randomUUID(), randomUUID()];
    try {
      for (const [index, clinicId] of clinics.entries()) {
        await superuser.query('INSERT INTO chairside.clinics (clinic_id, name, created_at) VALUES ($1, $2, 1)', [
          clinicId,
          `Clinic ${index}`,
        ]);
        await superuser.query(
          `INSERT INTO chairside.clinic_counters (clinic_id, counter, value)
           VALUES ($1, 'changes', 0), ($1, 'audit_leaves', 0), ($1, 'security_events', 0)`,
          [clinicId],
        );
        for (const [deviceId, at] of [
          ['late', 30],
          ['early', 10],
        ] as const) {
          const codeId = randomUUID();
          await superuser.query(
            `INSERT INTO chairside.enrollment_codes (clinic_id, code_id, code_hash, created_at, expires_at, redeemed_at,
               redeemed_by_device) VALUES ($1, $2, $3, 0, 99, $4, $5)`,
            [clinicId, codeId, randomBytes(32).toString('hex'), at, deviceId],
          );
          await superuser.query(
            `INSERT INTO chairside.devices (clinic_id, device_id, name, public_key, enrollment_code_id, enrolled_at)
             VALUES ($1, $2, $2, $3, $4, $5)`,
            [clinicId, deviceId, Buffer.from(newDevicePublicKey()), codeId, at],
          );
        }
      }
      await superuser.query(
        "UPDATE chairside.devices SET revoked_at = 40, revoked_reason = 'Lost' WHERE device_id = 'early' AND clinic_id = $1",
        [clinics[0]],
      );
    } finally {
      await superuser.end();
    }

    const migrator = new pg.Client(database.owner);
    await migrator.connect();
    try {
      await migratePostgres(migrator, postgresMigrations, {
        appRole: database.appRole,
        now: 2,
        masterKey: database.masterKey,
      });
    } finally {
      await migrator.end();
    }

    const storage = await openPostgresSyncStorage({
      connection: database.app,
      clock: new TestClock(1_000),
      masterKey: database.masterKey,
    });
    cleanup.push(() => storage.close());
    for (const clinicId of clinics) {
      const store = await storage.clinic(clinicId);
      const numbered = (await store.listDevices()).map((device) => [device.deviceId, device.deviceNumber]);
      expect(numbered).toEqual([
        ['early', 1],
        ['late', 2],
      ]);
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      const next = await storage.redeemEnrollmentCode({
        code,
        deviceId: 'after',
        name: 'After',
        publicKey: newDevicePublicKey(),
      });
      expect(next.device.deviceNumber).toBe(3);
    }
    expect((await (await storage.clinic(clinics[0]!)).getDevice('early'))?.revokedAt).toBe(40);
  });
});
