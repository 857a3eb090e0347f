import { describe, expect, it } from 'vitest';
import { medicalAlertsFor } from './medical-alerts.js';

const history = (parts: Partial<Parameters<typeof medicalAlertsFor>[0]>) =>
  medicalAlertsFor({ allergies: [], conditions: [], medications: [], updatedAt: null, ...parts });

describe('medical alerts', () => {
  it('raises a critical alert for an anticoagulant and puts it before warnings', () => {
    const alerts = history({ conditions: [{ name: 'Asthma' }], medications: [{ name: 'Rivaroxaban 20mg' }] });
    expect(alerts).toEqual([
      { kind: 'anticoagulant', severity: 'critical', label: 'Anticoagulant: Rivaroxaban 20mg' },
      { kind: 'condition', severity: 'warning', label: 'Condition: Asthma' },
    ]);
  });

  it('treats a mild allergy as a warning and any other as critical', () => {
    const alerts = history({
      allergies: [
        { substance: 'Latex', severity: 'mild' },
        { substance: 'Penicillin', severity: 'unknown' },
      ],
    });
    expect(alerts.map((a) => [a.label, a.severity])).toEqual([
      ['Allergy: Penicillin', 'critical'],
      ['Allergy: Latex', 'warning'],
    ]);
  });

  it('matches at the start of a word only', () => {
    expect(history({ conditions: [{ name: 'Shivering spells' }] })).toEqual([]);
    expect(history({ conditions: [{ name: 'HIV positive' }, { name: 'Gestational diabetes' }] })).toHaveLength(2);
  });
});
