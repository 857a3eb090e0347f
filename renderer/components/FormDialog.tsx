/** A dialog that is one form: its fields, then the form's failure message and buttons. */
import type { FormEvent, ReactNode, Ref } from 'react';
import { Dialog, type DialogProps } from './Dialog.js';
import { FormFooter, type FormFooterProps } from './FormFooter.js';

export interface FormDialogProps extends Omit<DialogProps, 'children'>, FormFooterProps {
  readonly onSubmit: (event: FormEvent) => Promise<void>;
  readonly formRef?: Ref<HTMLFormElement>;
  /** The form's fields. */
  readonly children: ReactNode;
}

export function FormDialog({
  title,
  description,
  onDismiss,
  className,
  onSubmit,
  formRef,
  children,
  ...footer
}: FormDialogProps) {
  return (
    <Dialog title={title} description={description} onDismiss={onDismiss} className={className}>
      <form ref={formRef} onSubmit={(event) => void onSubmit(event)} noValidate>
        {children}
        <FormFooter {...footer} />
      </form>
    </Dialog>
  );
}
