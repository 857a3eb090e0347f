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

/** What every field takes besides the attributes of its control. */
interface FieldProps {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly onValue: (value: string) => void;
  readonly error?: string | undefined;
  readonly hint?: ReactNode;
  /** Marks the control as the one a dialog focuses first. */
  readonly autoFocusField?: boolean;
  /** Spans the whole row of a form grid. */
  readonly wide?: boolean;
}

/** A field's control element's props, without the ones FieldProps replaces. */
type ControlProps<Tag extends 'input' | 'textarea' | 'select'> = Omit<
  ComponentPropsWithRef<Tag>,
  'onChange' | 'value' | 'id'
>;

/**
 * Splits a field's props into the frame's (label, hint, error), its control's (name, value, change
 * handler and the ARIA ties to hint and error) and the rest, which go to the control as given.
 */
function splitFieldProps<Props extends FieldProps>({
  id,
  label,
  value,
  onValue,
  error,
  hint,
  autoFocusField,
  wide,
  ...rest
}: Props) {
  return {
    frame: { id, label, error, hint, wide },
    control: {
      id,
      name: id,
      value,
      onChange: (event: ChangeEvent<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) =>
        onValue(event.target.value),
      'aria-invalid': error ? true : undefined,
      'aria-describedby': describedBy(id, error, hint),
      'data-autofocus': autoFocusField ? '' : undefined,
    },
    rest,
  };
}

export function TextField(props: FieldProps & ControlProps<'input'>) {
  const { frame, control, rest } = splitFieldProps(props);
  return (
    <FieldFrame {...frame}>
      <input {...control} {...rest} />
    </FieldFrame>
  );
}

export function TextAreaField(props: FieldProps & ControlProps<'textarea'>) {
  const { frame, control, rest } = splitFieldProps(props);
  return (
    <FieldFrame {...frame}>
      <textarea {...control} {...rest} />
    </FieldFrame>
  );
}

export type SelectOptions = ReadonlyArray<{ readonly value: string; readonly label: string }>;

export function SelectField({
  options,
  ...props
}: FieldProps & ControlProps<'select'> & { readonly options: SelectOptions }) {
  const { frame, control, rest } = splitFieldProps(props);
  return (
    <FieldFrame {...frame}>
      <select {...control} {...rest}>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}

/** A username: typed as it is, never capitalised or spell-checked. */
export function UsernameField(props: Omit<FieldProps & ControlProps<'input'>, 'label'>) {
  return <TextField label="Username" autoCapitalize="none" spellCheck={false} {...props} />;
}
