/**
 * First run, second way: this computer joins a clinic that already syncs. The Admin of the clinic
 * makes a one-time enrollment code on a computer that is already connected (Sync → "Add another
 * computer"); this form sends the server address and the code with setup.joinClinic, which
 * enrolls this computer, downloads the clinic's records and creates the encrypted database. The
 * call answers once, at the end, so progress is shown as a task under way with its elapsed time.
 */
import type { z } from 'zod';
import { setupJoinClinic } from '../../../shared/api/setup.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { FormFooter } from '../../components/FormFooter.js';
import { Progress } from '../../components/Progress.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import {
  type EnrollmentFailure,
  ServerEnrollmentFields,
  useServerEnrollmentForm,
} from '../sync/server-enrollment-form.js';

export interface JoinedClinic {
  readonly clinicName: string | null;
  readonly recoveryKey: string;
  /** Records downloaded from the server and stored here. */
  readonly applied: number;
}

/** Plain words for the server address check (the schema's message speaks of schemes). */
export const SERVER_URL_HINT = 'Starts with https://, or http:// only for a server on this computer.';

/**
 * The field errors of a server address and code that failed their schema, in plain words: the
 * URL schema's own message speaks of schemes, and an empty address is simply missing.
 */
export function serverFieldErrors(error: z.ZodError, serverUrl: string): Record<string, string> {
  const found = { ...fieldErrorsOf(error) };
  if (found['serverUrl'] !== undefined) {
    found['serverUrl'] =
      serverUrl.trim() === '' ? 'This field is required.' : `This is not a sync server address. ${SERVER_URL_HINT}`;
  }
  return found;
}

/** Where a failed join is shown: on one field, or for the whole form. */
export function joinFailure(failure: unknown): EnrollmentFailure {
  if (!(failure instanceof ApiError)) return { message: errorMessage(failure) };
  switch (failure.code) {
    case 'VALIDATION_FAILED':
      // The address passed the same schema here, so what the server refused is the code.
      return {
        field: 'enrollmentCode',
        message:
          'The sync server did not accept this code: it may be mistyped, already used or expired. Ask an administrator for a new one.',
      };
    case 'SYNC_UNREACHABLE':
      return {
        field: 'serverUrl',
        message:
          'The sync server could not be reached at this address. Check the address and that the server is running, then try again.',
      };
    case 'INTERNAL':
      return {
        field: 'serverUrl',
        message:
          'The sync server could not be reached at this address, or did not answer as a Chairside sync server. Check the address and the network, then try again.',
      };
    case 'RATE_LIMITED':
      return { message: `Too many attempts: ${errorMessage(failure)}` };
    default:
      return { message: errorMessage(failure) };
  }
}

export function JoinClinicForm({
  onJoined,
  onCancel,
}: {
  readonly onJoined: (joined: JoinedClinic) => void;
  readonly onCancel: () => void;
}) {
  const api = useApi();
  const { formRef, fields, formError, busy, submit } = useServerEnrollmentForm({
    schema: setupJoinClinic.input,
    send: (input) => api.invoke('setup.joinClinic', input),
    describeFailure: joinFailure,
    onDone: async (joined) => {
      // The clinic's name came from the server with the records; setup.status reads it back.
      const status = await api.invoke('setup.status', {}).catch(() => null);
      onJoined({ clinicName: status?.clinicName ?? null, recoveryKey: joined.recoveryKey, applied: joined.applied });
    },
  });

  return (
    <form
      ref={formRef}
      onSubmit={(event) => void submit(event)}
      noValidate
      aria-labelledby="choice-join"
      aria-busy={busy}
    >
      <fieldset className="form-section" disabled={busy}>
        <legend>Sync server</legend>
        <p className="muted">
          Ask the clinic’s administrator for the server address and a one-time code. They make the code on a computer
          that already syncs, under Sync → Add another computer.
        </p>
        <div className="form-grid">
          <ServerEnrollmentFields
            idPrefix="join"
            fields={fields}
            codeHint="20 letters and digits, e.g. 7K2QD-…; dashes and spaces do not matter."
            focusFirst="page"
          />
        </div>
      </fieldset>
      {busy && (
        <Progress
          label="Joining the clinic…"
          detail="Registering this computer with the sync server and downloading the clinic’s records. A large clinic can take a minute."
        />
      )}
      <FormFooter
        error={formError}
        busy={busy}
        submitLabel="Join clinic"
        busyLabel="Joining…"
        onCancel={busy ? undefined : onCancel}
        cancelLabel="Create a new clinic instead"
      />
    </form>
  );
}
