/**
 * A modal dialog on the native <dialog> element: showModal() makes the rest of the page inert
 * and keeps Tab inside; focus starts on the element marked data-autofocus (else the first
 * field) and returns to whatever opened the dialog when it closes. Escape closes it unless it
 * must not be dismissed (the lock screen).
 */
import { type ReactNode, useEffect, useId, useRef } from 'react';

export interface DialogProps {
  readonly title: string;
  readonly children: ReactNode;
  /** Called on Escape; leave out for a dialog that cannot be dismissed. */
  readonly onDismiss?: () => void;
  readonly className?: string;
  /** Text under the title, read out with it. */
  readonly description?: ReactNode;
}

const FOCUSABLE = 'input:not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled])';

export function Dialog({ title, children, onDismiss, className, description }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return undefined;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector<HTMLElement>('[data-autofocus]') ?? dialog.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    return () => {
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      className={['dialog', className].filter(Boolean).join(' ')}
      aria-labelledby={titleId}
      aria-describedby={description !== undefined ? descriptionId : undefined}
      onCancel={(event) => {
        // The browser would close the element behind React's back; React decides instead.
        event.preventDefault();
        onDismiss?.();
      }}
    >
      <h2 id={titleId} className="dialog-title">
        {title}
      </h2>
      {description !== undefined && (
        <div id={descriptionId} className="dialog-description">
          {description}
        </div>
      )}
      {children}
    </dialog>
  );
}
