import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/**
 * Device audit chains and the clinic's Merkle log: chain heads per device and epoch (which only
 * advance), accepted entries, leaf hashes by index, signed checkpoints. Entries, leaves and
 * checkpoints are log tables: insert and read only for the app role.
 */
export const auditLogMigration: PostgresMigration = {
  version: 30,
  name: 'audit-log',
  async up(client, { appRole }) {
    await client.query(`
      CREATE TABLE ${SCHEMA}.audit_heads (
        ${CLINIC_ID_COLUMN},
        device_id text NOT NULL,
        epoch integer NOT NULL CHECK (epoch >= 1),
        head_seq bigint NOT NULL CHECK (head_seq >= 1),
        head_hash text NOT NULL CHECK (length(head_hash) = 64),
        updated_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, device_id, epoch),
        FOREIGN KEY (clinic_id, device_id) REFERENCES ${SCHEMA}.devices (clinic_id, device_id)
      );
      ${tenantIsolation('audit_heads')}
      GRANT SELECT, INSERT ON ${SCHEMA}.audit_heads TO ${appRole};
      GRANT UPDATE (head_seq, head_hash, updated_at) ON ${SCHEMA}.audit_heads TO ${appRole};
      CREATE FUNCTION ${SCHEMA}.audit_head_only_advances() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.head_seq <= OLD.head_seq THEN RAISE EXCEPTION 'an audit chain head only advances'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER audit_head_only_advances BEFORE UPDATE ON ${SCHEMA}.audit_heads
        FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.audit_head_only_advances();

      CREATE TABLE ${SCHEMA}.audit_leaves (
        ${CLINIC_ID_COLUMN},
        leaf_index bigint NOT NULL CHECK (leaf_index >= 0),
        leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
        PRIMARY KEY (clinic_id, leaf_index)
      );
      ${tenantIsolation('audit_leaves')}
      GRANT SELECT, INSERT ON ${SCHEMA}.audit_leaves TO ${appRole};

      CREATE TABLE ${SCHEMA}.audit_entries (
        ${CLINIC_ID_COLUMN},
        device_id text NOT NULL,
        epoch integer NOT NULL,
        seq bigint NOT NULL CHECK (seq >= 1),
        body text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        device_time bigint NOT NULL,
        received_at bigint NOT NULL,
        leaf_index bigint NOT NULL,
        PRIMARY KEY (clinic_id, device_id, epoch, seq),
        UNIQUE (clinic_id, leaf_index),
        FOREIGN KEY (clinic_id, device_id) REFERENCES ${SCHEMA}.devices (clinic_id, device_id),
        FOREIGN KEY (clinic_id, leaf_index) REFERENCES ${SCHEMA}.audit_leaves (clinic_id, leaf_index)
      );
      ${tenantIsolation('audit_entries')}
      GRANT SELECT, INSERT ON ${SCHEMA}.audit_entries TO ${appRole};

      CREATE TABLE ${SCHEMA}.audit_checkpoints (
        ${CLINIC_ID_COLUMN},
        tree_size bigint NOT NULL CHECK (tree_size >= 0),
        root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
        note text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, tree_size)
      );
      ${tenantIsolation('audit_checkpoints')}
      GRANT SELECT, INSERT ON ${SCHEMA}.audit_checkpoints TO ${appRole};
    `);
  },
};
