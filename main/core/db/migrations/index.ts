/** Every schema step this app ships, in order. Append only; never edit a released step. */
import type { Migration } from '../migrate.js';
import { clinicMigration } from './0010-clinic.js';
import { usersMigration } from './0020-users.js';
import { auditMigration } from './0030-audit.js';
import { patientsMigration } from './0040-patients.js';
import { syncOutboxMigration } from './0050-sync-outbox.js';
import { syncEngineMigration } from './0060-sync-engine.js';
import { domainConflictsMigration } from './0070-domain-conflicts.js';
import { deviceRevocationMigration } from './0080-device-revocation.js';
import { auditPushMigration } from './0090-audit-push.js';
import { pendingUserBranchesMigration } from './0100-pending-user-branches.js';
import { branchNamesMigration } from './0110-branch-names.js';
import { insertClocksMigration } from './0120-insert-clocks.js';
import { outboxPruningMigration } from './0140-outbox-pruning.js';
import { userSigningKeysMigration } from './0160-user-signing-keys.js';
import { patientSearchPhoneSuffixMigration } from './0170-patient-search-phone-suffix.js';

export const migrations: readonly Migration[] = [
  clinicMigration,
  usersMigration,
  auditMigration,
  patientsMigration,
  syncOutboxMigration,
  syncEngineMigration,
  domainConflictsMigration,
  deviceRevocationMigration,
  auditPushMigration,
  pendingUserBranchesMigration,
  branchNamesMigration,
  insertClocksMigration,
  outboxPruningMigration,
  userSigningKeysMigration,
  patientSearchPhoneSuffixMigration,
];
