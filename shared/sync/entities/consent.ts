/**
 * Consents: append-only, declared ahead of consent (issue #15), which builds the table and its fields.
 * Until then devices do not apply its changes and no permission writes it, so the server
 * refuses any (fail closed).
 */
import type { EntityDeclaration } from './declaration.js';

export const consentEntity = {
  kind: 'appendOnly',
  table: 'consents',
  key: 'id',
  fields: {},
  localStamp: 'none',
  appliedOnDevices: false,
  writePermissions: () => null,
  branch: { kind: 'patient' },
  words: 'Consent',
  retention: 'clinical-record',
  upload: { order: 9 },
} as const satisfies EntityDeclaration;
