/** Every schema step of the PostgreSQL storage, in order. Append only; never edit a released step. */
import type { PostgresMigration } from '../migrate.js';
import { clinicsMigration } from './0010-clinics.js';
import { changesMigration } from './0020-changes.js';
import { auditLogMigration } from './0030-audit-log.js';
import { securityEventsMigration } from './0040-security-events.js';
import { quarantineMigration } from './0050-quarantine.js';
import { deviceNumbersMigration } from './0070-device-numbers.js';
import { authStateMigration } from './0080-auth-state.js';
import { directoryBranchesMigration } from './0090-directory-branches.js';
import { compactionMigration } from './0100-compaction.js';
import { directorySigningKeysMigration } from './0130-directory-signing-keys.js';
import { clinicDataKeysMigration } from './0110-clinic-data-keys.js';

export const postgresMigrations: readonly PostgresMigration[] = [
  clinicsMigration,
  changesMigration,
  auditLogMigration,
  securityEventsMigration,
  quarantineMigration,
  deviceNumbersMigration,
  authStateMigration,
  directoryBranchesMigration,
  compactionMigration,
  clinicDataKeysMigration,
  directorySigningKeysMigration,
];

/** The tables the app role works with; every one carries clinic_id under forced row-level security. */
export const TENANT_TABLES = [
  'clinics',
  'clinic_counters',
  'enrollment_codes',
  'devices',
  'changes',
  'audit_heads',
  'audit_leaves',
  'audit_entries',
  'audit_checkpoints',
  'security_events',
  'quarantined_changes',
  'user_directory',
  'device_cursors',
  'compacted_changes',
] as const;

/**
 * The append-only log tables: the app role has INSERT and SELECT on them, and no UPDATE. The one
 * DELETE granted, on `changes`, is guarded by a trigger: only compaction may remove a change
 * (migration 0100).
 */
export const LOG_TABLES = [
  'changes',
  'audit_leaves',
  'audit_entries',
  'audit_checkpoints',
  'security_events',
  'quarantined_changes',
  'compacted_changes',
] as const;
