import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/**
 * Quarantined changes (refused for good, never in the change log; a log table, unique per clinic
 * by change id, identity and reason only, never field values) and the user directory (each
 * user's role, last writer wins by HLC; the app role may update the role only to a higher clock).
 */
export const quarantineMigration: PostgresMigration = {
  version: 50,
  name: 'quarantine',
  async up(client, { appRole }) {
    await client.query(`
      CREATE TABLE ${SCHEMA}.quarantined_changes (
        ${CLINIC_ID_COLUMN},
        quarantine_seq bigserial NOT NULL,
        change_id text NOT NULL,
        tx_id text NOT NULL,
        device_id text NOT NULL,
        user_id text NOT NULL,
        entity text NOT NULL,
        row_id text NOT NULL,
        op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
        hlc text NOT NULL,
        reason text NOT NULL,
        detail text NOT NULL,
        content_hash text NOT NULL CHECK (length(content_hash) = 64),
        quarantined_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, quarantine_seq),
        UNIQUE (clinic_id, change_id),
        FOREIGN KEY (clinic_id, device_id) REFERENCES ${SCHEMA}.devices (clinic_id, device_id)
      );
      CREATE INDEX quarantined_changes_device ON ${SCHEMA}.quarantined_changes (clinic_id, device_id, quarantine_seq);
      ${tenantIsolation('quarantined_changes')}
      GRANT SELECT, INSERT ON ${SCHEMA}.quarantined_changes TO ${appRole};
      GRANT USAGE ON SEQUENCE ${SCHEMA}.quarantined_changes_quarantine_seq_seq TO ${appRole};

      CREATE TABLE ${SCHEMA}.user_directory (
        ${CLINIC_ID_COLUMN},
        user_id text NOT NULL,
        role text NOT NULL CHECK (role IN ('Admin', 'Dentist', 'Receptionist', 'Staff')),
        role_hlc text COLLATE "C" NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, user_id)
      );
      ${tenantIsolation('user_directory')}
      GRANT SELECT, INSERT ON ${SCHEMA}.user_directory TO ${appRole};
      GRANT UPDATE (role, role_hlc, updated_at) ON ${SCHEMA}.user_directory TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.user_directory_only_advances() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.role_hlc <= OLD.role_hlc THEN
            RAISE EXCEPTION 'a directory role only moves to a higher clock';
          END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER user_directory_only_advances BEFORE UPDATE ON ${SCHEMA}.user_directory
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.user_directory_only_advances();
    `);
  },
};
