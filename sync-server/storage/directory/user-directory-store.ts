/**
 * The user directory of one clinic: each user's role and branch scope as the change log set them
 * (last writer wins by HLC), read by re-validation on every push. Implemented by
 * user-directory-sqlite.ts and user-directory-postgres.ts.
 */
import type { DirectoryLookup, DirectoryUpdate } from '../records.js';

/** A clinic's user directory; part of ClinicStore (storage.ts). */
export interface UserDirectoryStore {
  /** The directory entries of these users, and the number of users the directory holds. */
  readUserDirectory(userIds: readonly string[]): Promise<DirectoryLookup>;
  /**
   * Sets users' roles and branch scope (all branches, branch ids); each value replaces the stored
   * one only when its HLC is higher (last writer wins). An entry without a role only updates a
   * user the directory has.
   */
  updateUserDirectory(entries: DirectoryUpdate): Promise<void>;
}
