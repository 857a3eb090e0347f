import type { SqliteMigration } from '../../migrate.js';

/**
 * Branch scope (docs/sync-protocol.md, "Branch scope"). The user directory also keeps each user's
 * `all_branches` and branch ids (JSON text), each last writer wins by its own HLC, from accepted
 * user changes; null while no change carried them. The directory trigger now lets a row change
 * when any of its clocks advances and refuses any clock moving back (or a value changing under
 * the same clock). Re-validation reads a patient's branch from the change log, so patient
 * changes get an index of their own (partial: other entities' appends do not pay for it).
 */
export const directoryBranchesMigration: SqliteMigration = {
  version: 80,
  name: 'directory-branches',
  up(db) {
    db.exec(`
      ALTER TABLE user_directory ADD COLUMN all_branches INTEGER CHECK (all_branches IN (0, 1));
      ALTER TABLE user_directory ADD COLUMN all_branches_hlc TEXT;
      ALTER TABLE user_directory ADD COLUMN branch_ids TEXT CHECK (branch_ids IS NULL OR json_valid(branch_ids));
      ALTER TABLE user_directory ADD COLUMN branch_ids_hlc TEXT;
      DROP TRIGGER user_directory_only_advances;
      CREATE TRIGGER user_directory_only_advances BEFORE UPDATE ON user_directory
        WHEN NEW.user_id <> OLD.user_id
          OR NEW.role_hlc < OLD.role_hlc OR (NEW.role_hlc = OLD.role_hlc AND NEW.role <> OLD.role)
          OR (OLD.all_branches_hlc IS NOT NULL AND (NEW.all_branches_hlc IS NULL
              OR NEW.all_branches_hlc < OLD.all_branches_hlc
              OR (NEW.all_branches_hlc = OLD.all_branches_hlc AND NEW.all_branches IS NOT OLD.all_branches)))
          OR (OLD.branch_ids_hlc IS NOT NULL AND (NEW.branch_ids_hlc IS NULL
              OR NEW.branch_ids_hlc < OLD.branch_ids_hlc
              OR (NEW.branch_ids_hlc = OLD.branch_ids_hlc AND NEW.branch_ids IS NOT OLD.branch_ids)))
        BEGIN SELECT RAISE(ABORT, 'a directory value only moves to a higher clock'); END;
      CREATE INDEX changes_patient_rows ON changes (row_id) WHERE entity = 'patient';
    `);
  },
};
