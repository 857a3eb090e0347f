/** The end of a form: its failure message, then the cancel and submit buttons. */
import { ErrorMessage } from './status.js';

export interface FormFooterProps {
  /** The failure of the last submission, if any. */
  readonly error: string;
  readonly busy: boolean;
  readonly submitLabel: string;
  /** Shown on the submit button while the submission runs. */
  readonly busyLabel: string;
  /** Leave out for a form with no way back. */
  readonly onCancel?: () => void;
  readonly cancelLabel?: string;
  /** The submit button warns (archiving) instead of inviting. */
  readonly danger?: boolean;
}

export function FormFooter({
  error,
  busy,
  submitLabel,
  busyLabel,
  onCancel,
  cancelLabel = 'Cancel',
  danger = false,
}: FormFooterProps) {
  return (
    <>
      <ErrorMessage>{error}</ErrorMessage>
      <div className="actions">
        {onCancel && (
          <button type="button" className="button" onClick={onCancel}>
            {cancelLabel}
          </button>
        )}
        <button type="submit" className={danger ? 'button danger' : 'button primary'} disabled={busy}>
          {busy ? busyLabel : submitLabel}
        </button>
      </div>
    </>
  );
}
