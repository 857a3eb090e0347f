/**
 * User administration (Admin): who works here, in which role and branches, and whether the
 * account is disabled or locked out; create, change, disable, reset a password, lift a lockout.
 * Every change needs a fresh password confirmation, which the API client asks for when main
 * answers REAUTH_REQUIRED.
 */
import { useCallback, useEffect, useState } from 'react';
import type { Branch, UserSummary } from '../../../shared/schemas/users.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import { ErrorMessage, Loading, Notice } from '../../components/status.js';
import { formatTime } from '../../lib/format.js';
import { ConfirmDialog, CreateUserDialog, EditUserDialog, ResetPasswordDialog } from './UserDialogs.js';

type OpenDialog =
  | { readonly kind: 'create' }
  | { readonly kind: 'edit'; readonly user: UserSummary }
  | { readonly kind: 'reset'; readonly user: UserSummary }
  | { readonly kind: 'disable'; readonly user: UserSummary };

/** A user's state in words: disabled, locked (and until when), or active. */
export function accountState(user: UserSummary, now = Date.now()): { label: string; tone: 'ok' | 'warn' | 'off' } {
  if (user.disabled) return { label: 'Disabled', tone: 'off' };
  if (user.lockedUntilAdminUnlock) return { label: 'Locked — needs an administrator to unlock', tone: 'warn' };
  if (user.lockedUntil !== null && user.lockedUntil > now) {
    return { label: `Locked until ${formatTime(user.lockedUntil)}`, tone: 'warn' };
  }
  return { label: 'Active', tone: 'ok' };
}

export function UsersScreen() {
  const api = useApi();
  const { can, user: me } = useSession();
  const [users, setUsers] = useState<UserSummary[] | null>(null);
  const [branches, setBranches] = useState<Branch[]>([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const [rowError, setRowError] = useState('');

  const load = useCallback(async () => {
    try {
      const [listed, branchList] = await Promise.all([api.invoke('users.list', {}), api.invoke('branches.list', {})]);
      setUsers(listed.users);
      setBranches(branchList.branches);
      setError('');
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  const branchNames = (user: UserSummary) =>
    user.allBranches
      ? 'All branches'
      : user.branchIds.map((id) => branches.find((branch) => branch.id === id)?.name ?? 'Unknown branch').join(', ') ||
        'None';

  /** After a change: refresh the list and say what happened. */
  const changed = (message: string) => {
    setDialog(null);
    setNotice(message);
    setRowError('');
    void load();
  };

  async function unlock(user: UserSummary) {
    setRowError('');
    try {
      await api.invoke('users.unlock', { userId: user.id });
      changed(`${user.displayName} can sign in again.`);
    } catch (failure) {
      setRowError(errorMessage(failure));
    }
  }

  async function enable(user: UserSummary) {
    setRowError('');
    try {
      await api.invoke('users.update', { userId: user.id, disabled: false });
      changed(`${user.displayName} is enabled.`);
    } catch (failure) {
      setRowError(errorMessage(failure));
    }
  }

  const manage = can('users.manage');
  return (
    <section className="page" aria-labelledby="users-heading">
      <div className="page-header">
        <h1 id="users-heading">Users</h1>
        {manage && (
          <button type="button" className="button primary" onClick={() => setDialog({ kind: 'create' })}>
            New user
          </button>
        )}
      </div>
      <Notice>{notice}</Notice>
      <ErrorMessage>{rowError}</ErrorMessage>
      {users === null ? (
        error ? (
          <ErrorMessage>{error}</ErrorMessage>
        ) : (
          <Loading label="Loading users…" />
        )
      ) : users.length === 0 ? (
        <p className="message message-empty">No users yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Clinic users</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Branches</th>
                <th scope="col">Status</th>
                {manage && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {users.map((user) => {
                const state = accountState(user);
                const locked = state.tone === 'warn';
                return (
                  <tr key={user.id} data-username={user.username}>
                    <th scope="row">{user.displayName}</th>
                    <td>{user.username}</td>
                    <td>{user.role}</td>
                    <td>{branchNames(user)}</td>
                    <td>
                      <span className={`state state-${state.tone}`}>{state.label}</span>
                    </td>
                    {manage && (
                      <td>
                        <div className="row-actions">
                          <button
                            type="button"
                            className="button small"
                            onClick={() => setDialog({ kind: 'edit', user })}
                            aria-label={`Change role or branches of ${user.displayName}`}
                          >
                            Change
                          </button>
                          <button
                            type="button"
                            className="button small"
                            onClick={() => setDialog({ kind: 'reset', user })}
                            // The name starts with the visible text (WCAG 2.5.3, label in name).
                            aria-label={`Reset password for ${user.displayName}`}
                          >
                            Reset password
                          </button>
                          {locked && (
                            <button
                              type="button"
                              className="button small"
                              onClick={() => void unlock(user)}
                              aria-label={`Unlock ${user.displayName}`}
                            >
                              Unlock
                            </button>
                          )}
                          {user.id !== me.id &&
                            (user.disabled ? (
                              <button
                                type="button"
                                className="button small"
                                onClick={() => void enable(user)}
                                aria-label={`Enable ${user.displayName}`}
                              >
                                Enable
                              </button>
                            ) : (
                              <button
                                type="button"
                                className="button small danger-outline"
                                onClick={() => setDialog({ kind: 'disable', user })}
                                aria-label={`Disable ${user.displayName}`}
                              >
                                Disable
                              </button>
                            ))}
                        </div>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {dialog?.kind === 'create' && (
        <CreateUserDialog
          branches={branches}
          onCancel={() => setDialog(null)}
          onCreated={(user) => changed(`${user.displayName} can now sign in as ${user.username}.`)}
        />
      )}
      {dialog?.kind === 'edit' && (
        <EditUserDialog
          user={dialog.user}
          branches={branches}
          onCancel={() => setDialog(null)}
          onSaved={(user) => changed(`${user.displayName} is saved.`)}
        />
      )}
      {dialog?.kind === 'reset' && (
        <ResetPasswordDialog
          user={dialog.user}
          onCancel={() => setDialog(null)}
          onReset={() => changed(`The password of ${dialog.user.displayName} is reset.`)}
        />
      )}
      {dialog?.kind === 'disable' && (
        <ConfirmDialog
          title={`Disable ${dialog.user.displayName}?`}
          description="They can no longer sign in, and their open sessions end now. You can enable the account again later."
          confirmLabel="Disable user"
          onCancel={() => setDialog(null)}
          onConfirm={async () => {
            await api.invoke('users.update', { userId: dialog.user.id, disabled: true });
            changed(`${dialog.user.displayName} is disabled.`);
          }}
        />
      )}
    </section>
  );
}
