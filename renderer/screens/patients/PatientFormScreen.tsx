/**
 * Registering a patient and editing their details, checked with the shared
 * patientDemographicsSchema before sending; each field shows its own error. Editing sends only
 * the fields that changed (patients.update changes only the fields given). While registering, as
 * soon as the name and date of birth (and the phone, when typed) match a registered patient, the
 * form says so with a link to that record (patients.findDuplicates); registering stays possible.
 */
import { type FormEvent, useEffect, useState } from 'react';
import {
  type PatientRecord,
  type PatientSearchResult,
  patientDemographicsSchema,
  phoneSchema,
  possibleDuplicateQuerySchema,
} from '../../../shared/schemas/patients.js';
import type { Branch } from '../../../shared/schemas/users.js';
import type { ChannelInput } from '../../../shared/api/registry.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { useHeadingFocus } from '../../app/use-heading-focus.js';
import type { Navigate } from '../../app/views.js';
import { SelectField, TextAreaField, TextField } from '../../components/fields.js';
import { FormFooter } from '../../components/FormFooter.js';
import { ErrorMessage, Loading } from '../../components/status.js';
import { fieldErrorsOf } from '../../lib/form-errors.js';
import { useFieldErrors } from '../../lib/use-field-errors.js';
import { useSubmission } from '../../lib/use-submission.js';
import { fullName } from '../../lib/format.js';

interface FormValues {
  firstName: string;
  lastName: string;
  dateOfBirth: string;
  sex: PatientRecord['sex'];
  phone: string;
  email: string;
  address: string;
}

const EMPTY: FormValues = {
  firstName: '',
  lastName: '',
  dateOfBirth: '',
  sex: 'unknown',
  phone: '',
  email: '',
  address: '',
};

const SEX_OPTIONS = [
  { value: 'unknown', label: 'Not recorded' },
  { value: 'female', label: 'Female' },
  { value: 'male', label: 'Male' },
  { value: 'other', label: 'Other' },
];

const DEMOGRAPHIC_FIELDS = ['firstName', 'lastName', 'dateOfBirth', 'sex', 'phone', 'email', 'address'] as const;

function valuesOf(record: PatientRecord): FormValues {
  return {
    firstName: record.firstName,
    lastName: record.lastName,
    dateOfBirth: record.dateOfBirth ?? '',
    sex: record.sex,
    phone: record.phone ?? '',
    email: record.email ?? '',
    address: record.address ?? '',
  };
}

/** Empty optional fields are sent as null (cleared), as the schema expects. */
function demographicsInput(values: FormValues) {
  const orNull = (text: string) => (text.trim() === '' ? null : text);
  return {
    firstName: values.firstName,
    lastName: values.lastName,
    dateOfBirth: orNull(values.dateOfBirth),
    sex: values.sex,
    phone: orNull(values.phone),
    email: orNull(values.email),
    address: orNull(values.address),
  };
}

export interface PatientFormScreenProps {
  readonly navigate: Navigate;
  /** The patient to edit; without it the form registers a new patient. */
  readonly patientId?: string;
}

export function PatientFormScreen({ navigate, patientId }: PatientFormScreenProps) {
  const api = useApi();
  const [original, setOriginal] = useState<PatientRecord | null>(null);
  const [branches, setBranches] = useState<Branch[] | null>(null);
  const [loadError, setLoadError] = useState('');

  useEffect(() => {
    let cancelled = false;
    const load = patientId
      ? api.invoke('patients.get', { patientId }).then((record) => {
          if (!cancelled) setOriginal(record);
        })
      : // Main lists only the branches this user works in.
        api.invoke('branches.list', {}).then(({ branches: listed }) => {
          if (!cancelled) setBranches(listed);
        });
    load.catch((failure: unknown) => {
      if (!cancelled) setLoadError(errorMessage(failure));
    });
    return () => {
      cancelled = true;
    };
  }, [api, patientId]);

  if (loadError) {
    return (
      <section className="page">
        <ErrorMessage>{loadError}</ErrorMessage>
      </section>
    );
  }
  if (patientId ? original === null : branches === null) return <Loading />;
  return <PatientForm navigate={navigate} original={original} branches={branches ?? []} />;
}

function PatientForm({
  navigate,
  original,
  branches,
}: {
  readonly navigate: Navigate;
  readonly original: PatientRecord | null;
  readonly branches: readonly Branch[];
}) {
  const api = useApi();
  const headingRef = useHeadingFocus();
  const { formRef, errors, setErrors, showErrors } = useFieldErrors();
  const [values, setValues] = useState<FormValues>(original ? valuesOf(original) : EMPTY);
  const [branchId, setBranchId] = useState(branches[0]?.id ?? '');
  const { error: formError, setError: setFormError, busy, run } = useSubmission();
  const possibleDuplicate = usePossibleDuplicate(original === null, values);

  /** A field's value, its change handler and its error. */
  const bind = (field: keyof FormValues) => ({
    value: values[field],
    onValue: (value: string) => {
      setValues((current) => ({ ...current, [field]: value }));
      // A corrected field stops showing its old error; the rest stay until the next save.
      setErrors(({ [field]: _fixed, ...rest }) => rest);
    },
    error: errors[field],
  });
  const cancel = () => navigate(original ? { name: 'patient', patientId: original.id } : { name: 'patients' });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFormError('');
    const parsed = patientDemographicsSchema.safeParse(demographicsInput(values));
    const found: Record<string, string> = parsed.success ? {} : { ...fieldErrorsOf(parsed.error) };
    if (!original && branchId === '') found['branchId'] = 'Choose the branch the patient is registered at.';
    if (showErrors(found) || !parsed.success) return;
    const input = parsed.data;
    await run(async () => {
      if (original) {
        const changes: ChannelInput<'patients.update'> = { patientId: original.id };
        for (const field of DEMOGRAPHIC_FIELDS) {
          const next = input[field] ?? null;
          if (next !== (original[field] ?? null)) Object.assign(changes, { [field]: next });
        }
        if (Object.keys(changes).length === 1) {
          navigate({ name: 'patient', patientId: original.id, notice: 'Nothing was changed.' });
          return;
        }
        await api.invoke('patients.update', changes);
        navigate({ name: 'patient', patientId: original.id, notice: 'Changes saved.' });
      } else {
        const created = await api.invoke('patients.create', { ...input, branchId });
        navigate({
          name: 'patient',
          patientId: created.id,
          notice: `${fullName(created)} is registered as ${created.patientNumber}.`,
        });
      }
    });
  }

  return (
    <section className="page" aria-labelledby="patient-form-heading">
      <h1 id="patient-form-heading" ref={headingRef} tabIndex={-1}>
        {original ? `Edit ${fullName(original)}` : 'New patient'}
      </h1>
      <form ref={formRef} className="card" onSubmit={(event) => void submit(event)} noValidate>
        <div className="form-grid">
          <TextField id="patient-first-name" label="First name" {...bind('firstName')} autoComplete="off" />
          <TextField id="patient-last-name" label="Last name" {...bind('lastName')} autoComplete="off" />
          <TextField id="patient-dob" label="Date of birth" type="date" {...bind('dateOfBirth')} />
          <SelectField id="patient-sex" label="Sex" {...bind('sex')} options={SEX_OPTIONS} />
          <TextField
            id="patient-phone"
            label="Phone"
            type="tel"
            {...bind('phone')}
            hint="With country code if abroad, e.g. +91 98450 12345."
            autoComplete="off"
          />
          <TextField id="patient-email" label="Email" type="email" {...bind('email')} autoComplete="off" />
          <TextAreaField id="patient-address" label="Address" {...bind('address')} rows={3} wide />
          {!original && branches.length > 1 && (
            <SelectField
              id="patient-branch"
              label="Branch"
              value={branchId}
              onValue={setBranchId}
              options={branches.map((branch) => ({ value: branch.id, label: branch.name }))}
              error={errors['branchId']}
            />
          )}
        </div>
        <div role="status" className="possible-duplicate">
          {possibleDuplicate && (
            <p className="message message-notice">
              Possible existing patient: {possibleDuplicate.patientNumber} {fullName(possibleDuplicate)} —{' '}
              <button
                type="button"
                className="button link"
                onClick={() => navigate({ name: 'patient', patientId: possibleDuplicate.id })}
              >
                open it?
              </button>
            </p>
          )}
        </div>
        {!original && branches.length === 0 && (
          <ErrorMessage>You are not assigned to a branch yet; ask an administrator.</ErrorMessage>
        )}
        <FormFooter
          error={formError}
          busy={busy}
          onCancel={cancel}
          submitLabel={original ? 'Save changes' : 'Register patient'}
          busyLabel="Saving…"
        />
      </form>
    </section>
  );
}

/**
 * The first registered patient the form's name, date of birth and phone (when it is a valid one)
 * would duplicate, or null. Asks again whenever one of those fields changes; an answer for fields
 * since changed is dropped.
 */
function usePossibleDuplicate(registering: boolean, values: FormValues): PatientSearchResult | null {
  const api = useApi();
  const [match, setMatch] = useState<PatientSearchResult | null>(null);
  const { firstName, lastName, dateOfBirth, phone } = values;
  useEffect(() => {
    const query = possibleDuplicateQuerySchema.safeParse({
      firstName,
      lastName,
      dateOfBirth,
      phone: phoneSchema.safeParse(phone).success ? phone : null,
    });
    if (!registering || !query.success) {
      setMatch(null);
      return;
    }
    let current = true;
    api
      .invoke('patients.findDuplicates', query.data)
      .then(({ matches }) => {
        if (current) setMatch(matches[0] ?? null);
      })
      .catch(() => {
        // The warning is a help, not a gate: if the check fails, registering goes on without it.
        if (current) setMatch(null);
      });
    return () => {
      current = false;
    };
  }, [api, registering, firstName, lastName, dateOfBirth, phone]);
  return match;
}
