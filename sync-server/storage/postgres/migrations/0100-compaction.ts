import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/**
 * Change-log compaction (docs/sync-protocol.md, "Compaction"). `device_cursors` keeps the
 * highest `after` each device has pulled with: the app role may insert a cursor and raise it
 * (a trigger refuses lowering it), never delete it. `compacted_changes` keeps the idempotency
 * record of every change compaction removed, so a re-push of it is still answered with its
 * number: a log table (SELECT and INSERT only). The app role now has DELETE on `changes`, but a
 * trigger lets a row go only once its record is in `compacted_changes` under the same number and
 * id, which compaction writes first in the same transaction; the trigger runs as the app role,
 * so the clinic's row-level security applies to its lookup too. UPDATE and TRUNCATE stay
 * withheld.
 */
export const compactionMigration: PostgresMigration = {
  version: 100,
  name: 'compaction',
  async up(client, { appRole }) {
    await client.query(`
      CREATE TABLE ${SCHEMA}.device_cursors (
        ${CLINIC_ID_COLUMN},
        device_id text NOT NULL,
        pulled_after bigint NOT NULL CHECK (pulled_after >= 0),
        updated_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, device_id),
        FOREIGN KEY (clinic_id, device_id) REFERENCES ${SCHEMA}.devices (clinic_id, device_id)
      );
      ${tenantIsolation('device_cursors')}
      GRANT SELECT, INSERT ON ${SCHEMA}.device_cursors TO ${appRole};
      GRANT UPDATE (pulled_after, updated_at) ON ${SCHEMA}.device_cursors TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.device_cursor_only_advances() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.pulled_after <= OLD.pulled_after THEN
            RAISE EXCEPTION 'a pulled cursor only advances';
          END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER device_cursor_only_advances BEFORE UPDATE ON ${SCHEMA}.device_cursors
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.device_cursor_only_advances();

      CREATE TABLE ${SCHEMA}.compacted_changes (
        ${CLINIC_ID_COLUMN},
        server_seq bigint NOT NULL CHECK (server_seq >= 1),
        change_id text NOT NULL,
        device_id text NOT NULL,
        content_hash text NOT NULL CHECK (length(content_hash) = 64),
        compacted_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, server_seq),
        UNIQUE (clinic_id, change_id)
      );
      ${tenantIsolation('compacted_changes')}
      GRANT SELECT, INSERT ON ${SCHEMA}.compacted_changes TO ${appRole};

      GRANT DELETE ON ${SCHEMA}.changes TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.change_leaves_only_by_compaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT EXISTS (
            SELECT 1 FROM ${SCHEMA}.compacted_changes c
             WHERE c.clinic_id = OLD.clinic_id AND c.server_seq = OLD.server_seq AND c.change_id = OLD.change_id
          ) THEN
            RAISE EXCEPTION 'changes is append-only: a change leaves it only by compaction'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN OLD;
        END $$;
      CREATE TRIGGER change_leaves_only_by_compaction BEFORE DELETE ON ${SCHEMA}.changes
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.change_leaves_only_by_compaction();
    `);
  },
};
