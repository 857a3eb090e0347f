/**
 * Admin: connect this clinic to its sync server with the operator's one-time code (sync.connect,
 * which needs a fresh password: the API client asks for it). Everything the clinic already holds
 * is queued for upload; the Sync screen then runs a round.
 */
import { syncConnect } from '../../../shared/api/sync.js';
import { ApiError } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { FormDialog } from '../../components/FormDialog.js';
import { Progress } from '../../components/Progress.js';
import { type EnrollmentFailure, ServerEnrollmentFields, useServerEnrollmentForm } from './server-enrollment-form.js';
import { joinFailure } from '../start/JoinClinicForm.js';

export interface ConnectedClinic {
  readonly serverUrl: string;
  /** Records queued for upload. */
  readonly queued: number;
}

/** A failed connection in words: the join's words, plus what only connecting can run into. */
function connectFailure(failure: unknown): EnrollmentFailure {
  if (failure instanceof ApiError && failure.code === 'REAUTH_REQUIRED') {
    return { message: 'Nothing was changed: connecting needs your password confirmed.' };
  }
  return joinFailure(failure);
}

export function ConnectServerDialog({
  onCancel,
  onConnected,
}: {
  readonly onCancel: () => void;
  readonly onConnected: (connected: ConnectedClinic) => void;
}) {
  const api = useApi();
  const { formRef, fields, formError, busy, submit } = useServerEnrollmentForm({
    schema: syncConnect.input,
    send: (input) => api.invoke('sync.connect', input),
    describeFailure: connectFailure,
    onDone: (connected, input) => onConnected({ serverUrl: input.serverUrl, queued: connected.queued }),
  });

  return (
    <FormDialog
      title="Connect this clinic to a sync server"
      description={
        <p>
          Use the server address and the one-time code the server’s operator gave you. Everything this clinic holds is
          then uploaded, and other computers can join it.
        </p>
      }
      // Escape does nothing while connecting: the server may already have taken the code.
      onDismiss={busy ? () => undefined : onCancel}
      formRef={formRef}
      onSubmit={submit}
      error={formError}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Connect"
      busyLabel="Connecting…"
    >
      <fieldset className="form-section compact" disabled={busy}>
        <legend className="visually-hidden">Sync server</legend>
        <ServerEnrollmentFields idPrefix="connect" fields={fields} focusFirst="dialog" />
      </fieldset>
      {busy && <Progress label="Connecting to the sync server…" detail="Registering this computer with the server." />}
    </FormDialog>
  );
}
