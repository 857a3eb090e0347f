/** The dialogs of user administration, checked with the shared schemas and password policy. */
import { type FormEvent, type ReactNode, useState } from 'react';
import { usersCreate, usersUpdate } from '../../../shared/api/users.js';
import { type Role, roles } from '../../../shared/permissions.js';
import type { Branch, UserSummary } from '../../../shared/schemas/users.js';
import type { ChannelInput } from '../../../shared/api/registry.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Dialog } from '../../components/Dialog.js';
import { SelectField, TextField, UsernameField } from '../../components/fields.js';
import { FormDialog } from '../../components/FormDialog.js';
import { ErrorMessage } from '../../components/status.js';
import { type FieldErrors, fieldErrorsOf } from '../../lib/form-errors.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { useSubmission } from '../../lib/use-submission.js';
import { PasswordWithConfirm, checkNewPassword } from '../start/PasswordWithConfirm.js';

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

interface UserProfile {
  readonly displayName: string;
  readonly role: Role;
  readonly scope: BranchScope;
}

/**
 * A user's name, role and branches, as the new-user and change-user dialogs ask them; `username`
 * goes between the name and the role.
 */
function UserProfileFields({
  idPrefix,
  branches,
  profile,
  onProfile,
  errors,
  username,
  focus,
}: {
  readonly idPrefix: string;
  readonly branches: readonly Branch[];
  readonly profile: UserProfile;
  readonly onProfile: (profile: UserProfile) => void;
  readonly errors: FieldErrors;
  readonly username?: ReactNode;
  /** The field the dialog focuses first. */
  readonly focus: 'name' | 'role';
}) {
  return (
    <>
      <div className="form-grid">
        <TextField
          id={`${idPrefix}-display-name`}
          label="Name"
          value={profile.displayName}
          onValue={(displayName) => onProfile({ ...profile, displayName })}
          error={errors['displayName']}
          autoComplete="off"
          autoFocusField={focus === 'name'}
        />
        {username}
        <SelectField
          id={`${idPrefix}-role`}
          label="Role"
          value={profile.role}
          onValue={(role) => onProfile({ ...profile, role: role as Role })}
          options={ROLE_OPTIONS}
          error={errors['role']}
          autoFocusField={focus === 'role'}
        />
      </div>
      <BranchScopeField
        idPrefix={idPrefix}
        branches={branches}
        scope={profile.scope}
        onScope={(scope) => onProfile({ ...profile, scope })}
        error={errors['branchIds']}
      />
    </>
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
  const { formRef, errors, showErrors } = useFieldErrors();
  const [username, setUsername] = useState('');
  const [profile, setProfile] = useState<UserProfile>({
    displayName: '',
    role: 'Receptionist',
    scope: { allBranches: false, branchIds: branches.length === 1 ? [branches[0]!.id] : [] },
  });
  const { displayName, role, scope } = profile;
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const { error, setError, busy, run } = useSubmission(failureText);

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
    checkNewPassword(found, { passwordKey: 'password', password, confirm, username });
    const scopeError = branchScopeError(scope);
    if (scopeError) found['branchIds'] = scopeError;
    if (showErrors(found) || !parsed.success) return;
    const input = parsed.data;
    await run(async () => onCreated(await api.invoke('users.create', input)));
  }

  return (
    <FormDialog
      title="New user"
      onDismiss={onCancel}
      className="dialog-wide"
      formRef={formRef}
      onSubmit={submit}
      error={error}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Create user"
      busyLabel="Creating…"
    >
      <UserProfileFields
        idPrefix="new-user"
        branches={branches}
        profile={profile}
        onProfile={setProfile}
        errors={errors}
        username={
          <UsernameField
            id="new-user-username"
            value={username}
            onValue={setUsername}
            error={errors['username']}
            autoComplete="off"
          />
        }
        focus="name"
      />
      <div className="form-grid">
        <PasswordWithConfirm
          idPrefix="new-user"
          password={password}
          onPassword={setPassword}
          confirm={confirm}
          onConfirm={setConfirm}
          passwordError={errors['password']}
          confirmError={errors['confirm']}
        />
      </div>
    </FormDialog>
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
  const { formRef, errors, showErrors } = useFieldErrors();
  const [profile, setProfile] = useState<UserProfile>({
    displayName: user.displayName,
    role: user.role,
    scope: { allBranches: user.allBranches, branchIds: user.branchIds },
  });
  const { displayName, role, scope } = profile;
  const { error, setError, busy, run } = useSubmission(failureText);

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
    if (showErrors(found) || !parsed.success) return;
    const input = parsed.data;
    if (Object.keys(input).length === 1) {
      onCancel();
      return;
    }
    await run(async () => onSaved(await api.invoke('users.update', input)));
  }

  return (
    <FormDialog
      title={`Change ${user.displayName}`}
      description={<p>A new role or branches applies from their next sign-in; their open sessions end now.</p>}
      onDismiss={onCancel}
      className="dialog-wide"
      formRef={formRef}
      onSubmit={submit}
      error={error}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Save"
      busyLabel="Saving…"
    >
      <UserProfileFields
        idPrefix="edit-user"
        branches={branches}
        profile={profile}
        onProfile={setProfile}
        errors={errors}
        focus="role"
      />
    </FormDialog>
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
  const { formRef, errors, showErrors } = useFieldErrors();
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const { error, setError, busy, run } = useSubmission(failureText);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError('');
    const found: Record<string, string> = {};
    checkNewPassword(found, { passwordKey: 'password', password, confirm, username: user.username, required: true });
    if (showErrors(found)) return;
    await run(async () => {
      await api.invoke('users.resetPassword', { userId: user.id, newPassword: password });
      onReset();
    });
  }

  return (
    <FormDialog
      title={`Reset the password of ${user.displayName}`}
      description={<p>Their open sessions end now. Tell them the new password in person.</p>}
      onDismiss={onCancel}
      formRef={formRef}
      onSubmit={submit}
      error={error}
      busy={busy}
      onCancel={onCancel}
      submitLabel="Reset password"
      busyLabel="Saving…"
    >
      <PasswordWithConfirm
        idPrefix="reset"
        label="New password"
        password={password}
        onPassword={setPassword}
        confirm={confirm}
        onConfirm={setConfirm}
        passwordError={errors['password']}
        confirmError={errors['confirm']}
        autoFocusField
      />
    </FormDialog>
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
