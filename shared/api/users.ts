/** Users, roles and branch assignment (Admin only; changes need a fresh re-authentication). */
import { z } from 'zod';
import { roleSchema } from '../permissions.js';
import { idSchema, textSchema } from '../schemas/common.js';
import { passwordInputSchema, userSummarySchema, usernameSchema } from '../schemas/users.js';
import { defineChannel } from './channel.js';

const userAudit = { entityType: 'user', purpose: 'administration', legalBasis: 'security' } as const;

export const usersList = defineChannel({
  name: 'users.list',
  summary: 'Lists the clinic users with role, branches and lock state.',
  input: z.strictObject({}),
  output: z.strictObject({ users: z.array(userSummarySchema) }),
  permission: 'users.read',
  writes: false,
  audit: { action: 'users.list', ...userAudit },
});

export const usersCreate = defineChannel({
  name: 'users.create',
  summary: 'Creates a user with a role and branch scope.',
  input: z.strictObject({
    username: usernameSchema,
    displayName: textSchema(100),
    role: roleSchema,
    allBranches: z.boolean().default(false),
    branchIds: z.array(idSchema).max(100).default([]),
    password: passwordInputSchema,
  }),
  output: userSummarySchema,
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: { action: 'users.create', ...userAudit },
});

export const usersUpdate = defineChannel({
  name: 'users.update',
  summary: "Changes a user's name, role, branch scope or disabled flag; disabling ends their sessions.",
  input: z.strictObject({
    userId: idSchema,
    displayName: textSchema(100).optional(),
    role: roleSchema.optional(),
    allBranches: z.boolean().optional(),
    branchIds: z.array(idSchema).max(100).optional(),
    disabled: z.boolean().optional(),
  }),
  output: userSummarySchema,
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: { action: 'users.update', ...userAudit },
});

export const usersResetPassword = defineChannel({
  name: 'users.resetPassword',
  summary: "Sets a new password for a user (Admin reset); ends all that user's sessions.",
  input: z.strictObject({ userId: idSchema, newPassword: passwordInputSchema }),
  output: z.strictObject({ reset: z.literal(true), sessionsEnded: z.number().int() }),
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: { action: 'users.resetPassword', ...userAudit },
});

export const usersUnlock = defineChannel({
  name: 'users.unlock',
  summary: 'Lifts a sign-in lockout.',
  input: z.strictObject({ userId: idSchema }),
  output: userSummarySchema,
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: { action: 'users.unlock', ...userAudit },
});
