/**
 * Patient numbers that never collide between devices of one clinic (docs/sync-protocol.md,
 * "Domain conflicts"). Device 1, and a clinic never connected to a server (its founding device),
 * issues `P000001`, `P000002`...; device n >= 2 issues `P{n}-000001`, `P{n}-000002`... from a
 * counter of its own. The device number comes from the server at enrollment
 * (sync_identity.device_number) and the server refuses a pushed number outside the pushing
 * device's space (sync-server/sync/validate-batch.ts).
 */
import type { ReadDb, WriteDb } from '../db/access.js';

/** This device's number in its clinic: 1 when never connected (the founding device). */
export function deviceNumberOf(db: ReadDb): number {
  const row = db.query<{ device_number: number | null }>('SELECT device_number FROM sync_identity').get();
  return row?.device_number ?? 1;
}

/** The patient number for a counter value on device `deviceNumber`. */
export function formatPatientNumber(deviceNumber: number, value: number): string {
  const serial = String(value).padStart(6, '0');
  return deviceNumber === 1 ? `P${serial}` : `P${deviceNumber}-${serial}`;
}

/** The next patient number of this device. */
export function allocatePatientNumber(db: WriteDb): string {
  const deviceNumber = deviceNumberOf(db);
  // Device 1 continues the counter a clinic used before it connected; other devices count apart.
  const counter = deviceNumber === 1 ? 'patient_number' : 'device_patient_number';
  db.command(
    `INSERT INTO counters (name, value) VALUES (?, 1)
     ON CONFLICT (name) DO UPDATE SET value = value + 1`,
  ).run([counter]);
  const { value } = db.query<{ value: number }>('SELECT value FROM counters WHERE name = ?').get([counter])!;
  return formatPatientNumber(deviceNumber, value);
}
