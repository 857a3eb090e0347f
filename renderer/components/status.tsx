/** Loading, empty, error and notice messages, announced to screen readers. */
import type { ReactNode } from 'react';

/** A failure the user should read now (role=alert is announced at once). */
export function ErrorMessage({ children, id }: { readonly children: ReactNode; readonly id?: string }) {
  if (children === null || children === undefined || children === '') return null;
  return (
    <p className="message message-error" role="alert" id={id}>
      {children}
    </p>
  );
}

/**
 * A status line that is always in the page, so a screen reader announces what is written into it
 * (a live region added together with its text is often not read).
 */
export function StatusLine({ children, className }: { readonly children?: ReactNode; readonly className?: string }) {
  return (
    <p className={['status-line', className].filter(Boolean).join(' ')} role="status" aria-live="polite">
      {children}
    </p>
  );
}

export function Loading({ label = 'Loading…' }: { readonly label?: string }) {
  return (
    <p className="message message-loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

export function EmptyState({ children }: { readonly children: ReactNode }) {
  return <p className="message message-empty">{children}</p>;
}

/** A confirmation that something was saved. */
export function Notice({ children }: { readonly children: ReactNode }) {
  if (children === null || children === undefined || children === '') return null;
  return (
    <p className="message message-notice" role="status">
      {children}
    </p>
  );
}
