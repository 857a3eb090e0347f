/** A form's per-field errors, shown with focus moved to the first invalid field. */
import { useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { type FieldErrors, focusFirstInvalid, hasErrors } from './form-errors.js';

export function useFieldErrors() {
  const formRef = useRef<HTMLFormElement>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  /**
   * Shows the errors a check found, rendered at once so the first invalid field can take focus,
   * or clears the old ones when it found none. True when there were errors.
   */
  const showErrors = (found: FieldErrors): boolean => {
    if (!hasErrors(found)) {
      setErrors({});
      return false;
    }
    flushSync(() => setErrors(found));
    focusFirstInvalid(formRef.current);
    return true;
  };
  return { formRef, errors, setErrors, showErrors };
}
