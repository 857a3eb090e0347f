/**
 * First run: create the clinic (its first branch and Admin), checked with the same schema and
 * password policy main applies, before anything is sent; or join a clinic that already syncs
 * (JoinClinicForm). Creating is the default: most first runs are a new clinic.
 */
import { type FormEvent, useState } from 'react';
import { setupCreateClinic } from '../../../shared/api/setup.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { TextField, UsernameField } from '../../components/fields.js';
import { FormFooter } from '../../components/FormFooter.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { JoinClinicForm, type JoinedClinic } from './JoinClinicForm.js';
import { PasswordWithConfirm, checkNewPassword } from './PasswordWithConfirm.js';

export interface CreatedClinic {
  readonly clinicName: string;
  readonly username: string;
  readonly recoveryKey: string;
}

export function SetupScreen({
  onCreated,
  onJoined,
}: {
  readonly onCreated: (created: CreatedClinic) => void;
  readonly onJoined: (joined: JoinedClinic) => void;
}) {
  const api = useApi();
  const [mode, setMode] = useState<'create' | 'join'>('create');
  const { formRef, errors, showErrors } = useFieldErrors();
  const [clinicName, setClinicName] = useState('');
  const [branchName, setBranchName] = useState('');
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
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
    checkNewPassword(found, { passwordKey: 'admin.password', password, confirm, username });
    if (showErrors(found) || !parsed.success) return;
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
        showErrors({ 'admin.password': error.message });
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
          <section className={mode === 'create' ? 'choice choice-active' : 'choice'} aria-labelledby="choice-create">
            <h2 id="choice-create">Create a new clinic</h2>
            <p>For a clinic starting with Chairside. You become its first administrator.</p>
            {mode !== 'create' && (
              <button type="button" className="button" onClick={() => setMode('create')}>
                Create a clinic
              </button>
            )}
          </section>
          <section className={mode === 'join' ? 'choice choice-active' : 'choice'} aria-labelledby="choice-join">
            <h2 id="choice-join">Join an existing clinic</h2>
            <p>For another computer of a clinic that already syncs with a server. Its users sign in as they do now.</p>
            {mode !== 'join' && (
              <button type="button" className="button" onClick={() => setMode('join')}>
                Join a clinic
              </button>
            )}
          </section>
        </div>
        {mode === 'join' ? (
          <JoinClinicForm onJoined={onJoined} onCancel={() => setMode('create')} />
        ) : (
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
                <UsernameField
                  id="setup-username"
                  value={username}
                  onValue={setUsername}
                  error={errors['admin.username']}
                  autoComplete="username"
                />
                <TextField
                  id="setup-display-name"
                  label="Your name"
                  value={displayName}
                  onValue={setDisplayName}
                  error={errors['admin.displayName']}
                  autoComplete="name"
                />
                <PasswordWithConfirm
                  idPrefix="setup"
                  password={password}
                  onPassword={setPassword}
                  confirm={confirm}
                  onConfirm={setConfirm}
                  passwordError={errors['admin.password']}
                  confirmError={errors['confirm']}
                />
              </div>
            </fieldset>
            <FormFooter error={formError} busy={busy} submitLabel="Create clinic" busyLabel="Creating the clinic…" />
          </form>
        )}
      </div>
    </main>
  );
}
