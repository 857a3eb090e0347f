/** Archiving asks why (kept in the record) and confirms: the patient leaves the default search. */
import { type FormEvent, useState } from 'react';
import { patientsArchive } from '../../../shared/api/patients.js';
import type { PatientRecord } from '../../../shared/schemas/patients.js';
import { useApi } from '../../app/contexts.js';
import { TextAreaField } from '../../components/fields.js';
import { FormDialog } from '../../components/FormDialog.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { fullName } from '../../lib/format.js';
import { useSubmission } from '../../lib/use-submission.js';

export interface ArchiveDialogProps {
  readonly patient: PatientRecord;
  readonly onArchived: (record: PatientRecord) => void;
  readonly onCancel: () => void;
}

export function ArchiveDialog({ patient, onArchived, onCancel }: ArchiveDialogProps) {
  const api = useApi();
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>();
  const { error, setError, busy, run } = useSubmission();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = patientsArchive.input.safeParse({ patientId: patient.id, reason });
    if (!parsed.success) {
      setReasonError(fieldErrorsOf(parsed.error)['reason'] ?? 'Give a reason.');
      return;
    }
    setReasonError(undefined);
    setError('');
    await run(async () => onArchived(await api.invoke('patients.archive', parsed.data)));
  }

  return (
    <FormDialog
      title={`Archive ${fullName(patient)}?`}
      description={
        <p>
          The record is kept, with everything in it, but no longer appears in the search. Nothing clinical is deleted.
        </p>
      }
      onDismiss={onCancel}
      onSubmit={submit}
      error={error}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Archive patient"
      busyLabel="Archiving…"
      danger
    >
      <TextAreaField
        id="archive-reason"
        label="Reason"
        value={reason}
        onValue={(value) => {
          setReason(value);
          setReasonError(undefined);
        }}
        error={reasonError}
        hint="For example “moved away” or “registered twice”."
        rows={3}
        maxLength={200}
        autoFocusField
      />
    </FormDialog>
  );
}
