/**
 * The two answers to a possible duplicate: merge (patients.merge: choose the record to keep, give
 * a reason, confirm; it needs a fresh password, which the API client asks for) or mark the two as
 * different people (conflicts.dismissDuplicate, with a note). Both are audited by main; merging
 * archives the other record and links it to the one kept, so neither history is lost.
 */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { conflictsDismissDuplicate, type DuplicatePair, type DuplicatePatient } from '../../../shared/api/conflicts.js';
import { patientsMerge } from '../../../shared/api/patients.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { TextField } from '../../components/fields.js';
import { FormDialog } from '../../components/FormDialog.js';
import { FormFooter } from '../../components/FormFooter.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { formatDate, fullName } from '../../lib/format.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { useSubmission } from '../../lib/use-submission.js';

function failureText(failure: unknown): string {
  if (failure instanceof ApiError && failure.code === 'REAUTH_REQUIRED') {
    return 'Nothing was changed: merging needs your password confirmed.';
  }
  return errorMessage(failure);
}

/** "Meera Krishnan, P-000123, born 14 Mar 1985". */
export function patientLabel(patient: DuplicatePatient): string {
  return `${fullName(patient)}, ${patient.patientNumber}${
    patient.dateOfBirth !== null ? `, born ${formatDate(patient.dateOfBirth)}` : ''
  }`;
}

/** The record registered first keeps its number: front-desk paperwork is most likely to carry it. */
function olderOf(pair: DuplicatePair): DuplicatePatient {
  return pair.second.createdAt < pair.first.createdAt ? pair.second : pair.first;
}

export interface MergedPatients {
  readonly survivor: DuplicatePatient;
  readonly duplicate: DuplicatePatient;
}

export function MergeDialog({
  pair,
  onCancel,
  onMerged,
}: {
  readonly pair: DuplicatePair;
  readonly onCancel: () => void;
  readonly onMerged: (merged: MergedPatients) => void;
}) {
  const api = useApi();
  const { formRef, errors, showErrors } = useFieldErrors();
  const [survivorId, setSurvivorId] = useState(olderOf(pair).id);
  const [reason, setReason] = useState('');
  const [step, setStep] = useState<'choose' | 'confirm'>('choose');
  const { error, setError, busy, run } = useSubmission(failureText);
  const confirmRef = useRef<HTMLParagraphElement>(null);
  const survivor = survivorId === pair.first.id ? pair.first : pair.second;
  const duplicate = survivorId === pair.first.id ? pair.second : pair.first;

  const reviewed = useRef(false);
  // The dialog stays open between the steps: focus goes to what the confirmation says, and back
  // to the chosen record after "Back" (the button that had it is gone).
  useEffect(() => {
    if (step === 'confirm') {
      reviewed.current = true;
      confirmRef.current?.focus();
    } else if (reviewed.current) {
      formRef.current?.querySelector<HTMLInputElement>('input[name="survivor"]:checked')?.focus();
    }
  }, [step, formRef]);

  function review(event: FormEvent) {
    event.preventDefault();
    setError('');
    const parsed = patientsMerge.input.safeParse({ survivorId, duplicateId: duplicate.id, reason });
    if (showErrors(parsed.success ? {} : fieldErrorsOf(parsed.error))) return;
    setStep('confirm');
  }

  async function merge(event: FormEvent) {
    event.preventDefault();
    await run(async () => {
      await api.invoke('patients.merge', { survivorId, duplicateId: duplicate.id, reason: reason.trim() });
      onMerged({ survivor, duplicate });
    });
  }

  return (
    <Dialog
      title="Merge duplicate patients"
      className="dialog-wide"
      onDismiss={busy ? () => undefined : onCancel}
      description={<p>Choose the record to keep. The other is archived and linked to it; its history stays.</p>}
    >
      {step === 'choose' ? (
        <form ref={formRef} onSubmit={review} noValidate>
          <fieldset className="form-section compact">
            <legend>Keep this record</legend>
            {[pair.first, pair.second].map((patient) => (
              <div className="check-row" key={patient.id}>
                <input
                  id={`survivor-${patient.id}`}
                  type="radio"
                  name="survivor"
                  value={patient.id}
                  checked={survivorId === patient.id}
                  onChange={() => setSurvivorId(patient.id)}
                  data-autofocus={survivorId === patient.id ? '' : undefined}
                />
                <label htmlFor={`survivor-${patient.id}`}>{patientLabel(patient)}</label>
              </div>
            ))}
          </fieldset>
          <TextField
            id="merge-reason"
            label="Reason"
            value={reason}
            onValue={setReason}
            error={errors['reason']}
            hint="For the audit log, e.g. “Registered twice while offline”."
            maxLength={200}
            wide
          />
          <FormFooter error="" busy={false} submitLabel="Review the merge" busyLabel="" onCancel={onCancel} />
        </form>
      ) : (
        <form onSubmit={(event) => void merge(event)} noValidate>
          <p ref={confirmRef} tabIndex={-1} className="merge-summary">
            Keep <strong>{patientLabel(survivor)}</strong> and merge <strong>{patientLabel(duplicate)}</strong> into it?
            The merged record is archived and can no longer be edited; its visits and history stay readable from the
            kept record.
          </p>
          <FormFooter
            error={error}
            busy={busy}
            submitLabel="Merge records"
            busyLabel="Merging…"
            danger
            onCancel={() => setStep('choose')}
            cancelLabel="Back"
          />
        </form>
      )}
    </Dialog>
  );
}

export function DismissDuplicateDialog({
  pair,
  onCancel,
  onDismissed,
}: {
  readonly pair: DuplicatePair;
  readonly onCancel: () => void;
  readonly onDismissed: () => void;
}) {
  const api = useApi();
  const { formRef, errors, showErrors } = useFieldErrors();
  const [note, setNote] = useState('');
  const { error, setError, busy, run } = useSubmission();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError('');
    const input = { firstId: pair.first.id, secondId: pair.second.id, reason: pair.reason, note };
    const parsed = conflictsDismissDuplicate.input.safeParse(input);
    if (showErrors(parsed.success ? {} : fieldErrorsOf(parsed.error)) || !parsed.success) return;
    await run(async () => {
      await api.invoke('conflicts.dismissDuplicate', parsed.data);
      onDismissed();
    });
  }

  return (
    <FormDialog
      title="Not the same person?"
      description={
        <p>
          {fullName(pair.first)} and {fullName(pair.second)} stay two separate records, and the pair leaves the inbox on
          this computer.
        </p>
      }
      onDismiss={busy ? () => undefined : onCancel}
      formRef={formRef}
      onSubmit={submit}
      error={error}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Keep both records"
      busyLabel="Saving…"
    >
      <TextField
        id="dismiss-note"
        label="How you know they differ"
        value={note}
        onValue={setNote}
        error={errors['note']}
        hint="For the audit log, e.g. “Twins; checked ID at the desk”."
        maxLength={200}
        autoFocusField
      />
    </FormDialog>
  );
}
