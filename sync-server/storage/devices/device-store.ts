/**
 * A clinic's own record, its enrollment codes and its devices (enrollment, revocation). The
 * operations that come before a clinic is known (redeeming a code, consuming a challenge nonce)
 * are on SyncStorage; their implementations sit beside these (device-sqlite.ts, device-postgres.ts).
 */
import type {
  Clinic,
  CreateEnrollmentCodeInput,
  CreatedEnrollmentCode,
  Device,
  EnrollmentCodeRecord,
  RevokeDeviceInput,
} from '../records.js';

/** A clinic's record, enrollment codes and devices; part of ClinicStore (storage.ts). */
export interface DeviceStore {
  /** The clinic's own record. */
  getClinic(): Promise<Clinic>;

  /** Makes a one-time code valid for `ttlMs`; only its SHA-256 is stored. */
  createEnrollmentCode(input: CreateEnrollmentCodeInput): Promise<CreatedEnrollmentCode>;
  /** The clinic's enrollment codes (without the codes), oldest first. */
  listEnrollmentCodes(): Promise<EnrollmentCodeRecord[]>;

  /** The device, or null when this clinic has no device with this id. */
  getDevice(deviceId: string): Promise<Device | null>;
  /** The clinic's devices, in enrollment order. */
  listDevices(): Promise<Device[]>;
  /** Revokes a device for good (revoking again keeps the first revocation); UnknownDeviceError otherwise. */
  revokeDevice(input: RevokeDeviceInput): Promise<Device>;
  /** True when the device is revoked, or unknown to this clinic (fail closed). */
  isDeviceRevoked(deviceId: string): Promise<boolean>;
}
