/** The clinic's branches (table branches). */
import { instantSchema, textSchema } from '../../schemas/common.js';
import type { EntityDeclaration } from './declaration.js';

export const branchEntity = {
  kind: 'mutable',
  table: 'branches',
  key: 'id',
  fields: {
    name: { value: textSchema(100), words: 'Name' },
    created_at: { value: instantSchema, words: 'Created' },
  },
  localStamp: 'none',
  appliedOnDevices: true,
  writePermissions: () => ['branches.manage'],
  branch: { kind: 'clinic' },
  words: 'Branch',
  retention: 'clinic-configuration',
  upload: { order: 1 },
} as const satisfies EntityDeclaration;
