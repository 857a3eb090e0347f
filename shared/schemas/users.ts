/** Users, branches and sessions as the API exposes them (never a password hash). */
import { z } from 'zod';
import { roleSchema } from '../permissions.js';
import { PASSWORD_MAX_LENGTH } from '../password-policy.js';
import { idSchema, instantSchema, textSchema } from './common.js';

export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{2,39}$/, 'use 3-40 letters, digits, dots, dashes or underscores');

/** A password as typed; the policy (length, blocklist, username) is checked in main. */
export const passwordInputSchema = z.string().min(1).max(PASSWORD_MAX_LENGTH);

export const branchSchema = z.strictObject({
  id: idSchema,
  name: textSchema(100),
  createdAt: instantSchema,
});
export type Branch = z.infer<typeof branchSchema>;

export const userSummarySchema = z.strictObject({
  id: idSchema,
  username: z.string(),
  displayName: z.string(),
  role: roleSchema,
  allBranches: z.boolean(),
  branchIds: z.array(idSchema),
  disabled: z.boolean(),
  lockedUntil: instantSchema.nullable(),
  /** True when only an Admin can unlock the account (the last lockout step). */
  lockedUntilAdminUnlock: z.boolean(),
  createdAt: instantSchema,
});
export type UserSummary = z.infer<typeof userSummarySchema>;

/** Who the session belongs to, as the renderer may know it. */
export const sessionUserSchema = z.strictObject({
  id: idSchema,
  username: z.string(),
  displayName: z.string(),
  role: roleSchema,
  allBranches: z.boolean(),
  branchIds: z.array(idSchema),
});
export type SessionUser = z.infer<typeof sessionUserSchema>;
