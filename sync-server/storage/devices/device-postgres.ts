/**
 * The devices area on PostgreSQL: the clinic's record, enrollment codes and devices, and the two
 * operations that come before a clinic is known (redeeming a code, consuming a challenge nonce).
 */
import type pg from 'pg';
import type { Clock } from '../../../shared/clock.js';
import { challengeNonceInputSchema } from '../challenge-nonce.js';
import { generateEnrollmentCode, hashEnrollmentCode } from '../enrollment-code.js';
import { DuplicateDeviceError, EnrollmentCodeError, UnknownClinicError, UnknownDeviceError } from '../errors.js';
import { newUuid } from '../node-crypto.js';
import {
  type Clinic,
  type CreateEnrollmentCodeInput,
  type CreatedEnrollmentCode,
  type Device,
  type EnrolledDevice,
  type EnrollmentCodeRecord,
  type RedeemEnrollmentCodeInput,
  type RevokeDeviceInput,
  createEnrollmentCodeInputSchema,
  deviceIdSchema,
  parseInput,
  redeemEnrollmentCodeInputSchema,
  revokeDeviceInputSchema,
} from '../records.js';
import { type PostgresClinicContext, inTransaction, isUniqueViolation } from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
import { AUTH_SCHEMA } from '../postgres/migrations/0080-auth-state.js';
import {
  type ClinicRow,
  DEVICE_COLUMNS,
  type DeviceRow,
  ENROLLMENT_CODE_COLUMNS,
  type EnrollmentCodeRow,
  clinicFromRow,
  deviceFromRow,
  enrollmentCodeFromRow,
} from '../stored-rows.js';
import type { DeviceStore } from './device-store.js';

// Any constant: the advisory lock taken by whichever transaction purges expired nonces.
const NONCE_PURGE_LOCK = 4_242_002;

async function readDevice(client: pg.PoolClient, deviceId: string): Promise<Device | null> {
  const row = (
    await client.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices WHERE device_id = $1`, [deviceId])
  ).rows[0];
  return row ? deviceFromRow(row) : null;
}

/** The devices area of one clinic. */
export function postgresDeviceStore({ run, clock }: PostgresClinicContext): DeviceStore {
  return {
    async getClinic(): Promise<Clinic> {
      const row = await run(
        async (client) =>
          (await client.query<ClinicRow>(`SELECT clinic_id, name, created_at FROM ${SCHEMA}.clinics`)).rows[0],
      );
      if (!row) throw new UnknownClinicError('no such clinic');
      return clinicFromRow(row);
    },

    async createEnrollmentCode(input: CreateEnrollmentCodeInput): Promise<CreatedEnrollmentCode> {
      const { ttlMs, createdBy } = parseInput(createEnrollmentCodeInputSchema, input);
      const code = generateEnrollmentCode();
      const createdAt = clock.now();
      const record: EnrollmentCodeRecord = {
        codeId: newUuid(),
        createdAt,
        expiresAt: createdAt + ttlMs,
        createdBy,
        redeemedAt: null,
        redeemedByDevice: null,
      };
      await run((client) =>
        client.query(
          `INSERT INTO ${SCHEMA}.enrollment_codes (code_id, code_hash, created_at, expires_at, created_by)
           VALUES ($1, $2, $3, $4, $5)`,
          [record.codeId, hashEnrollmentCode(code), record.createdAt, record.expiresAt, record.createdBy],
        ),
      );
      return { code, record };
    },

    async listEnrollmentCodes(): Promise<EnrollmentCodeRecord[]> {
      const rows = await run(
        async (client) =>
          (
            await client.query<EnrollmentCodeRow>(
              `SELECT ${ENROLLMENT_CODE_COLUMNS} FROM ${SCHEMA}.enrollment_codes ORDER BY created_at, code_id`,
            )
          ).rows,
      );
      return rows.map(enrollmentCodeFromRow);
    },

    async getDevice(deviceId: string): Promise<Device | null> {
      if (!deviceIdSchema.safeParse(deviceId).success) return null;
      return run((client) => readDevice(client, deviceId));
    },

    async listDevices(): Promise<Device[]> {
      const rows = await run(
        async (client) =>
          (
            await client.query<DeviceRow>(
              `SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices ORDER BY enrolled_at, device_id`,
            )
          ).rows,
      );
      return rows.map(deviceFromRow);
    },

    async revokeDevice(input: RevokeDeviceInput): Promise<Device> {
      const { deviceId, reason } = parseInput(revokeDeviceInputSchema, input);
      return run(async (client) => {
        const row = (
          await client.query<DeviceRow>(
            `SELECT ${DEVICE_COLUMNS} FROM ${SCHEMA}.devices WHERE device_id = $1 FOR UPDATE`,
            [deviceId],
          )
        ).rows[0];
        if (!row) throw new UnknownDeviceError('no such device in this clinic');
        if (row.revoked_at !== null) return deviceFromRow(row);
        const updated = await client.query<DeviceRow>(
          `UPDATE ${SCHEMA}.devices SET revoked_at = $1, revoked_reason = $2 WHERE device_id = $3 RETURNING ${DEVICE_COLUMNS}`,
          [clock.now(), reason, deviceId],
        );
        return deviceFromRow(updated.rows[0]!);
      });
    },

    async isDeviceRevoked(deviceId: string): Promise<boolean> {
      if (!deviceIdSchema.safeParse(deviceId).success) return true;
      const row = await run(
        async (client) =>
          (
            await client.query<{ revoked_at: number | null }>(
              `SELECT revoked_at FROM ${SCHEMA}.devices WHERE device_id = $1`,
              [deviceId],
            )
          ).rows[0],
      );
      return !row || row.revoked_at !== null;
    },
  };
}

/** Redeems a code and registers its device in one transaction (SyncStorage.redeemEnrollmentCode). */
export async function redeemEnrollmentCode(
  pool: pg.Pool,
  clock: Clock,
  input: RedeemEnrollmentCodeInput,
): Promise<EnrolledDevice> {
  const parsed = parseInput(redeemEnrollmentCodeInputSchema, input);
  const codeHash = hashEnrollmentCode(parsed.code);
  if (codeHash === null) throw new EnrollmentCodeError('unknown');
  // Presenting the hash makes that one code row visible (its policy); the rest of the
  // transaction runs as the code's clinic.
  return inTransaction(pool, [['chairside.enrollment_code_hash', codeHash]], async (client) => {
    const code = (
      await client.query<{ clinic_id: string; code_id: string; expires_at: number; redeemed_at: number | null }>(
        `SELECT clinic_id, code_id, expires_at, redeemed_at FROM ${SCHEMA}.enrollment_codes
          WHERE code_hash = $1 FOR UPDATE`,
        [codeHash],
      )
    ).rows[0];
    if (!code) throw new EnrollmentCodeError('unknown');
    await client.query('SELECT set_config($1, $2, true)', ['chairside.clinic_id', code.clinic_id]);
    const now = clock.now();
    if (code.redeemed_at !== null) throw new EnrollmentCodeError('redeemed');
    if (now >= code.expires_at) throw new EnrollmentCodeError('expired');
    if ((await client.query(`SELECT 1 FROM ${SCHEMA}.devices WHERE device_id = $1`, [parsed.deviceId])).rowCount) {
      throw new DuplicateDeviceError('this device id is already enrolled');
    }
    await client.query(
      `UPDATE ${SCHEMA}.enrollment_codes SET redeemed_at = $1, redeemed_by_device = $2 WHERE code_id = $3`,
      [now, parsed.deviceId, code.code_id],
    );
    // The clinic's device counter row is locked until commit, so concurrent redemptions take
    // consecutive numbers (migration 0070).
    const deviceNumber = (
      await client.query<{ value: number }>(
        `INSERT INTO ${SCHEMA}.clinic_counters (counter, value) VALUES ('devices', 1)
         ON CONFLICT (clinic_id, counter) DO UPDATE SET value = clinic_counters.value + 1 RETURNING value`,
      )
    ).rows[0]!.value;
    try {
      const row = (
        await client.query<DeviceRow>(
          `INSERT INTO ${SCHEMA}.devices (device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${DEVICE_COLUMNS}`,
          [parsed.deviceId, parsed.name, Buffer.from(parsed.publicKey), code.code_id, now, deviceNumber],
        )
      ).rows[0]!;
      return { clinicId: code.clinic_id, device: deviceFromRow(row) };
    } catch (error) {
      // Two codes enrolling one device id at once: the loser sees the key violation.
      if (isUniqueViolation(error, 'devices_pkey'))
        throw new DuplicateDeviceError('this device id is already enrolled');
      throw error;
    }
  });
}

/** Marks a challenge nonce used for every process sharing the database (SyncStorage.consumeChallengeNonce). */
export async function consumeChallengeNonce(
  pool: pg.Pool,
  clock: Clock,
  nonce: string,
  expiresAt: number,
): Promise<boolean> {
  const parsed = parseInput(challengeNonceInputSchema, { nonce, expiresAt });
  const now = clock.now();
  if (parsed.expiresAt <= now) return false;
  // The primary key decides between processes: a concurrent insert of the same nonce waits for
  // the first to commit, then inserts nothing. One transaction at a time purges (whoever gets
  // the advisory lock; the others skip it), so two purges never wait on or deadlock each other.
  return inTransaction(pool, [], async (client) => {
    const { rows } = await client.query<{ purging: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS purging', [
      NONCE_PURGE_LOCK,
    ]);
    if (rows[0]?.purging) {
      await client.query(`DELETE FROM ${AUTH_SCHEMA}.used_challenge_nonces WHERE expires_at <= $1`, [now]);
    }
    const inserted = await client.query(
      `INSERT INTO ${AUTH_SCHEMA}.used_challenge_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`,
      [parsed.nonce, parsed.expiresAt],
    );
    return inserted.rowCount === 1;
  });
}
