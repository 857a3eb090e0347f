/**
 * The lock screen, over the app after inactivity (or "Lock"): the same user unlocks with their
 * password, or someone else at a shared front-desk PC switches user, which signs the locked
 * session out. An opaque backdrop hides the record underneath.
 */
import type { SessionUser } from '../../../shared/schemas/users.js';
import { type SessionGrant, useApi } from '../../app/contexts.js';
import { PasswordPromptDialog } from './PasswordPromptDialog.js';

export interface LockScreenProps {
  readonly user: SessionUser;
  readonly onUnlocked: (grant: SessionGrant) => void;
  readonly onSwitchUser: () => void;
  readonly onSessionEnded: (message: string) => void;
}

export function LockScreen({ user, onUnlocked, onSwitchUser, onSessionEnded }: LockScreenProps) {
  const api = useApi();
  return (
    <PasswordPromptDialog
      title="Screen locked"
      className="lock-dialog"
      description={
        <p>
          Signed in as <strong>{user.displayName}</strong> ({user.username}). Enter your password to continue.
        </p>
      }
      fieldId="unlock-password"
      check={async (password) => onUnlocked(await api.invoke('auth.unlock', { password }))}
      onSessionEnded={onSessionEnded}
      submitLabel="Unlock"
      busyLabel="Unlocking…"
      onCancel={onSwitchUser}
      cancelLabel="Switch user"
    />
  );
}
