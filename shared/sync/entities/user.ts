/**
 * The clinic's users (table users). The bcrypt hash replicates so users sign in on every device
 * of the clinic; failed attempts and lockout state stay local to the device they happened on.
 */
import { z } from 'zod';
import { roleSchema } from '../../permissions.js';
import { idSchema, instantSchema, textSchema } from '../../schemas/common.js';
import { usernameSchema } from '../../schemas/users.js';
import { type EntityDeclaration, jsonText, zeroOrOne } from './declaration.js';
import { userSigningKeySchema } from './user-signing-key.js';

/** A bcrypt hash as bcryptjs writes it. */
const bcryptHashSchema = z.string().regex(/^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$/, 'not a bcrypt hash');

/** A user's branch ids: sorted, distinct, at most 200 (the server's directory holds them). */
export const branchIdListSchema = z
  .array(idSchema)
  .max(200)
  .refine((ids) => ids.every((id, i) => i === 0 || ids[i - 1]! < id), 'not a sorted list of distinct ids');

/**
 * Fields a user may change on their own row without users.manage: a password change, which
 * re-wraps their signing key under the new password. Only an Admin issues a user a new key: the
 * server refuses a self-service change that replaces the public key (sync-server/sync/validate-batch.ts).
 */
const SELF_SERVICE_FIELDS: ReadonlySet<string> = new Set(['password_hash', 'password_changed_at', 'signing_key']);

export const userEntity = {
  kind: 'mutable',
  table: 'users',
  key: 'id',
  fields: {
    username: { value: usernameSchema, words: 'Username' },
    display_name: { value: textSchema(100), words: 'Name' },
    role: { value: roleSchema, words: 'Role' },
    all_branches: { value: zeroOrOne, words: 'All branches' },
    disabled: { value: zeroOrOne, words: 'Disabled' },
    password_hash: { value: bcryptHashSchema, words: 'Password' },
    password_changed_at: { value: instantSchema, words: 'Password changed' },
    created_at: { value: instantSchema, words: 'Created' },
    // The user's branch assignments (table user_branches), as one field: the canonical JSON text
    // of the sorted branch id list ('[]' for all-branches users), so an assignment changes as a
    // whole under last-writer-wins like a medical list. Absent from changes of older versions.
    branch_ids: { value: jsonText(branchIdListSchema), words: 'Branches', addedLater: true, column: false },
    // The user's Ed25519 public key and password-wrapped private key (user-signing-key.ts): every
    // batch the user's sessions record is signed with it. Absent from users made before keys.
    signing_key: { value: jsonText(userSigningKeySchema), words: 'Signing key', addedLater: true },
  },
  localStamp: 'at',
  appliedOnDevices: true,
  writePermissions: (change) =>
    change.op === 'update' &&
    change.rowId === change.userId &&
    Object.keys(change.fields).every((field) => SELF_SERVICE_FIELDS.has(field))
      ? ['session.self']
      : ['users.manage'],
  branch: { kind: 'clinic' },
  words: 'User',
  retention: 'account',
  upload: { order: 0 },
} as const satisfies EntityDeclaration;
