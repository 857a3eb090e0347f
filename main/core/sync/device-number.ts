/**
 * The number the sync server gives this device at enrollment, kept in sync_identity beside the
 * device's other sync state; the patients domain numbers its patients in that device's space
 * (patients/patient-number.ts reads it).
 */
import type { WriteDb } from '../db/access.js';

/** Records the number the server gave this device at enrollment (after the sync_identity row is written). */
export function storeDeviceNumber(db: WriteDb, deviceNumber: number): void {
  db.command('UPDATE sync_identity SET device_number = ?').run([deviceNumber]);
}
