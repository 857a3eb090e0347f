/**
 * The user directory on the embedded storage: roles and branch scopes, last writer wins by HLC,
 * in one clinic file.
 */
import { type DirectoryRow, directoryUserFromRow } from '../quarantine-rows.js';
import {
  type DirectoryLookup,
  type DirectoryUpdate,
  changeIdListSchema,
  directoryUpdateSchema,
  parseInput,
} from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
import type { UserDirectoryStore } from './user-directory-store.js';

/** The user directory of one clinic file. */
export function sqliteUserDirectory(clinic: SqliteClinicDatabase): UserDirectoryStore {
  const { sql, clock } = clinic;
  return {
    async readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup> {
      const ids = parseInput(changeIdListSchema, userIds);
      const rows = sql
        .get(
          `SELECT user_id, role, role_hlc, all_branches, branch_ids, signing_key, updated_at FROM user_directory
           WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id`,
        )
        .all(JSON.stringify(ids)) as DirectoryRow[];
      const size = (sql.get('SELECT count(*) AS n FROM user_directory').get() as { n: number }).n;
      return { users: rows.map(directoryUserFromRow), size };
    },

    async updateUserDirectory(input: DirectoryUpdate): Promise<void> {
      const entries = parseInput(directoryUpdateSchema, input);
      clinic.write(() => {
        const now = clock.now();
        const upsert = sql.get(
          `INSERT INTO user_directory (user_id, role, role_hlc, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, role_hlc = excluded.role_hlc, updated_at = excluded.updated_at
           WHERE excluded.role_hlc > user_directory.role_hlc`,
        );
        const allBranches = sql.get(
          `UPDATE user_directory SET all_branches = ?, all_branches_hlc = ?, updated_at = ?
           WHERE user_id = ? AND (all_branches_hlc IS NULL OR all_branches_hlc < ?)`,
        );
        const branchIds = sql.get(
          `UPDATE user_directory SET branch_ids = ?, branch_ids_hlc = ?, updated_at = ?
           WHERE user_id = ? AND (branch_ids_hlc IS NULL OR branch_ids_hlc < ?)`,
        );
        const signingKey = sql.get(
          `UPDATE user_directory SET signing_key = ?, signing_key_hlc = ?, updated_at = ?
           WHERE user_id = ? AND (signing_key_hlc IS NULL OR signing_key_hlc < ?)`,
        );
        // The role first: it creates the row the branch values are set on.
        for (const entry of entries) {
          if (entry.role !== undefined) upsert.run(entry.userId, entry.role, entry.roleHlc, now);
          if (entry.allBranches) {
            const { value, hlc } = entry.allBranches;
            allBranches.run(value ? 1 : 0, hlc, now, entry.userId, hlc);
          }
          if (entry.branchIds) {
            const { value, hlc } = entry.branchIds;
            branchIds.run(JSON.stringify(value), hlc, now, entry.userId, hlc);
          }
          if (entry.signingKey) {
            const { value, hlc } = entry.signingKey;
            signingKey.run(value, hlc, now, entry.userId, hlc);
          }
        }
      });
    },
  };
}
