/**
 * The user directory on PostgreSQL: roles and branch scopes, last writer wins by HLC.
 */
import type { PostgresClinicContext } from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
import { type DirectoryRow, directoryUserFromRow } from '../quarantine-rows.js';
import {
  type DirectoryLookup,
  type DirectoryUpdate,
  changeIdListSchema,
  directoryUpdateSchema,
  parseInput,
} from '../records.js';
import type { UserDirectoryStore } from './user-directory-store.js';

/** The directory area of one clinic. */
export function postgresUserDirectory({ run, clock }: PostgresClinicContext): UserDirectoryStore {
  return {
    async readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup> {
      const ids = parseInput(changeIdListSchema, userIds);
      return run(async (client) => {
        const rows = (
          await client.query<DirectoryRow>(
            `SELECT user_id, role, role_hlc, all_branches, branch_ids, signing_key, updated_at FROM ${SCHEMA}.user_directory
              WHERE user_id = ANY($1::text[]) ORDER BY user_id`,
            [ids],
          )
        ).rows;
        const size = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.user_directory`))
          .rows[0]!.n;
        return { users: rows.map(directoryUserFromRow), size };
      });
    },

    async updateUserDirectory(input: DirectoryUpdate): Promise<void> {
      const entries = parseInput(directoryUpdateSchema, input);
      await run(async (client) => {
        const now = clock.now();
        // The role first: it creates the row the branch values are set on.
        for (const entry of entries) {
          if (entry.role !== undefined) {
            await client.query(
              `INSERT INTO ${SCHEMA}.user_directory (user_id, role, role_hlc, updated_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (clinic_id, user_id) DO UPDATE
                 SET role = excluded.role, role_hlc = excluded.role_hlc, updated_at = excluded.updated_at
                 WHERE excluded.role_hlc > ${SCHEMA}.user_directory.role_hlc`,
              [entry.userId, entry.role, entry.roleHlc, now],
            );
          }
          if (entry.allBranches) {
            await client.query(
              `UPDATE ${SCHEMA}.user_directory SET all_branches = $1, all_branches_hlc = $2, updated_at = $3
                WHERE user_id = $4 AND (all_branches_hlc IS NULL OR all_branches_hlc < $2)`,
              [entry.allBranches.value, entry.allBranches.hlc, now, entry.userId],
            );
          }
          if (entry.branchIds) {
            await client.query(
              `UPDATE ${SCHEMA}.user_directory SET branch_ids = $1, branch_ids_hlc = $2, updated_at = $3
                WHERE user_id = $4 AND (branch_ids_hlc IS NULL OR branch_ids_hlc < $2)`,
              [JSON.stringify(entry.branchIds.value), entry.branchIds.hlc, now, entry.userId],
            );
          }
          if (entry.signingKey) {
            await client.query(
              `UPDATE ${SCHEMA}.user_directory SET signing_key = $1, signing_key_hlc = $2, updated_at = $3
                WHERE user_id = $4 AND (signing_key_hlc IS NULL OR signing_key_hlc < $2)`,
              [entry.signingKey.value, entry.signingKey.hlc, now, entry.userId],
            );
          }
        }
      });
    },
  };
}
