/**
 * A dialog that asks the signed-in user for their password and checks it (unlocking, confirming
 * a sensitive action). A wrong password clears the field and puts the cursor back in it; a
 * refusal that ends the session (too many tries, the account disabled) is handed on.
 */
import { type FormEvent, type ReactNode, useRef, useState } from 'react';
import { ApiError, PASSWORD_CHECK_ENDS_SESSION, errorMessage } from '../../api/api-error.js';
import { TextField } from '../../components/fields.js';
import { FormDialog } from '../../components/FormDialog.js';

export interface PasswordPromptDialogProps {
  readonly title: string;
  readonly description: ReactNode;
  readonly className?: string;
  /** Called on Escape; leave out for a prompt that cannot be dismissed. */
  readonly onDismiss?: () => void;
  /** The password field's id. */
  readonly fieldId: string;
  /** Checks the password with main and acts on success; throws main's refusal. */
  readonly check: (password: string) => Promise<void>;
  readonly onSessionEnded: (message: string) => void;
  readonly submitLabel: string;
  readonly busyLabel: string;
  /** The other way out: cancelling, or switching user. */
  readonly onCancel: () => void;
  readonly cancelLabel: string;
}

export function PasswordPromptDialog({ fieldId, check, onSessionEnded, ...dialog }: PasswordPromptDialogProps) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (password === '') {
      setError('Enter your password.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      await check(password);
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
    <FormDialog {...dialog} onSubmit={submit} error={error} busy={busy}>
      <TextField
        id={fieldId}
        label="Password"
        type="password"
        value={password}
        onValue={setPassword}
        autoComplete="current-password"
        ref={passwordRef}
        autoFocusField
      />
    </FormDialog>
  );
}
