import { SCHEMA, type PostgresMigration } from '../migrate.js';

/**
 * Branch scope (docs/sync-protocol.md, "Branch scope"). The user directory also keeps each user's
 * `all_branches` and branch ids (JSON text), each last writer wins by its own HLC, from accepted
 * user changes; null while no change carried them. The directory trigger now lets a row change
 * when any of its clocks advances and refuses any clock moving back (or a value changing under
 * the same clock). Re-validation reads a patient's branch from the change log, so patient
 * changes get an index of their own (partial: other entities' appends do not pay for it).
 */
export const directoryBranchesMigration: PostgresMigration = {
  version: 90,
  name: 'directory-branches',
  async up(client, { appRole }) {
    await client.query(`
      ALTER TABLE ${SCHEMA}.user_directory
        ADD COLUMN all_branches boolean,
        ADD COLUMN all_branches_hlc text COLLATE "C",
        ADD COLUMN branch_ids text CHECK (branch_ids IS NULL OR branch_ids::jsonb IS NOT NULL),
        ADD COLUMN branch_ids_hlc text COLLATE "C";
      GRANT UPDATE (all_branches, all_branches_hlc, branch_ids, branch_ids_hlc) ON ${SCHEMA}.user_directory
        TO ${appRole};
      CREATE OR REPLACE FUNCTION ${SCHEMA}.user_directory_only_advances() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.role_hlc < OLD.role_hlc OR (NEW.role_hlc = OLD.role_hlc AND NEW.role <> OLD.role)
             OR (OLD.all_branches_hlc IS NOT NULL AND (NEW.all_branches_hlc IS NULL
                 OR NEW.all_branches_hlc < OLD.all_branches_hlc
                 OR (NEW.all_branches_hlc = OLD.all_branches_hlc AND NEW.all_branches IS DISTINCT FROM OLD.all_branches)))
             OR (OLD.branch_ids_hlc IS NOT NULL AND (NEW.branch_ids_hlc IS NULL
                 OR NEW.branch_ids_hlc < OLD.branch_ids_hlc
                 OR (NEW.branch_ids_hlc = OLD.branch_ids_hlc AND NEW.branch_ids IS DISTINCT FROM OLD.branch_ids))) THEN
            RAISE EXCEPTION 'a directory value only moves to a higher clock';
          END IF;
          RETURN NEW;
        END $$;
      CREATE INDEX changes_patient_rows ON ${SCHEMA}.changes (clinic_id, row_id) WHERE entity = 'patient';
    `);
  },
};
