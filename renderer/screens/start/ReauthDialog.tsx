/**
 * Asked when a channel answers REAUTH_REQUIRED (user administration, the audit log): the user
 * confirms their password, and the call that needed it is retried once.
 */
import { useApi } from '../../app/contexts.js';
import { PasswordPromptDialog } from './PasswordPromptDialog.js';

export interface ReauthDialogProps {
  readonly onDone: (confirmed: boolean) => void;
  readonly onSessionEnded: (message: string) => void;
}

export function ReauthDialog({ onDone, onSessionEnded }: ReauthDialogProps) {
  const api = useApi();
  const cancel = () => onDone(false);
  return (
    <PasswordPromptDialog
      title="Confirm your password"
      description={<p>This action needs your password again, to be sure it is still you at this computer.</p>}
      onDismiss={cancel}
      fieldId="reauth-password"
      check={async (password) => {
        await api.invoke('auth.reauthenticate', { password });
        onDone(true);
      }}
      onSessionEnded={onSessionEnded}
      submitLabel="Confirm"
      busyLabel="Checking…"
      onCancel={cancel}
      cancelLabel="Cancel"
    />
  );
}
