/**
 * A patient's record: medical alerts first (roles that read medical data), then demographics
 * and contact, then the medical history, which Dentists edit in place; and the merge links
 * (patients.merge) both ways, so a merged duplicate's history stays one step away.
 */
import { useEffect, useState } from 'react';
import type { PatientProfile } from '../../../shared/api/patients.js';
import type { MedicalAlert, MedicalHistory, PatientRecord } from '../../../shared/schemas/patients.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import { useHeadingFocus } from '../../app/use-heading-focus.js';
import type { Navigate } from '../../app/views.js';
import { ErrorMessage, Loading, Notice } from '../../components/status.js';
import { ageInYears, formatDate, formatInstant, fullName } from '../../lib/format.js';
import { ArchiveDialog } from './ArchiveDialog.js';
import { MedicalAlertsBanner } from './MedicalAlertsBanner.js';
import { MedicalHistoryEditor } from './MedicalHistoryEditor.js';

const SEX_LABELS: Readonly<Record<PatientRecord['sex'], string>> = {
  female: 'Female',
  male: 'Male',
  other: 'Other',
  unknown: 'Not recorded',
};

export interface PatientProfileScreenProps {
  readonly patientId: string;
  readonly navigate: Navigate;
  readonly notice?: string | undefined;
}

export function PatientProfileScreen({ patientId, navigate, notice: initialNotice }: PatientProfileScreenProps) {
  const api = useApi();
  const [record, setRecord] = useState<PatientProfile | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState(initialNotice ?? '');

  useEffect(() => {
    let cancelled = false;
    api.invoke('patients.get', { patientId }).then(
      (loaded) => {
        if (!cancelled) setRecord(loaded);
      },
      (failure: unknown) => {
        if (!cancelled) setError(errorMessage(failure));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, patientId]);

  if (record === null) {
    return (
      <section className="page">
        <BackToSearch navigate={navigate} />
        {error ? <ErrorMessage>{error}</ErrorMessage> : <Loading label="Opening the record…" />}
      </section>
    );
  }
  return (
    <PatientRecordView
      record={record}
      navigate={navigate}
      notice={notice}
      onRecord={(next, message) => {
        // Edits answer the record without its merge links; those do not change here.
        setRecord((previous) => (previous === null ? null : { ...previous, ...next }));
        setNotice(message);
      }}
    />
  );
}

function BackToSearch({ navigate }: { readonly navigate: Navigate }) {
  return (
    <button type="button" className="button link back-link" onClick={() => navigate({ name: 'patients' })}>
      ← Back to search
    </button>
  );
}

function PatientRecordView({
  record,
  navigate,
  notice,
  onRecord,
}: {
  readonly record: PatientProfile;
  readonly navigate: Navigate;
  readonly notice: string;
  readonly onRecord: (record: PatientRecord, notice: string) => void;
}) {
  const { can } = useSession();
  const headingRef = useHeadingFocus();
  const [archiving, setArchiving] = useState(false);
  const [editingHistory, setEditingHistory] = useState(false);
  const archived = record.archivedAt !== null;
  const age = ageInYears(record.dateOfBirth);
  const showMedical = can('medical.read') && record.medicalHistory !== undefined;

  return (
    <section className="page" aria-labelledby="patient-heading">
      <BackToSearch navigate={navigate} />
      <div className="page-header">
        <div>
          <h1 id="patient-heading" ref={headingRef} tabIndex={-1}>
            {fullName(record)}
          </h1>
          <p className="subtitle">
            <span className="patient-number">{record.patientNumber}</span>
            {archived && <span className="tag tag-muted">Archived {formatInstant(record.archivedAt!)}</span>}
          </p>
        </div>
        <div className="page-actions">
          {can('patients.write') && !archived && (
            <button
              type="button"
              className="button"
              onClick={() => navigate({ name: 'editPatient', patientId: record.id })}
            >
              Edit details
            </button>
          )}
          {can('patients.archive') && !archived && (
            <button type="button" className="button danger-outline" onClick={() => setArchiving(true)}>
              Archive
            </button>
          )}
        </div>
      </div>
      <Notice>{notice}</Notice>

      {record.mergedInto !== null && (
        <div className="message message-notice merge-link">
          <p>This record was merged into another one and is kept for its history.</p>
          <button
            type="button"
            className="button small"
            onClick={() => navigate({ name: 'patient', patientId: record.mergedInto! })}
          >
            Open the record it was merged into
          </button>
        </div>
      )}

      {showMedical && <MedicalAlertsBanner alerts={record.alerts ?? []} />}

      <section className="card" aria-labelledby="details-heading">
        <h2 id="details-heading">Details</h2>
        <dl className="details">
          <div>
            <dt>Date of birth</dt>
            <dd>
              {formatDate(record.dateOfBirth)}
              {age !== null && <span className="muted"> ({age} years)</span>}
            </dd>
          </div>
          <div>
            <dt>Sex</dt>
            <dd>{SEX_LABELS[record.sex]}</dd>
          </div>
          <div>
            <dt>Phone</dt>
            <dd>{record.phone ?? '—'}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>{record.email ?? '—'}</dd>
          </div>
          <div className="details-wide">
            <dt>Address</dt>
            <dd className="preserve-lines">{record.address ?? '—'}</dd>
          </div>
        </dl>
      </section>

      {showMedical &&
        (editingHistory ? (
          <MedicalHistoryEditor
            patientId={record.id}
            history={record.medicalHistory!}
            onSaved={(history: MedicalHistory, alerts: MedicalAlert[]) => {
              setEditingHistory(false);
              onRecord({ ...record, medicalHistory: history, alerts }, 'Medical history saved.');
            }}
            onCancel={() => setEditingHistory(false)}
          />
        ) : (
          <MedicalHistoryView
            history={record.medicalHistory!}
            onEdit={can('medical.write') && !archived ? () => setEditingHistory(true) : undefined}
          />
        ))}

      {record.mergedRecords.length > 0 && (
        <section className="card" aria-labelledby="merged-heading">
          <h2 id="merged-heading">Records merged into this one</h2>
          <ul className="plain-list">
            {record.mergedRecords.map((merged) => (
              <li key={merged.id}>
                <button
                  type="button"
                  className="button link"
                  onClick={() => navigate({ name: 'patient', patientId: merged.id })}
                >
                  {fullName(merged)} · {merged.patientNumber}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}

      {archiving && (
        <ArchiveDialog
          patient={record}
          onCancel={() => setArchiving(false)}
          onArchived={(archivedRecord) => {
            setArchiving(false);
            onRecord(archivedRecord, 'The patient is archived.');
          }}
        />
      )}
    </section>
  );
}

function MedicalHistoryView({
  history,
  onEdit,
}: {
  readonly history: MedicalHistory;
  readonly onEdit: (() => void) | undefined;
}) {
  return (
    <section className="card" aria-labelledby="history-heading">
      <div className="card-header">
        <h2 id="history-heading">Medical history</h2>
        {onEdit && (
          <button type="button" className="button" onClick={onEdit}>
            Edit medical history
          </button>
        )}
      </div>
      <p className="muted">
        {history.updatedAt === null ? 'Never recorded.' : `Last updated ${formatInstant(history.updatedAt)}.`}
      </p>
      <div className="history-columns">
        <div>
          <h3>Allergies</h3>
          <HistoryList
            items={history.allergies.map((allergy) =>
              [
                allergy.substance,
                allergy.severity === 'unknown' ? 'severity unknown' : allergy.severity,
                allergy.reaction,
              ]
                .filter(Boolean)
                .join(' — '),
            )}
          />
        </div>
        <div>
          <h3>Conditions</h3>
          <HistoryList
            items={history.conditions.map((condition) => [condition.name, condition.note].filter(Boolean).join(' — '))}
          />
        </div>
        <div>
          <h3>Medications</h3>
          <HistoryList
            items={history.medications.map((medication) =>
              [medication.name, medication.dose].filter(Boolean).join(' — '),
            )}
          />
        </div>
      </div>
    </section>
  );
}

function HistoryList({ items }: { readonly items: readonly string[] }) {
  if (items.length === 0) return <p className="muted">None recorded.</p>;
  return (
    <ul className="plain-list">
      {items.map((item, index) => (
        <li key={index}>{item}</li>
      ))}
    </ul>
  );
}
