import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/**
 * Replicated changes: numbered per clinic by the `changes` counter row (the pull cursor),
 * unique per clinic by change id (idempotent push). A log table: the app role may insert and
 * read, never update or delete.
 */
export const changesMigration: PostgresMigration = {
  version: 20,
  name: 'changes',
  async up(client, { appRole }) {
    await client.query(`
      CREATE TABLE ${SCHEMA}.changes (
        ${CLINIC_ID_COLUMN},
        server_seq bigint NOT NULL CHECK (server_seq >= 1),
        change_id text NOT NULL,
        tx_id text NOT NULL,
        device_id text NOT NULL,
        user_id text NOT NULL,
        entity text NOT NULL,
        row_id text NOT NULL,
        op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
        fields text NOT NULL,
        hlc text NOT NULL,
        schema_version integer NOT NULL,
        content_hash text NOT NULL CHECK (length(content_hash) = 64),
        received_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, server_seq),
        UNIQUE (clinic_id, change_id),
        FOREIGN KEY (clinic_id, device_id) REFERENCES ${SCHEMA}.devices (clinic_id, device_id)
      );
      ${tenantIsolation('changes')}
      GRANT SELECT, INSERT ON ${SCHEMA}.changes TO ${appRole};
    `);
  },
};
