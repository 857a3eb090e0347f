import { SCHEMA, type PostgresMigration } from '../migrate.js';
import { CLINIC_ID_COLUMN, tenantIsolation } from './tenant-table.js';

/** Security events, numbered per clinic by the `security_events` counter; a log table. */
export const securityEventsMigration: PostgresMigration = {
  version: 40,
  name: 'security-events',
  async up(client, { appRole }) {
    await client.query(`
      CREATE TABLE ${SCHEMA}.security_events (
        ${CLINIC_ID_COLUMN},
        event_seq bigint NOT NULL CHECK (event_seq >= 1),
        kind text NOT NULL,
        device_id text,
        user_id text,
        details text NOT NULL,
        occurred_at bigint NOT NULL,
        PRIMARY KEY (clinic_id, event_seq)
      );
      ${tenantIsolation('security_events')}
      GRANT SELECT, INSERT ON ${SCHEMA}.security_events TO ${appRole};
    `);
  },
};
