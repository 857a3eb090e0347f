import type { SqliteMigration } from '../../migrate.js';
import { appendOnlyTriggers } from '../append-only.js';

/** Security events (refused chains, revoked devices' requests, enrollment failures), append-only. */
export const securityEventsMigration: SqliteMigration = {
  version: 40,
  name: 'security-events',
  up(db) {
    db.exec(`
      CREATE TABLE security_events (
        event_seq INTEGER PRIMARY KEY CHECK (event_seq >= 1),
        kind TEXT NOT NULL,
        device_id TEXT,
        user_id TEXT,
        details TEXT NOT NULL,
        occurred_at INTEGER NOT NULL
      ) STRICT;
      ${appendOnlyTriggers('security_events')}
    `);
  },
};
