import { describe, expect, it } from 'vitest';
import type { Permission } from '../permissions.js';
import { type ConflictsList, conflictsListOutputSchema, withoutHiddenConflictValues } from './conflicts.js';

const conflict = (entity: string, field: string, medical: boolean) => ({
  entity,
  rowId: '01JQ0000000000000000000001',
  field,
  medical,
  hidden: false,
  losingValue: 'old',
  winningValue: 'new',
  losingHlc: 'a',
  winningHlc: 'b',
  recordedAt: 1,
});

const inbox: ConflictsList = {
  duplicates: [],
  fieldConflicts: [
    conflict('patient', 'phone', false),
    conflict('patient_medical', 'allergies', true),
    conflict('user', 'password_hash', false),
  ],
  refused: [],
};

const holding =
  (...held: Permission[]) =>
  (permission: Permission) =>
    held.includes(permission);

describe('conflicts.list shaping', () => {
  it('shows medical values only to roles holding medical.read', () => {
    const clinical = withoutHiddenConflictValues(inbox, holding('patients.read', 'medical.read'));
    expect(clinical.fieldConflicts[1]).toMatchObject({ hidden: false, losingValue: 'old', winningValue: 'new' });
    const frontDesk = withoutHiddenConflictValues(inbox, holding('patients.read'));
    expect(frontDesk.fieldConflicts[1]).toMatchObject({ hidden: true, losingValue: null, winningValue: null });
    expect(frontDesk.fieldConflicts[0]).toMatchObject({ hidden: false, losingValue: 'old' });
  });

  it('never shows the values of user fields, whatever the role holds', () => {
    const everything = withoutHiddenConflictValues(inbox, () => true);
    expect(everything.fieldConflicts[2]).toMatchObject({ hidden: true, losingValue: null, winningValue: null });
    expect(conflictsListOutputSchema.parse(everything)).toEqual(everything);
  });
});
