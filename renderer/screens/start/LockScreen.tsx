/**
 * The lock screen, over the app after inactivity (or "Lock"): the same user unlocks with their
 * password, or someone else at a shared front-desk PC switches user, which signs the locked
 * session out. An opaque backdrop hides the record underneath.
 */
import { type FormEvent, useRef, useState } from 'react';
import type { SessionUser } from '../../../shared/schemas/users.js';
import { ApiError, PASSWORD_CHECK_ENDS_SESSION, errorMessage } from '../../api/api-error.js';
import { type SessionGrant, useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { TextField } from '../../components/fields.js';
import { ErrorMessage } from '../../components/status.js';

export interface LockScreenProps {
  readonly user: SessionUser;
  readonly onUnlocked: (grant: SessionGrant) => void;
  readonly onSwitchUser: () => void;
  readonly onSessionEnded: (message: string) => void;
}

export function LockScreen({ user, onUnlocked, onSwitchUser, onSessionEnded }: LockScreenProps) {
  const api = useApi();
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function unlock(event: FormEvent) {
    event.preventDefault();
    if (password === '') {
      setError('Enter your password.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      onUnlocked(await api.invoke('auth.unlock', { password }));
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
      title="Screen locked"
      className="lock-dialog"
      description={
        <p>
          Signed in as <strong>{user.displayName}</strong> ({user.username}). Enter your password to continue.
        </p>
      }
    >
      <form onSubmit={(event) => void unlock(event)} noValidate>
        <TextField
          id="unlock-password"
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
          <button type="button" className="button" onClick={onSwitchUser}>
            Switch user
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Unlocking…' : 'Unlock'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
