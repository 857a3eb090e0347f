/**
 * A new password typed twice, with the policy as its hint, and the check of the two together:
 * the shared password policy, and that the copies match.
 */
import { passwordProblem } from '../../../shared/password-policy.js';
import { TextField } from '../../components/fields.js';
import { PASSWORD_HINT } from './password-hint.js';

export interface PasswordWithConfirmProps {
  /** The fields' ids are `${idPrefix}-password` and `${idPrefix}-confirm`. */
  readonly idPrefix: string;
  /** The first field's label; the second's adds "again". */
  readonly label?: string;
  readonly password: string;
  readonly onPassword: (value: string) => void;
  readonly confirm: string;
  readonly onConfirm: (value: string) => void;
  readonly passwordError: string | undefined;
  readonly confirmError: string | undefined;
  readonly autoFocusField?: boolean;
}

export function PasswordWithConfirm({
  idPrefix,
  label = 'Password',
  password,
  onPassword,
  confirm,
  onConfirm,
  passwordError,
  confirmError,
  autoFocusField = false,
}: PasswordWithConfirmProps) {
  return (
    <>
      <TextField
        id={`${idPrefix}-password`}
        label={label}
        type="password"
        value={password}
        onValue={onPassword}
        error={passwordError}
        hint={PASSWORD_HINT}
        autoComplete="new-password"
        autoFocusField={autoFocusField}
      />
      <TextField
        id={`${idPrefix}-confirm`}
        label={`${label} again`}
        type="password"
        value={confirm}
        onValue={onConfirm}
        error={confirmError}
        autoComplete="new-password"
      />
    </>
  );
}

/**
 * Adds to `found` the policy's objection to the password, under `passwordKey` unless that field
 * already has an error, and under "confirm" a second copy that differs. An empty password is
 * left to the schema's check unless `required`.
 */
export function checkNewPassword(
  found: Record<string, string>,
  { passwordKey, password, confirm, username, required = false }: NewPasswordCheck,
): void {
  const policy = password === '' ? (required ? 'This field is required.' : null) : passwordProblem(password, username);
  if (policy !== null) found[passwordKey] ??= policy;
  if (confirm !== password) found['confirm'] = 'The two passwords differ.';
}

interface NewPasswordCheck {
  readonly passwordKey: string;
  readonly password: string;
  readonly confirm: string;
  readonly username: string;
  readonly required?: boolean;
}
