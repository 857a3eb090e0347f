/**
 * The devices area on the embedded storage: the clinic's record, enrollment codes and devices of
 * one clinic file. A code's hash is also registered in the catalog (the only way a redemption,
 * which comes before a clinic is known, finds the clinic); redeeming and registering the device
 * are then one transaction in the clinic's file (redeemAndRegister).
 */
import { generateEnrollmentCode, hashEnrollmentCode } from '../enrollment-code.js';
import { DuplicateDeviceError, EnrollmentCodeError, UnknownDeviceError } from '../errors.js';
import { newUuid } from '../node-crypto.js';
import {
  type Device,
  type EnrollmentCodeRecord,
  createEnrollmentCodeInputSchema,
  deviceIdSchema,
  parseInput,
  revokeDeviceInputSchema,
} from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
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

/** Registers a code's hash in the catalog, so a redemption finds the clinic. */
export type RegisterCodeLookup = (codeHash: string, expiresAt: number) => void;

function readDevice(clinic: SqliteClinicDatabase, deviceId: string): Device | null {
  const row = clinic.sql.get(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id = ?`).get(deviceId);
  return row ? deviceFromRow(row as DeviceRow) : null;
}

/** The devices area of one clinic file. */
export function sqliteDeviceStore(clinic: SqliteClinicDatabase, registerCodeLookup: RegisterCodeLookup): DeviceStore {
  const { sql, clock } = clinic;
  return {
    async getClinic() {
      return clinicFromRow(sql.get('SELECT clinic_id, name, created_at FROM clinic').get() as ClinicRow);
    },

    async createEnrollmentCode(input) {
      const { ttlMs, createdBy } = parseInput(createEnrollmentCodeInputSchema, input);
      const code = generateEnrollmentCode();
      const codeHash = hashEnrollmentCode(code)!;
      const createdAt = clock.now();
      const record: EnrollmentCodeRecord = {
        codeId: newUuid(),
        createdAt,
        expiresAt: createdAt + ttlMs,
        createdBy,
        redeemedAt: null,
        redeemedByDevice: null,
      };
      // Lookup first: a lookup without a code redeems as "unknown"; a code without a lookup never would.
      registerCodeLookup(codeHash, record.expiresAt);
      sql
        .get(
          'INSERT INTO enrollment_codes (code_id, code_hash, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?)',
        )
        .run(record.codeId, codeHash, record.createdAt, record.expiresAt, record.createdBy);
      return { code, record };
    },

    async listEnrollmentCodes() {
      const rows = sql
        .get(`SELECT ${ENROLLMENT_CODE_COLUMNS} FROM enrollment_codes ORDER BY created_at, code_id`)
        .all() as EnrollmentCodeRow[];
      return rows.map(enrollmentCodeFromRow);
    },

    async getDevice(deviceId) {
      if (!deviceIdSchema.safeParse(deviceId).success) return null;
      return readDevice(clinic, deviceId);
    },

    async listDevices() {
      const rows = sql.get(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, device_id`).all();
      return (rows as DeviceRow[]).map(deviceFromRow);
    },

    async revokeDevice(input) {
      const { deviceId, reason } = parseInput(revokeDeviceInputSchema, input);
      return clinic.write(() => {
        const device = readDevice(clinic, deviceId);
        if (!device) throw new UnknownDeviceError('no such device in this clinic');
        if (device.revokedAt !== null) return device;
        sql
          .get('UPDATE devices SET revoked_at = ?, revoked_reason = ? WHERE device_id = ?')
          .run(clock.now(), reason, deviceId);
        return readDevice(clinic, deviceId)!;
      });
    },

    async isDeviceRevoked(deviceId) {
      if (!deviceIdSchema.safeParse(deviceId).success) return true;
      const row = sql.get('SELECT revoked_at FROM devices WHERE device_id = ?').get(deviceId) as
        { revoked_at: number | null } | undefined;
      return !row || row.revoked_at !== null;
    },
  };
}

/** Redeems a code of this clinic and registers its device in one transaction (see SyncStorage.redeemEnrollmentCode). */
export function redeemAndRegister(
  clinic: SqliteClinicDatabase,
  codeHash: string,
  device: { deviceId: string; name: string; publicKey: Uint8Array },
): Device {
  const { sql, clock } = clinic;
  return clinic.write(() => {
    const now = clock.now();
    const code = sql
      .get('SELECT code_id, expires_at, redeemed_at FROM enrollment_codes WHERE code_hash = ?')
      .get(codeHash) as { code_id: string; expires_at: number; redeemed_at: number | null } | undefined;
    if (!code) throw new EnrollmentCodeError('unknown');
    if (code.redeemed_at !== null) throw new EnrollmentCodeError('redeemed');
    if (now >= code.expires_at) throw new EnrollmentCodeError('expired');
    if (sql.get('SELECT 1 FROM devices WHERE device_id = ?').get(device.deviceId)) {
      throw new DuplicateDeviceError('this device id is already enrolled');
    }
    sql
      .get('UPDATE enrollment_codes SET redeemed_at = ?, redeemed_by_device = ? WHERE code_id = ?')
      .run(now, device.deviceId, code.code_id);
    sql
      .get(
        // One writer per clinic file: the next number taken inside this transaction cannot race.
        `INSERT INTO devices (device_id, name, public_key, enrollment_code_id, enrolled_at, device_number)
         VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(device_number), 0) + 1 FROM devices))`,
      )
      .run(device.deviceId, device.name, Buffer.from(device.publicKey), code.code_id, now);
    return readDevice(clinic, device.deviceId)!;
  });
}
