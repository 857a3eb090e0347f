/** Branches of the clinic. */
import { z } from 'zod';
import { textSchema } from '../schemas/common.js';
import { branchSchema } from '../schemas/users.js';
import { defineChannel } from './channel.js';

export const branchesList = defineChannel({
  name: 'branches.list',
  summary: 'Lists the branches the caller may work in (every branch for all-branch users).',
  input: z.strictObject({}),
  output: z.strictObject({ branches: z.array(branchSchema) }),
  permission: 'branches.read',
  writes: false,
  audit: { action: 'branches.list', entityType: 'branch', purpose: 'administration', legalBasis: 'contract' },
});

export const branchesCreate = defineChannel({
  name: 'branches.create',
  summary: 'Adds a branch.',
  input: z.strictObject({ name: textSchema(100) }),
  output: branchSchema,
  permission: 'branches.manage',
  reauth: true,
  writes: true,
  audit: { action: 'branches.create', entityType: 'branch', purpose: 'administration', legalBasis: 'contract' },
});
