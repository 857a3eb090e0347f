import type { Migration } from '../migrate.js';

/**
 * User-signed changes (docs/sync-protocol.md, "User-signed changes"). Each user gets a signing key
 * (`users.signing_key`: the Ed25519 public key and the private key wrapped under the user's
 * password, replicated like the password hash; null for users made before keys until they next
 * sign in). Each local transaction that recorded changes gets one signature, by the user whose
 * session made it, kept until the server accepted the transaction (outbox-pruning.ts).
 */
export const userSigningKeysMigration: Migration = {
  version: 160,
  name: 'user-signing-keys',
  up(db) {
    db.execScript(`
      ALTER TABLE users ADD COLUMN signing_key TEXT;
      CREATE TABLE sync_outbox_signatures (
        tx_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        signature TEXT NOT NULL
      ) STRICT;
    `);
  },
};
