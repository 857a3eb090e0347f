/**
 * Asked when a channel answers REAUTH_REQUIRED (user administration, the audit log): the user
 * confirms their password, and the call that needed it is retried once.
 */
import { type FormEvent, useRef, useState } from 'react';
import { ApiError, PASSWORD_CHECK_ENDS_SESSION, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { TextField } from '../../components/fields.js';
import { ErrorMessage } from '../../components/status.js';

export interface ReauthDialogProps {
  readonly onDone: (confirmed: boolean) => void;
  readonly onSessionEnded: (message: string) => void;
}

export function ReauthDialog({ onDone, onSessionEnded }: ReauthDialogProps) {
  const api = useApi();
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function confirm(event: FormEvent) {
    event.preventDefault();
    if (password === '') {
      setError('Enter your password.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      await api.invoke('auth.reauthenticate', { password });
      onDone(true);
    } catch (failure) {
      if (failure instanceof ApiError && PASSWORD_CHECK_ENDS_SESSION.has(failure.code)) {
        onSessionEnded(errorMessage(failure));
        return;
      }
      setError(
        failure instanceof ApiError && failure.code === 'INVALID_CREDENTIALS'
          ? 'That password is not right.'
          : errorMessage(failure),
      );
      setPassword('');
      setBusy(false);
      passwordRef.current?.focus();
    }
  }

  return (
    <Dialog
      title="Confirm your password"
      description={<p>This action needs your password again, to be sure it is still you at this computer.</p>}
      onDismiss={() => onDone(false)}
    >
      <form onSubmit={(event) => void confirm(event)} noValidate>
        <TextField
          id="reauth-password"
          label="Password"
          type="password"
          value={password}
          onValue={setPassword}
          autoComplete="current-password"
          ref={passwordRef}
          autoFocusField
        />
        <ErrorMessage>{error}</ErrorMessage>
        <div className="actions">
          <button type="button" className="button" onClick={() => onDone(false)}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Checking…' : 'Confirm'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
