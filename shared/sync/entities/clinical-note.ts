/**
 * Clinical notes: append-only, declared ahead of the clinical record (issue #13), which builds the table and its fields.
 * Until then devices do not apply its changes and no permission writes it, so the server
 * refuses any (fail closed).
 */
import type { EntityDeclaration } from './declaration.js';

export const clinicalNoteEntity = {
  kind: 'appendOnly',
  table: 'clinical_notes',
  key: 'id',
  fields: {},
  localStamp: 'none',
  appliedOnDevices: false,
  writePermissions: () => null,
  branch: { kind: 'patient' },
  words: 'Clinical note',
  retention: 'clinical-record',
  upload: { order: 9 },
} as const satisfies EntityDeclaration;
