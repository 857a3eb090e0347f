/**
 * The server address and one-time enrollment code that both joining a clinic (first run) and
 * connecting one (Sync screen) ask for: the two fields, and the form state that checks them with
 * the channel's own schema, sends them, and shows a refusal on the field it concerns.
 */
import { type FormEvent, useState } from 'react';
import type { z } from 'zod';
import { TextField } from '../../components/fields.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { SERVER_URL_HINT, serverFieldErrors } from '../start/JoinClinicForm.js';

/** What the two fields hold, as the channels take them. */
export interface ServerEnrollment {
  readonly serverUrl: string;
  readonly enrollmentCode: string;
}

/** Where a refusal is shown: on one field, or for the whole form. */
export interface EnrollmentFailure {
  readonly field?: 'serverUrl' | 'enrollmentCode';
  readonly message: string;
}

/** Form state for a server address and code sent with `send`; `onDone` runs after it succeeded. */
export function useServerEnrollmentForm<Result>(options: {
  readonly schema: z.ZodType<ServerEnrollment, unknown>;
  readonly send: (input: ServerEnrollment) => Promise<Result>;
  readonly describeFailure: (failure: unknown) => EnrollmentFailure;
  readonly onDone: (result: Result, input: ServerEnrollment) => void | Promise<void>;
}) {
  const { formRef, errors, showErrors } = useFieldErrors();
  const [serverUrl, setServerUrl] = useState('');
  const [enrollmentCode, setEnrollmentCode] = useState('');
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setFormError('');
    const parsed = options.schema.safeParse({ serverUrl, enrollmentCode });
    if (!parsed.success) {
      showErrors(serverFieldErrors(parsed.error, serverUrl));
      return;
    }
    showErrors({});
    setBusy(true);
    let result: Result;
    try {
      result = await options.send(parsed.data);
    } catch (failure) {
      const shown = options.describeFailure(failure);
      if (shown.field !== undefined) showErrors({ [shown.field]: shown.message });
      else setFormError(shown.message);
      setBusy(false);
      return;
    }
    await options.onDone(result, parsed.data);
  }

  const fields = { serverUrl, setServerUrl, enrollmentCode, setEnrollmentCode, errors };
  return { formRef, fields, formError, busy, submit };
}

/** The address and code fields; `idPrefix` keeps their ids unique on the page. */
export function ServerEnrollmentFields({
  idPrefix,
  fields,
  codeHint,
  focusFirst,
}: {
  readonly idPrefix: string;
  readonly fields: ReturnType<typeof useServerEnrollmentForm>['fields'];
  readonly codeHint?: string;
  /** `page` focuses the address when the form appears; `dialog` marks it for the dialog to focus. */
  readonly focusFirst: 'page' | 'dialog';
}) {
  return (
    <>
      <TextField
        id={`${idPrefix}-server-url`}
        label="Server address"
        value={fields.serverUrl}
        onValue={fields.setServerUrl}
        error={fields.errors['serverUrl']}
        hint={SERVER_URL_HINT}
        inputMode="url"
        autoCapitalize="none"
        spellCheck={false}
        autoComplete="url"
        autoFocus={focusFirst === 'page'}
        autoFocusField={focusFirst === 'dialog'}
      />
      <TextField
        id={`${idPrefix}-enrollment-code`}
        label="Enrollment code"
        value={fields.enrollmentCode}
        onValue={fields.setEnrollmentCode}
        error={fields.errors['enrollmentCode']}
        hint={codeHint}
        autoCapitalize="characters"
        autoComplete="off"
        spellCheck={false}
      />
    </>
  );
}
