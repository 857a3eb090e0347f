/** Sign-in: username and password; lockouts and other refusals are explained in main's words. */
import { type FormEvent, useRef, useState } from 'react';
import { errorMessage } from '../../api/api-error.js';
import { type SessionGrant, useApi } from '../../app/contexts.js';
import { TextField, UsernameField } from '../../components/fields.js';
import { FormFooter } from '../../components/FormFooter.js';
import { Notice } from '../../components/status.js';

export interface SignInScreenProps {
  readonly clinicName: string | null;
  readonly initialUsername: string;
  readonly notice: string | null;
  readonly onSignedIn: (grant: SessionGrant) => void;
}

export function SignInScreen({ clinicName, initialUsername, notice, onSignedIn }: SignInScreenProps) {
  const api = useApi();
  const [username, setUsername] = useState(initialUsername);
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (username.trim() === '' || password === '') {
      setError('Enter your username and password.');
      return;
    }
    setError('');
    setBusy(true);
    try {
      const grant = await api.invoke('auth.signIn', { username, password });
      onSignedIn(grant);
    } catch (failure) {
      setError(errorMessage(failure));
      setPassword('');
      setBusy(false);
      passwordRef.current?.focus();
    }
  }

  return (
    <main className="centered-page">
      <div className="card narrow">
        <p className="brand-name">Chairside</p>
        <h1>Sign in{clinicName !== null ? ` to ${clinicName}` : ''}</h1>
        <Notice>{notice}</Notice>
        <form onSubmit={(event) => void submit(event)} noValidate>
          <UsernameField
            id="sign-in-username"
            value={username}
            onValue={setUsername}
            autoComplete="username"
            autoFocus={initialUsername === ''}
          />
          <TextField
            id="sign-in-password"
            label="Password"
            type="password"
            value={password}
            onValue={setPassword}
            autoComplete="current-password"
            ref={passwordRef}
            autoFocus={initialUsername !== ''}
          />
          <FormFooter error={error} busy={busy} submitLabel="Sign in" busyLabel="Signing in…" />
        </form>
      </div>
    </main>
  );
}
