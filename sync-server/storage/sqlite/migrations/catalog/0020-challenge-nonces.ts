import type { SqliteMigration } from '../../migrate.js';

/**
 * Nonces of answered device-auth challenges, so a captured answer cannot be traded for a second
 * token (SyncStorage.consumeChallengeNonce). In the catalog: the nonce is checked before any
 * clinic file needs opening, and it holds no clinic data. Rows past their expiry are purged.
 */
export const challengeNoncesMigration: SqliteMigration = {
  version: 20,
  name: 'challenge-nonces',
  up(db) {
    db.exec(`
      CREATE TABLE used_challenge_nonces (
        nonce TEXT PRIMARY KEY CHECK (length(nonce) BETWEEN 1 AND 64),
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX used_challenge_nonces_by_expiry ON used_challenge_nonces (expires_at);
    `);
  },
};
