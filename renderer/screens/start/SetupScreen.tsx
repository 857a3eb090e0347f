/**
 * First run: create the clinic (its first branch and Admin), checked with the same schema and
 * password policy main applies, before anything is sent. Joining an existing clinic is shown
 * but not offered yet: it needs sync.
 */
import { type FormEvent, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { setupCreateClinic } from '../../../shared/api/setup.js';
import { passwordProblem } from '../../../shared/password-policy.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { TextField } from '../../components/fields.js';
import { ErrorMessage } from '../../components/status.js';
import { type FieldErrors, fieldErrorsOf, focusFirstInvalid, hasErrors } from '../../lib/form-errors.js';
import { PASSWORD_HINT } from './password-hint.js';

export interface CreatedClinic {
  readonly clinicName: string;
  readonly username: string;
  readonly recoveryKey: string;
}

export function SetupScreen({ onCreated }: { readonly onCreated: (created: CreatedClinic) => void }) {
  const api = useApi();
  const formRef = useRef<HTMLFormElement>(null);
  const [clinicName, setClinicName] = useState('');
  const [branchName, setBranchName] = useState('');
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFormError('');
    const parsed = setupCreateClinic.input.safeParse({
      clinicName,
      branchName,
      admin: { username, displayName, password },
    });
    const found: Record<string, string> = parsed.success ? {} : { ...fieldErrorsOf(parsed.error) };
    const policy = passwordProblem(password, username);
    if (password.length > 0 && policy !== null) found['admin.password'] ??= policy;
    if (confirm !== password) found['confirm'] = 'The two passwords differ.';
    if (!parsed.success || hasErrors(found)) {
      flushSync(() => setErrors(found));
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const created = await api.invoke('setup.createClinic', parsed.data);
      onCreated({
        clinicName: parsed.data.clinicName,
        username: parsed.data.admin.username,
        recoveryKey: created.recoveryKey,
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'PASSWORD_REJECTED') {
        flushSync(() => setErrors({ 'admin.password': error.message }));
        focusFirstInvalid(formRef.current);
      } else {
        setFormError(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="centered-page">
      <div className="card wide">
        <p className="brand-name">Chairside</p>
        <h1>Set up Chairside on this computer</h1>
        <div className="choice-row">
          <section className="choice choice-active" aria-labelledby="choice-create">
            <h2 id="choice-create">Create a new clinic</h2>
            <p>For a clinic starting with Chairside. You become its first administrator.</p>
          </section>
          <section className="choice choice-disabled" aria-labelledby="choice-join">
            <h2 id="choice-join">Join an existing clinic</h2>
            <p id="join-explanation">
              Joining a clinic that already uses Chairside on another computer arrives with sync, in a later version.
            </p>
            <button type="button" className="button" disabled aria-describedby="join-explanation">
              Join a clinic
            </button>
          </section>
        </div>
        <form ref={formRef} onSubmit={(event) => void submit(event)} noValidate aria-labelledby="choice-create">
          <fieldset className="form-section">
            <legend>Clinic</legend>
            <div className="form-grid">
              <TextField
                id="setup-clinic-name"
                label="Clinic name"
                value={clinicName}
                onValue={setClinicName}
                error={errors['clinicName']}
                autoComplete="organization"
                autoFocus
              />
              <TextField
                id="setup-branch-name"
                label="First branch"
                value={branchName}
                onValue={setBranchName}
                error={errors['branchName']}
                hint="The site or address this computer is at, e.g. “Main Street”."
              />
            </div>
          </fieldset>
          <fieldset className="form-section">
            <legend>Administrator</legend>
            <div className="form-grid">
              <TextField
                id="setup-username"
                label="Username"
                value={username}
                onValue={setUsername}
                error={errors['admin.username']}
                autoComplete="username"
                autoCapitalize="none"
                spellCheck={false}
              />
              <TextField
                id="setup-display-name"
                label="Your name"
                value={displayName}
                onValue={setDisplayName}
                error={errors['admin.displayName']}
                autoComplete="name"
              />
              <TextField
                id="setup-password"
                label="Password"
                type="password"
                value={password}
                onValue={setPassword}
                error={errors['admin.password']}
                hint={PASSWORD_HINT}
                autoComplete="new-password"
              />
              <TextField
                id="setup-confirm"
                label="Password again"
                type="password"
                value={confirm}
                onValue={setConfirm}
                error={errors['confirm']}
                autoComplete="new-password"
              />
            </div>
          </fieldset>
          <ErrorMessage>{formError}</ErrorMessage>
          <div className="actions">
            <button type="submit" className="button primary" disabled={busy}>
              {busy ? 'Creating the clinic…' : 'Create clinic'}
            </button>
          </div>
        </form>
      </div>
    </main>
  );
}
