/** Every schema step of the catalog file, in order. Append only; never edit a released step. */
import type { SqliteMigration } from '../../migrate.js';
import { catalogMigration } from './0010-catalog.js';
import { challengeNoncesMigration } from './0020-challenge-nonces.js';

export const catalogMigrations: readonly SqliteMigration[] = [catalogMigration, challengeNoncesMigration];
