/**
 * A device the sync server answered `DEVICE_REVOKED` locks itself (docs/sync-protocol.md,
 * "Revoked device lock"): it records the revocation with its audit entry in one
 * transaction, and from then on refuses sign-in and attempts no round. The caller ends every
 * open session. Nothing is deleted: the data stays in the encrypted database.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { ClinicState } from '../clinic-state.js';
import type { ReadDb } from '../db/access.js';

/** What a user is told when this device was revoked. */
export const DEVICE_REVOKED_MESSAGE =
  'This device was removed from the clinic by an administrator. Its data stays encrypted on this computer; ask your administrator.';

/** When this device learned it was revoked; null while it was not. */
export function readRevocation(db: ReadDb): { revokedAt: number } | null {
  const row = db.query<{ revoked_at: number }>('SELECT revoked_at FROM sync_revocation').get();
  return row ? { revokedAt: row.revoked_at } : null;
}

/**
 * Records the revocation and its audit entry (`sync.deviceRevoked`) in one transaction; true when
 * this call recorded it, false when it was already recorded (nothing is written twice).
 */
export function recordRevocation(clinic: ClinicState, audit: AuditLog, now: number, source: 'round' | 'live'): boolean {
  const db = clinic.db;
  const device = clinic.device;
  if (!db || !device) return false;
  db.setSynchronous('FULL');
  return db.transaction(() => {
    if (readRevocation(db)) return false;
    db.command('INSERT INTO sync_revocation (revoked_at) VALUES (?)').run([now]);
    // sync.status shows it, whichever path learned it (a round records its own error too).
    db.command("UPDATE sync_identity SET last_error = 'DEVICE_REVOKED'").run([]);
    audit.append(db, device, {
      userId: null,
      role: null,
      action: 'sync.deviceRevoked',
      entityType: 'clinic',
      entityId: null,
      outcome: 'success',
      purpose: 'administration',
      legalBasis: 'contract',
      details: { source },
    });
    return true;
  });
}
