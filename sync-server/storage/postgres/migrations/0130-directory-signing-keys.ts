import { SCHEMA, type PostgresMigration } from '../migrate.js';

/**
 * User-signed changes (docs/sync-protocol.md, "User-signed changes"): the user directory keeps
 * each user's Ed25519 public key (base64), last writer wins by its own HLC, from accepted user
 * changes; null for a user made before signing keys.
 */
export const directorySigningKeysMigration: PostgresMigration = {
  version: 130,
  name: 'directory-signing-keys',
  async up(client, { appRole }) {
    await client.query(`
      ALTER TABLE ${SCHEMA}.user_directory
        ADD COLUMN signing_key text,
        ADD COLUMN signing_key_hlc text COLLATE "C";
      GRANT UPDATE (signing_key, signing_key_hlc) ON ${SCHEMA}.user_directory TO ${appRole};
    `);
  },
};
