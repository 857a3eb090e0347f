import type { PostgresMigration } from '../migrate.js';

/** The schema of the state the unauthenticated endpoints share across server processes. */
export const AUTH_SCHEMA = 'chairside_auth';
/** The table of the brute-force limiters (rate-limiter-flexible's RateLimiterPostgres layout). */
export const RATE_LIMIT_TABLE = 'rate_limits';

/**
 * State that enrollment and token requests share across every server process on this database:
 * the nonces of answered challenges (single use everywhere, not only in the process that saw
 * them) and the brute-force counters. Its own schema, outside the tenant tables: it comes before
 * any clinic is authenticated, holds only random nonces, counters and their keys (a source
 * address or a clinic id), and no clinic's data, so clinic row-level security has nothing to bind.
 * The app role may insert and purge rows here; the rate-limit table is the layout
 * RateLimiterPostgres expects (created here, since the app role may create no table).
 */
export const authStateMigration: PostgresMigration = {
  version: 80,
  name: 'auth-state',
  async up(client, { appRole }) {
    await client.query(`
      CREATE SCHEMA ${AUTH_SCHEMA};
      REVOKE ALL ON SCHEMA ${AUTH_SCHEMA} FROM PUBLIC;
      GRANT USAGE ON SCHEMA ${AUTH_SCHEMA} TO ${appRole};

      CREATE TABLE ${AUTH_SCHEMA}.used_challenge_nonces (
        nonce text PRIMARY KEY CHECK (length(nonce) BETWEEN 1 AND 64),
        expires_at bigint NOT NULL
      );
      CREATE INDEX used_challenge_nonces_by_expiry ON ${AUTH_SCHEMA}.used_challenge_nonces (expires_at);
      GRANT SELECT, INSERT, DELETE ON ${AUTH_SCHEMA}.used_challenge_nonces TO ${appRole};

      CREATE TABLE ${AUTH_SCHEMA}.${RATE_LIMIT_TABLE} (
        key varchar(255) PRIMARY KEY,
        points integer NOT NULL DEFAULT 0,
        expire bigint
      );
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${AUTH_SCHEMA}.${RATE_LIMIT_TABLE} TO ${appRole};
    `);
  },
};
