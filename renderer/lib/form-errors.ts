/**
 * Turns zod issues from the shared schemas into one plain-language message per field, keyed by
 * the issue's path ("admin.password", "allergies.0.substance").
 */
import type { z } from 'zod';

/** Field path → message. */
export type FieldErrors = Readonly<Record<string, string>>;

function sentence(text: string): string {
  const trimmed = text.trim();
  const capitalised = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

/** One issue in words a receptionist would use. */
export function plainIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      if (issue.origin === 'string') {
        return Number(issue.minimum) <= 1 ? 'This field is required.' : `Use at least ${issue.minimum} characters.`;
      }
      return `Add at least ${issue.minimum}.`;
    case 'too_big':
      if (issue.origin === 'string') return `Use at most ${issue.maximum} characters.`;
      return `Use at most ${issue.maximum}.`;
    case 'invalid_type':
      return issue.input === undefined || issue.input === null ? 'This field is required.' : 'This value is not valid.';
    case 'invalid_format':
      if (issue.format === 'email') return 'Enter an email address such as name@example.com.';
      if (issue.format === 'date') return 'Enter a date (day, month and year).';
      // Schemas give their patterns a message of their own ("must be a phone number").
      return issue.message.startsWith('Invalid') ? 'This is not in the expected format.' : sentence(issue.message);
    case 'invalid_value':
      return 'Choose one of the options.';
    case 'custom':
      return sentence(issue.message);
    default:
      return sentence(issue.message);
  }
}

/** The first message for each field of a failed parse. */
export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const errors: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.map(String).join('.') || 'form';
    errors[key] ??= plainIssue(issue);
  }
  return errors;
}

/** True when there is at least one error. */
export function hasErrors(errors: FieldErrors): boolean {
  return Object.keys(errors).length > 0;
}

/** Moves focus to the first invalid control of a form, so keyboard users land on the problem. */
export function focusFirstInvalid(form: HTMLElement | null): void {
  form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
}
