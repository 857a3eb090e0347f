/** Every schema step of a clinic file, in order. Append only; never edit a released step. */
import type { SqliteMigration } from '../../migrate.js';
import { clinicMigration } from './0010-clinic.js';
import { changesMigration } from './0020-changes.js';
import { auditLogMigration } from './0030-audit-log.js';
import { securityEventsMigration } from './0040-security-events.js';
import { quarantineMigration } from './0050-quarantine.js';
import { deviceNumbersMigration } from './0070-device-numbers.js';
import { directoryBranchesMigration } from './0080-directory-branches.js';
import { compactionMigration } from './0090-compaction.js';
import { directorySigningKeysMigration } from './0130-directory-signing-keys.js';

export const clinicMigrations: readonly SqliteMigration[] = [
  clinicMigration,
  changesMigration,
  auditLogMigration,
  securityEventsMigration,
  quarantineMigration,
  deviceNumbersMigration,
  directoryBranchesMigration,
  compactionMigration,
  directorySigningKeysMigration,
];
