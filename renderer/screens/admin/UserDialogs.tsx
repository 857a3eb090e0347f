/** The dialogs of user administration, checked with the shared schemas and password policy. */
import { type FormEvent, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { usersCreate, usersUpdate } from '../../../shared/api/users.js';
import { passwordProblem } from '../../../shared/password-policy.js';
import { type Role, roles } from '../../../shared/permissions.js';
import type { Branch, UserSummary } from '../../../shared/schemas/users.js';
import type { ChannelInput } from '../../../shared/api/registry.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { SelectField, TextField } from '../../components/fields.js';
import { ErrorMessage } from '../../components/status.js';
import { type FieldErrors, fieldErrorsOf, focusFirstInvalid } from '../../lib/form-errors.js';
import { PASSWORD_HINT } from '../start/password-hint.js';

const ROLE_OPTIONS = roles.map((role) => ({ value: role, label: role }));

/** When the user's call was refused with REAUTH_REQUIRED and the prompt was cancelled. */
function failureText(failure: unknown): string {
  if (failure instanceof ApiError && failure.code === 'REAUTH_REQUIRED') {
    return 'Nothing was changed: this needs your password confirmed.';
  }
  return errorMessage(failure);
}

interface BranchScope {
  readonly allBranches: boolean;
  readonly branchIds: readonly string[];
}

/** All branches, or a chosen set, as checkboxes in a fieldset. */
function BranchScopeField({
  idPrefix,
  branches,
  scope,
  onScope,
  error,
}: {
  readonly idPrefix: string;
  readonly branches: readonly Branch[];
  readonly scope: BranchScope;
  readonly onScope: (scope: BranchScope) => void;
  readonly error: string | undefined;
}) {
  const errorId = `${idPrefix}-branches-error`;
  return (
    <fieldset className="form-section compact" aria-describedby={error ? errorId : undefined}>
      <legend>Branches</legend>
      <div className="check-row">
        <input
          id={`${idPrefix}-all-branches`}
          type="checkbox"
          checked={scope.allBranches}
          onChange={(event) => onScope({ ...scope, allBranches: event.target.checked })}
        />
        <label htmlFor={`${idPrefix}-all-branches`}>All branches, including ones added later</label>
      </div>
      {branches.map((branch) => (
        <div className="check-row" key={branch.id}>
          <input
            id={`${idPrefix}-branch-${branch.id}`}
            type="checkbox"
            disabled={scope.allBranches}
            checked={scope.allBranches || scope.branchIds.includes(branch.id)}
            aria-invalid={error ? true : undefined}
            onChange={(event) =>
              onScope({
                ...scope,
                branchIds: event.target.checked
                  ? [...scope.branchIds, branch.id]
                  : scope.branchIds.filter((id) => id !== branch.id),
              })
            }
          />
          <label htmlFor={`${idPrefix}-branch-${branch.id}`}>{branch.name}</label>
        </div>
      ))}
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
    </fieldset>
  );
}

function branchScopeError(scope: BranchScope): string | undefined {
  return !scope.allBranches && scope.branchIds.length === 0
    ? 'Choose at least one branch, or all branches.'
    : undefined;
}

export function CreateUserDialog({
  branches,
  onCancel,
  onCreated,
}: {
  readonly branches: readonly Branch[];
  readonly onCancel: () => void;
  readonly onCreated: (user: UserSummary) => void;
}) {
  const api = useApi();
  const formRef = useRef<HTMLFormElement>(null);
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [role, setRole] = useState<Role>('Receptionist');
  const [scope, setScope] = useState<BranchScope>({
    allBranches: false,
    branchIds: branches.length === 1 ? [branches[0]!.id] : [],
  });
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError('');
    const parsed = usersCreate.input.safeParse({
      username,
      displayName,
      role,
      allBranches: scope.allBranches,
      branchIds: scope.allBranches ? [] : scope.branchIds,
      password,
    });
    const found: Record<string, string> = parsed.success ? {} : { ...fieldErrorsOf(parsed.error) };
    const policy = passwordProblem(password, username);
    if (password.length > 0 && policy !== null) found['password'] ??= policy;
    if (confirm !== password) found['confirm'] = 'The two passwords differ.';
    const scopeError = branchScopeError(scope);
    if (scopeError) found['branchIds'] = scopeError;
    if (!parsed.success || Object.keys(found).length > 0) {
      flushSync(() => setErrors(found));
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      onCreated(await api.invoke('users.create', parsed.data));
    } catch (failure) {
      setError(failureText(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog title="New user" onDismiss={onCancel} className="dialog-wide">
      <form ref={formRef} onSubmit={(event) => void submit(event)} noValidate>
        <div className="form-grid">
          <TextField
            id="new-user-display-name"
            label="Name"
            value={displayName}
            onValue={setDisplayName}
            error={errors['displayName']}
            autoComplete="off"
            autoFocusField
          />
          <TextField
            id="new-user-username"
            label="Username"
            value={username}
            onValue={setUsername}
            error={errors['username']}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
          />
          <SelectField
            id="new-user-role"
            label="Role"
            value={role}
            onValue={(value) => setRole(value as Role)}
            options={ROLE_OPTIONS}
            error={errors['role']}
          />
        </div>
        <BranchScopeField
          idPrefix="new-user"
          branches={branches}
          scope={scope}
          onScope={setScope}
          error={errors['branchIds']}
        />
        <div className="form-grid">
          <TextField
            id="new-user-password"
            label="Password"
            type="password"
            value={password}
            onValue={setPassword}
            error={errors['password']}
            hint={PASSWORD_HINT}
            autoComplete="new-password"
          />
          <TextField
            id="new-user-confirm"
            label="Password again"
            type="password"
            value={confirm}
            onValue={setConfirm}
            error={errors['confirm']}
            autoComplete="new-password"
          />
        </div>
        <ErrorMessage>{error}</ErrorMessage>
        <div className="actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create user'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function EditUserDialog({
  user,
  branches,
  onCancel,
  onSaved,
}: {
  readonly user: UserSummary;
  readonly branches: readonly Branch[];
  readonly onCancel: () => void;
  readonly onSaved: (user: UserSummary) => void;
}) {
  const api = useApi();
  const formRef = useRef<HTMLFormElement>(null);
  const [displayName, setDisplayName] = useState(user.displayName);
  const [role, setRole] = useState<Role>(user.role);
  const [scope, setScope] = useState<BranchScope>({ allBranches: user.allBranches, branchIds: user.branchIds });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError('');
    const changes: ChannelInput<'users.update'> = { userId: user.id };
    if (displayName !== user.displayName) changes.displayName = displayName;
    if (role !== user.role) changes.role = role;
    const sameScope =
      scope.allBranches === user.allBranches &&
      scope.branchIds.length === user.branchIds.length &&
      scope.branchIds.every((id) => user.branchIds.includes(id));
    if (!sameScope) {
      changes.allBranches = scope.allBranches;
      changes.branchIds = scope.allBranches ? [] : [...scope.branchIds];
    }
    const parsed = usersUpdate.input.safeParse(changes);
    const found: Record<string, string> = parsed.success ? {} : { ...fieldErrorsOf(parsed.error) };
    const scopeError = branchScopeError(scope);
    if (scopeError) found['branchIds'] = scopeError;
    if (!parsed.success || Object.keys(found).length > 0) {
      flushSync(() => setErrors(found));
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({});
    if (Object.keys(parsed.data).length === 1) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      onSaved(await api.invoke('users.update', parsed.data));
    } catch (failure) {
      setError(failureText(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={`Change ${user.displayName}`}
      description={<p>A new role or branches applies from their next sign-in; their open sessions end now.</p>}
      onDismiss={onCancel}
      className="dialog-wide"
    >
      <form ref={formRef} onSubmit={(event) => void submit(event)} noValidate>
        <div className="form-grid">
          <TextField
            id="edit-user-display-name"
            label="Name"
            value={displayName}
            onValue={setDisplayName}
            error={errors['displayName']}
            autoComplete="off"
          />
          <SelectField
            id="edit-user-role"
            label="Role"
            value={role}
            onValue={(value) => setRole(value as Role)}
            options={ROLE_OPTIONS}
            error={errors['role']}
            data-autofocus=""
          />
        </div>
        <BranchScopeField
          idPrefix="edit-user"
          branches={branches}
          scope={scope}
          onScope={setScope}
          error={errors['branchIds']}
        />
        <ErrorMessage>{error}</ErrorMessage>
        <div className="actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ResetPasswordDialog({
  user,
  onCancel,
  onReset,
}: {
  readonly user: UserSummary;
  readonly onCancel: () => void;
  readonly onReset: () => void;
}) {
  const api = useApi();
  const formRef = useRef<HTMLFormElement>(null);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError('');
    const found: Record<string, string> = {};
    const policy = password === '' ? 'This field is required.' : passwordProblem(password, user.username);
    if (policy !== null) found['password'] = policy;
    if (confirm !== password) found['confirm'] = 'The two passwords differ.';
    if (Object.keys(found).length > 0) {
      flushSync(() => setErrors(found));
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await api.invoke('users.resetPassword', { userId: user.id, newPassword: password });
      onReset();
    } catch (failure) {
      setError(failureText(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={`Reset the password of ${user.displayName}`}
      description={<p>Their open sessions end now. Tell them the new password in person.</p>}
      onDismiss={onCancel}
    >
      <form ref={formRef} onSubmit={(event) => void submit(event)} noValidate>
        <TextField
          id="reset-password"
          label="New password"
          type="password"
          value={password}
          onValue={setPassword}
          error={errors['password']}
          hint={PASSWORD_HINT}
          autoComplete="new-password"
          autoFocusField
        />
        <TextField
          id="reset-confirm"
          label="New password again"
          type="password"
          value={confirm}
          onValue={setConfirm}
          error={errors['confirm']}
          autoComplete="new-password"
        />
        <ErrorMessage>{error}</ErrorMessage>
        <div className="actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Reset password'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Asks before a consequential action; shows the action's failure in the dialog. */
export function ConfirmDialog({
  title,
  description,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  readonly title: string;
  readonly description: string;
  readonly confirmLabel: string;
  readonly onConfirm: () => Promise<void>;
  readonly onCancel: () => void;
}) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={title} description={<p>{description}</p>} onDismiss={onCancel}>
      <ErrorMessage>{error}</ErrorMessage>
      <div className="actions">
        <button type="button" className="button" onClick={onCancel} data-autofocus="">
          Cancel
        </button>
        <button
          type="button"
          className="button danger"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            setError('');
            onConfirm().catch((failure: unknown) => {
              setError(failureText(failure));
              setBusy(false);
            });
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
