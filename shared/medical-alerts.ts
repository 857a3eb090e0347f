/**
 * Medical alerts derived from a patient's history: what a dentist must see before treatment
 * (allergies, anticoagulants and other bleeding risks, conditions that change care). The lists
 * are data so a clinic can review them; an entry matches where a word of the entered name starts
 * with it (so "hiv" flags "HIV positive" but not "shivering").
 */
import type { MedicalAlert, MedicalHistory } from './schemas/patients.js';

/** Blood thinners: bleeding risk in extractions and surgery. */
export const ANTICOAGULANTS: readonly string[] = [
  'warfarin',
  'acenocoumarol',
  'apixaban',
  'rivaroxaban',
  'dabigatran',
  'edoxaban',
  'heparin',
  'enoxaparin',
  'clopidogrel',
  'ticagrelor',
  'prasugrel',
];

/** Medications that change dental care (osteonecrosis risk, immunosuppression). */
export const RISK_MEDICATIONS: readonly string[] = [
  'alendronate',
  'zoledronic',
  'denosumab',
  'bisphosphonate',
  'methotrexate',
  'prednisolone',
  'insulin',
];

/** Conditions a dentist must know before treatment. */
export const RISK_CONDITIONS: readonly string[] = [
  'diabetes',
  'pregnan',
  'hemophilia',
  'haemophilia',
  'endocarditis',
  'heart valve',
  'pacemaker',
  'epilepsy',
  'hepatitis',
  'hiv',
  'asthma',
];

function matches(name: string, list: readonly string[]): boolean {
  const lowered = name.toLowerCase();
  return list.some((entry) => {
    for (let at = lowered.indexOf(entry); at !== -1; at = lowered.indexOf(entry, at + 1)) {
      if (at === 0 || !/[\p{L}\p{N}]/u.test(lowered[at - 1]!)) return true;
    }
    return false;
  });
}

/** Alerts for a medical history, most severe first. */
export function medicalAlertsFor(history: MedicalHistory): MedicalAlert[] {
  const alerts: MedicalAlert[] = [];
  for (const allergy of history.allergies) {
    alerts.push({
      kind: 'allergy',
      severity: allergy.severity === 'mild' ? 'warning' : 'critical',
      label: `Allergy: ${allergy.substance}`,
    });
  }
  for (const medication of history.medications) {
    if (matches(medication.name, ANTICOAGULANTS)) {
      alerts.push({ kind: 'anticoagulant', severity: 'critical', label: `Anticoagulant: ${medication.name}` });
    } else if (matches(medication.name, RISK_MEDICATIONS)) {
      alerts.push({ kind: 'medication', severity: 'warning', label: `Medication: ${medication.name}` });
    }
  }
  for (const condition of history.conditions) {
    if (matches(condition.name, RISK_CONDITIONS)) {
      alerts.push({ kind: 'condition', severity: 'warning', label: `Condition: ${condition.name}` });
    }
  }
  return alerts.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1));
}
