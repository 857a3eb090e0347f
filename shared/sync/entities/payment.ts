/**
 * Payments: append-only, declared ahead of billing (issue #14), which builds the table and its fields.
 * Until then devices do not apply its changes and no permission writes it, so the server
 * refuses any (fail closed).
 */
import type { EntityDeclaration } from './declaration.js';

export const paymentEntity = {
  kind: 'appendOnly',
  table: 'payments',
  key: 'id',
  fields: {},
  localStamp: 'none',
  appliedOnDevices: false,
  writePermissions: () => null,
  branch: { kind: 'patient' },
  words: 'Payment',
  retention: 'billing',
  upload: { order: 9 },
} as const satisfies EntityDeclaration;
