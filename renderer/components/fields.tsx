/** Labelled form controls whose errors are tied to the control (aria-invalid, aria-describedby). */
import type { ChangeEvent, ComponentPropsWithRef, ReactNode } from 'react';

interface FieldFrameProps {
  readonly id: string;
  readonly label: string;
  readonly error?: string | undefined;
  readonly hint?: ReactNode;
  readonly children: ReactNode;
  readonly wide?: boolean | undefined;
}

/** The ids of a field's hint and error, for aria-describedby. */
function describedBy(id: string, error: string | undefined, hint: ReactNode): string | undefined {
  const ids = [hint !== undefined ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean);
  return ids.length > 0 ? ids.join(' ') : undefined;
}

function FieldFrame({ id, label, error, hint, children, wide }: FieldFrameProps) {
  return (
    <div className={['field', error ? 'field-invalid' : null, wide ? 'field-wide' : null].filter(Boolean).join(' ')}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint !== undefined && (
        <p id={`${id}-hint`} className="field-hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

type TextFieldProps = Omit<ComponentPropsWithRef<'input'>, 'onChange' | 'value' | 'id'> & {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly onValue: (value: string) => void;
  readonly error?: string | undefined;
  readonly hint?: ReactNode;
  readonly autoFocusField?: boolean;
  /** Spans the whole row of a form grid. */
  readonly wide?: boolean;
};

export function TextField({ id, label, value, onValue, error, hint, autoFocusField, wide, ...rest }: TextFieldProps) {
  return (
    <FieldFrame id={id} label={label} error={error} hint={hint} wide={wide}>
      <input
        id={id}
        name={id}
        value={value}
        onChange={(event: ChangeEvent<HTMLInputElement>) => onValue(event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        data-autofocus={autoFocusField ? '' : undefined}
        {...rest}
      />
    </FieldFrame>
  );
}

type TextAreaFieldProps = Omit<ComponentPropsWithRef<'textarea'>, 'onChange' | 'value' | 'id'> & {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly onValue: (value: string) => void;
  readonly error?: string | undefined;
  readonly hint?: ReactNode;
  readonly autoFocusField?: boolean;
  /** Spans the whole row of a form grid. */
  readonly wide?: boolean;
};

export function TextAreaField({
  id,
  label,
  value,
  onValue,
  error,
  hint,
  autoFocusField,
  wide,
  ...rest
}: TextAreaFieldProps) {
  return (
    <FieldFrame id={id} label={label} error={error} hint={hint} wide={wide}>
      <textarea
        id={id}
        name={id}
        value={value}
        onChange={(event) => onValue(event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        data-autofocus={autoFocusField ? '' : undefined}
        {...rest}
      />
    </FieldFrame>
  );
}

type SelectFieldProps = Omit<ComponentPropsWithRef<'select'>, 'onChange' | 'value' | 'id'> & {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly onValue: (value: string) => void;
  readonly options: ReadonlyArray<{ readonly value: string; readonly label: string }>;
  readonly error?: string | undefined;
  readonly hint?: ReactNode;
  readonly wide?: boolean;
};

export function SelectField({ id, label, value, onValue, options, error, hint, wide, ...rest }: SelectFieldProps) {
  return (
    <FieldFrame id={id} label={label} error={error} hint={hint} wide={wide}>
      <select
        id={id}
        name={id}
        value={value}
        onChange={(event) => onValue(event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        {...rest}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}
