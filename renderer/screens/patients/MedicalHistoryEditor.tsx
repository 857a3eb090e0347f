/**
 * The Dentist's editor for allergies, conditions and medications: rows added and removed, each
 * checked with the shared schemas; saving replaces the history and returns the derived alerts.
 */
import { type FormEvent, useState } from 'react';
import { flushSync } from 'react-dom';
import { patientsUpdateMedicalHistory } from '../../../shared/api/patients.js';
import type { MedicalAlert, MedicalHistory } from '../../../shared/schemas/patients.js';
import { useApi } from '../../app/contexts.js';
import { SelectField, TextField } from '../../components/fields.js';
import { FormFooter } from '../../components/FormFooter.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { useSubmission } from '../../lib/use-submission.js';

type Severity = MedicalHistory['allergies'][number]['severity'];
interface AllergyRow {
  substance: string;
  severity: Severity;
  reaction: string;
}
interface ConditionRow {
  name: string;
  note: string;
}
interface MedicationRow {
  name: string;
  dose: string;
}

const SEVERITIES: ReadonlyArray<{ value: Severity; label: string }> = [
  { value: 'severe', label: 'Severe' },
  { value: 'moderate', label: 'Moderate' },
  { value: 'mild', label: 'Mild' },
  { value: 'unknown', label: 'Not known' },
];

const optional = (text: string) => (text.trim() === '' ? null : text);

export interface MedicalHistoryEditorProps {
  readonly patientId: string;
  readonly history: MedicalHistory;
  readonly onSaved: (history: MedicalHistory, alerts: MedicalAlert[]) => void;
  readonly onCancel: () => void;
}

export function MedicalHistoryEditor({ patientId, history, onSaved, onCancel }: MedicalHistoryEditorProps) {
  const api = useApi();
  const { formRef, errors, setErrors, showErrors } = useFieldErrors();
  const [allergies, setAllergies] = useState<AllergyRow[]>(() =>
    history.allergies.map((a) => ({ substance: a.substance, severity: a.severity, reaction: a.reaction ?? '' })),
  );
  const [conditions, setConditions] = useState<ConditionRow[]>(() =>
    history.conditions.map((c) => ({ name: c.name, note: c.note ?? '' })),
  );
  const [medications, setMedications] = useState<MedicationRow[]>(() =>
    history.medications.map((m) => ({ name: m.name, dose: m.dose ?? '' })),
  );
  const { error, setError, busy, run } = useSubmission();

  /** A corrected field stops showing its old error. */
  const clear = (key: string) => setErrors(({ [key]: _cleared, ...rest }) => rest);

  /** Adds a row and puts the cursor in its first field. */
  function addRow(kind: 'allergy' | 'condition' | 'medication') {
    let id = '';
    flushSync(() => {
      if (kind === 'allergy') {
        id = `allergy-${allergies.length}-substance`;
        setAllergies([...allergies, { substance: '', severity: 'unknown', reaction: '' }]);
      } else if (kind === 'condition') {
        id = `condition-${conditions.length}-name`;
        setConditions([...conditions, { name: '', note: '' }]);
      } else {
        id = `medication-${medications.length}-name`;
        setMedications([...medications, { name: '', dose: '' }]);
      }
    });
    document.getElementById(id)?.focus();
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    setError('');
    const parsed = patientsUpdateMedicalHistory.input.safeParse({
      patientId,
      allergies: allergies.map((a) => ({
        substance: a.substance,
        severity: a.severity,
        reaction: optional(a.reaction),
      })),
      conditions: conditions.map((c) => ({ name: c.name, note: optional(c.note) })),
      medications: medications.map((m) => ({ name: m.name, dose: optional(m.dose) })),
    });
    if (!parsed.success) {
      showErrors(fieldErrorsOf(parsed.error));
      return;
    }
    setErrors({});
    const input = parsed.data;
    await run(async () => {
      const saved = await api.invoke('patients.updateMedicalHistory', input);
      onSaved(saved.medicalHistory, saved.alerts);
    });
  }

  return (
    <section className="card" aria-labelledby="history-editor-heading">
      <h2 id="history-editor-heading">Edit medical history</h2>
      <form ref={formRef} onSubmit={(event) => void save(event)} noValidate>
        <fieldset className="form-section">
          <legend>Allergies</legend>
          {allergies.length === 0 && <p className="muted">No allergies recorded.</p>}
          {allergies.map((allergy, index) => (
            <div className="row-editor" key={index}>
              <TextField
                id={`allergy-${index}-substance`}
                label="Substance"
                value={allergy.substance}
                onValue={(value) => {
                  setAllergies(replaceAt(allergies, index, { ...allergy, substance: value }));
                  clear(`allergies.${index}.substance`);
                }}
                error={errors[`allergies.${index}.substance`]}
              />
              <SelectField
                id={`allergy-${index}-severity`}
                label="Severity"
                value={allergy.severity}
                onValue={(value) => {
                  setAllergies(replaceAt(allergies, index, { ...allergy, severity: value as Severity }));
                  clear(`allergies.${index}.severity`);
                }}
                options={SEVERITIES}
                error={errors[`allergies.${index}.severity`]}
              />
              <TextField
                id={`allergy-${index}-reaction`}
                label="Reaction (optional)"
                value={allergy.reaction}
                onValue={(value) => {
                  setAllergies(replaceAt(allergies, index, { ...allergy, reaction: value }));
                  clear(`allergies.${index}.reaction`);
                }}
                error={errors[`allergies.${index}.reaction`]}
              />
              <RemoveButton
                label={`Remove allergy ${allergy.substance || index + 1}`}
                onRemove={() => {
                  setAllergies(removeAt(allergies, index));
                  // Errors are keyed by row number, which removing a row shifts.
                  setErrors({});
                }}
              />
            </div>
          ))}
          <button type="button" className="button small" onClick={() => addRow('allergy')}>
            Add allergy
          </button>
        </fieldset>
        <fieldset className="form-section">
          <legend>Conditions</legend>
          {conditions.length === 0 && <p className="muted">No conditions recorded.</p>}
          {conditions.map((condition, index) => (
            <div className="row-editor" key={index}>
              <TextField
                id={`condition-${index}-name`}
                label="Condition"
                value={condition.name}
                onValue={(value) => {
                  setConditions(replaceAt(conditions, index, { ...condition, name: value }));
                  clear(`conditions.${index}.name`);
                }}
                error={errors[`conditions.${index}.name`]}
              />
              <TextField
                id={`condition-${index}-note`}
                label="Note (optional)"
                value={condition.note}
                onValue={(value) => {
                  setConditions(replaceAt(conditions, index, { ...condition, note: value }));
                  clear(`conditions.${index}.note`);
                }}
                error={errors[`conditions.${index}.note`]}
              />
              <RemoveButton
                label={`Remove condition ${condition.name || index + 1}`}
                onRemove={() => {
                  setConditions(removeAt(conditions, index));
                  // Errors are keyed by row number, which removing a row shifts.
                  setErrors({});
                }}
              />
            </div>
          ))}
          <button type="button" className="button small" onClick={() => addRow('condition')}>
            Add condition
          </button>
        </fieldset>
        <fieldset className="form-section">
          <legend>Medications</legend>
          {medications.length === 0 && <p className="muted">No medications recorded.</p>}
          {medications.map((medication, index) => (
            <div className="row-editor" key={index}>
              <TextField
                id={`medication-${index}-name`}
                label="Medication"
                value={medication.name}
                onValue={(value) => {
                  setMedications(replaceAt(medications, index, { ...medication, name: value }));
                  clear(`medications.${index}.name`);
                }}
                error={errors[`medications.${index}.name`]}
              />
              <TextField
                id={`medication-${index}-dose`}
                label="Dose (optional)"
                value={medication.dose}
                onValue={(value) => {
                  setMedications(replaceAt(medications, index, { ...medication, dose: value }));
                  clear(`medications.${index}.dose`);
                }}
                error={errors[`medications.${index}.dose`]}
              />
              <RemoveButton
                label={`Remove medication ${medication.name || index + 1}`}
                onRemove={() => {
                  setMedications(removeAt(medications, index));
                  // Errors are keyed by row number, which removing a row shifts.
                  setErrors({});
                }}
              />
            </div>
          ))}
          <button type="button" className="button small" onClick={() => addRow('medication')}>
            Add medication
          </button>
        </fieldset>
        <FormFooter
          error={error}
          busy={busy}
          onCancel={onCancel}
          submitLabel="Save medical history"
          busyLabel="Saving…"
        />
      </form>
    </section>
  );
}

function RemoveButton({ label, onRemove }: { readonly label: string; readonly onRemove: () => void }) {
  return (
    <button type="button" className="button subtle row-remove" aria-label={label} onClick={onRemove}>
      Remove
    </button>
  );
}

function replaceAt<T>(list: readonly T[], index: number, item: T): T[] {
  return list.map((existing, at) => (at === index ? item : existing));
}

function removeAt<T>(list: readonly T[], index: number): T[] {
  return list.filter((_, at) => at !== index);
}
