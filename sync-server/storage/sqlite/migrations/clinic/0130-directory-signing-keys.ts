import type { SqliteMigration } from '../../migrate.js';

/**
 * User-signed changes (docs/sync-protocol.md, "User-signed changes"): the user directory keeps
 * each user's Ed25519 public key (base64), last writer wins by its own HLC, from accepted user
 * changes; null for a user made before signing keys.
 */
export const directorySigningKeysMigration: SqliteMigration = {
  version: 130,
  name: 'directory-signing-keys',
  up(db) {
    db.exec(`
      ALTER TABLE user_directory ADD COLUMN signing_key TEXT;
      ALTER TABLE user_directory ADD COLUMN signing_key_hlc TEXT;
    `);
  },
};
