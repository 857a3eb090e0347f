/** Archiving asks why (kept in the record) and confirms: the patient leaves the default search. */
import { type FormEvent, useState } from 'react';
import { patientsArchive } from '../../../shared/api/patients.js';
import type { PatientRecord } from '../../../shared/schemas/patients.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { TextAreaField } from '../../components/fields.js';
import { ErrorMessage } from '../../components/status.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { fullName } from '../../lib/format.js';

export interface ArchiveDialogProps {
  readonly patient: PatientRecord;
  readonly onArchived: (record: PatientRecord) => void;
  readonly onCancel: () => void;
}

export function ArchiveDialog({ patient, onArchived, onCancel }: ArchiveDialogProps) {
  const api = useApi();
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = patientsArchive.input.safeParse({ patientId: patient.id, reason });
    if (!parsed.success) {
      setReasonError(fieldErrorsOf(parsed.error)['reason'] ?? 'Give a reason.');
      return;
    }
    setReasonError(undefined);
    setBusy(true);
    setError('');
    try {
      onArchived(await api.invoke('patients.archive', parsed.data));
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={`Archive ${fullName(patient)}?`}
      description={
        <p>
          The record is kept, with everything in it, but no longer appears in the search. Nothing clinical is deleted.
        </p>
      }
      onDismiss={onCancel}
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
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
        <ErrorMessage>{error}</ErrorMessage>
        <div className="actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button danger" disabled={busy}>
            {busy ? 'Archiving…' : 'Archive patient'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
