/**
 * The conflicts inbox (conflicts.list): what sync kept for a person to review instead of
 * settling it silently. Possible duplicate patients side by side, with merge and "not the same
 * person"; values that lost a concurrent edit (which value lost to which, when, on which
 * computer); and this computer's changes the sync server refused, with its reason.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ConflictsList, DuplicatePair, DuplicatePatient } from '../../../shared/api/conflicts.js';
import type { Branch } from '../../../shared/schemas/users.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import { useHeadingFocus } from '../../app/use-heading-focus.js';
import type { Navigate } from '../../app/views.js';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/status.js';
import { formatDate, formatInstant, fullName } from '../../lib/format.js';
import {
  conflictValueWords,
  duplicateReasonWords,
  entityWords,
  fieldWords,
  refusalDetailWords,
  refusalWords,
  writeOrigin,
} from './conflict-words.js';
import { DismissDuplicateDialog, MergeDialog } from './DuplicateDialogs.js';

type OpenDialog =
  { readonly kind: 'merge'; readonly pair: DuplicatePair } | { readonly kind: 'dismiss'; readonly pair: DuplicatePair };

/** A stable key and accessible name for a pair. */
function pairKey(pair: DuplicatePair): string {
  return `${pair.first.id}-${pair.second.id}-${pair.reason}`;
}

export function ConflictsScreen({ navigate }: { readonly navigate: Navigate }) {
  const api = useApi();
  const { can } = useSession();
  const headingRef = useHeadingFocus();
  const [list, setList] = useState<ConflictsList | null>(null);
  const [branches, setBranches] = useState<readonly Branch[]>([]);
  const [includeResolved, setIncludeResolved] = useState(false);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [dialog, setDialog] = useState<OpenDialog | null>(null);

  const load = useCallback(async () => {
    try {
      const [listed, branchList] = await Promise.all([
        api.invoke('conflicts.list', { includeResolved, limit: 200 }),
        api.invoke('branches.list', {}),
      ]);
      setList(listed);
      setBranches(branchList.branches);
      setError('');
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }, [api, includeResolved]);

  useEffect(() => {
    void load();
  }, [load]);

  const branchName = (id: string) => branches.find((branch) => branch.id === id)?.name ?? 'Unknown branch';
  // Patient and medical-history rows are keyed by the patient's id; other entities have no screen here.
  const openRecord = (entity: string, rowId: string) =>
    entity === 'patient' || entity === 'patient_medical' ? () => navigate({ name: 'patient', patientId: rowId }) : null;
  const done = (message: string) => {
    setDialog(null);
    setNotice(message);
    void load();
  };

  return (
    <section className="page" aria-labelledby="conflicts-heading">
      <div className="page-header">
        <h1 id="conflicts-heading" ref={headingRef} tabIndex={-1}>
          Conflicts
        </h1>
        <div className="page-actions">
          <button type="button" className="button" onClick={() => navigate({ name: 'sync' })}>
            Back to Sync
          </button>
          <button type="button" className="button" onClick={() => void load()}>
            Refresh
          </button>
        </div>
      </div>
      <p className="subtitle">
        Sync keeps what it cannot settle on its own and lists it here. Nothing in this list was dropped.
      </p>
      <Notice>{notice}</Notice>
      {list === null ? (
        error ? (
          <ErrorMessage>{error}</ErrorMessage>
        ) : (
          <Loading label="Loading conflicts…" />
        )
      ) : (
        <>
          <ErrorMessage>{error}</ErrorMessage>
          <section className="panel" aria-labelledby="duplicates-heading">
            <div className="panel-header">
              <h2 id="duplicates-heading">Possible duplicate patients</h2>
              <div className="check-row">
                <input
                  id="show-resolved"
                  type="checkbox"
                  checked={includeResolved}
                  onChange={(event) => setIncludeResolved(event.target.checked)}
                />
                <label htmlFor="show-resolved">Show merged and dismissed pairs</label>
              </div>
            </div>
            {list.duplicates.length === 0 ? (
              <EmptyState>No possible duplicates.</EmptyState>
            ) : (
              <ul className="duplicate-list">
                {list.duplicates.map((pair) => (
                  <DuplicatePairCard
                    key={pairKey(pair)}
                    pair={pair}
                    branchName={branchName}
                    mayMerge={can('patients.archive')}
                    mayDismiss={can('patients.write')}
                    onMerge={() => setDialog({ kind: 'merge', pair })}
                    onDismiss={() => setDialog({ kind: 'dismiss', pair })}
                    onOpen={(patientId) => navigate({ name: 'patient', patientId })}
                  />
                ))}
              </ul>
            )}
          </section>
          <FieldConflictsTable conflicts={list.fieldConflicts} onOpen={openRecord} />
          <RefusedChangesTable refused={list.refused} onOpen={openRecord} />
        </>
      )}
      {dialog?.kind === 'merge' && (
        <MergeDialog
          pair={dialog.pair}
          onCancel={() => setDialog(null)}
          onMerged={({ survivor, duplicate }) =>
            done(`${fullName(duplicate)} (${duplicate.patientNumber}) is merged into ${survivor.patientNumber}.`)
          }
        />
      )}
      {dialog?.kind === 'dismiss' && (
        <DismissDuplicateDialog
          pair={dialog.pair}
          onCancel={() => setDialog(null)}
          onDismissed={() => done('Both records are kept as different people.')}
        />
      )}
    </section>
  );
}

const STATUS_WORDS = { open: 'To review', merged: 'Merged', dismissed: 'Different people' } as const;

function DuplicatePairCard({
  pair,
  branchName,
  mayMerge,
  mayDismiss,
  onMerge,
  onDismiss,
  onOpen,
}: {
  readonly pair: DuplicatePair;
  readonly branchName: (id: string) => string;
  readonly mayMerge: boolean;
  readonly mayDismiss: boolean;
  readonly onMerge: () => void;
  readonly onDismiss: () => void;
  readonly onOpen: (patientId: string) => void;
}) {
  const names = `${fullName(pair.first)} and ${fullName(pair.second)}`;
  const rows: ReadonlyArray<{ label: string; value: (patient: DuplicatePatient) => string }> = [
    { label: 'Patient number', value: (patient) => patient.patientNumber },
    { label: 'Date of birth', value: (patient) => formatDate(patient.dateOfBirth) },
    { label: 'Phone', value: (patient) => patient.phone ?? '—' },
    { label: 'Branch', value: (patient) => branchName(patient.branchId) },
    { label: 'Registered', value: (patient) => formatInstant(patient.createdAt) },
    {
      label: 'State',
      value: (patient) => (patient.mergedInto !== null ? 'Merged' : patient.archived ? 'Archived' : 'Active'),
    },
  ];
  return (
    <li className="duplicate-card" aria-label={`Possible duplicate: ${names}`} data-testid="duplicate-pair">
      <p className="duplicate-reason">
        <span className={`state state-${pair.status === 'open' ? 'warn' : 'ok'}`}>{STATUS_WORDS[pair.status]}</span>{' '}
        {duplicateReasonWords(pair.reason)} · found {formatInstant(pair.detectedAt)}
      </p>
      <div className="table-wrap">
        <table className="table duplicate-table">
          <caption className="visually-hidden">{`Possible duplicate: ${names}, side by side`}</caption>
          <thead>
            <tr>
              <td />
              {[pair.first, pair.second].map((patient) => (
                <th scope="col" key={patient.id}>
                  <button type="button" className="button link" onClick={() => onOpen(patient.id)}>
                    {fullName(patient)}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.label}>
                <th scope="row">{row.label}</th>
                <td>{row.value(pair.first)}</td>
                <td>{row.value(pair.second)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pair.status === 'open' && (mayMerge || mayDismiss) && (
        <div className="actions actions-start">
          {mayMerge && (
            <button type="button" className="button primary" onClick={onMerge} aria-label={`Merge ${names}…`}>
              Merge…
            </button>
          )}
          {mayDismiss && (
            <button type="button" className="button" onClick={onDismiss} aria-label={`Not the same person: ${names}…`}>
              Not the same person…
            </button>
          )}
        </div>
      )}
    </li>
  );
}

/** How a row offers to open the record it is about (null: nothing to open). */
type OpenRecord = (entity: string, rowId: string) => (() => void) | null;

/** The record a row is about, as a button to open it when there is a screen for it. */
function RecordCell({ entity, rowId, onOpen }: { entity: string; rowId: string; onOpen: OpenRecord }) {
  const open = onOpen(entity, rowId);
  return (
    <>
      {open === null ? (
        entityWords(entity)
      ) : (
        <button
          type="button"
          className="button link"
          onClick={open}
          aria-label={`Open the ${entityWords(entity).toLowerCase()} record ${rowId}`}
        >
          {entityWords(entity)}
        </button>
      )}
      <span className="cell-sub mono">{rowId}</span>
    </>
  );
}

function FieldConflictsTable({
  conflicts,
  onOpen,
}: {
  readonly conflicts: ConflictsList['fieldConflicts'];
  readonly onOpen: OpenRecord;
}) {
  return (
    <section className="panel" aria-labelledby="field-conflicts-heading">
      <h2 id="field-conflicts-heading">Values that lost a concurrent edit</h2>
      <p className="muted">
        Two computers changed the same value while apart; the later change was kept everywhere. The earlier value is
        listed so it can be put back by editing the record.
      </p>
      {conflicts.length === 0 ? (
        <EmptyState>No lost values.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Values that lost a concurrent edit</caption>
            <thead>
              <tr>
                <th scope="col">Record</th>
                <th scope="col">Field</th>
                <th scope="col">Value that lost</th>
                <th scope="col">Value kept</th>
              </tr>
            </thead>
            <tbody>
              {conflicts.map((conflict) => {
                const lost = writeOrigin(conflict.losingHlc);
                const kept = writeOrigin(conflict.winningHlc);
                return (
                  <tr key={`${conflict.entity}-${conflict.rowId}-${conflict.field}-${conflict.losingHlc}`}>
                    <td>
                      <RecordCell entity={conflict.entity} rowId={conflict.rowId} onOpen={onOpen} />
                    </td>
                    <th scope="row">{fieldWords(conflict.entity, conflict.field)}</th>
                    <td>
                      <ConflictValue conflict={conflict} value={conflict.losingValue} />
                      {lost !== null && <span className="cell-sub">{`${lost.when}, on ${lost.device}`}</span>}
                    </td>
                    <td>
                      <ConflictValue conflict={conflict} value={conflict.winningValue} />
                      {kept !== null && <span className="cell-sub">{`${kept.when}, on ${kept.device}`}</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function ConflictValue({
  conflict,
  value,
}: {
  readonly conflict: ConflictsList['fieldConflicts'][number];
  readonly value: string | number | boolean | null;
}) {
  if (conflict.hidden) {
    return <span className="muted">{conflict.medical ? 'Hidden: medical information' : 'Hidden'}</span>;
  }
  return <span className="wrap-anywhere">{conflictValueWords(value)}</span>;
}

function RefusedChangesTable({
  refused,
  onOpen,
}: {
  readonly refused: ConflictsList['refused'];
  readonly onOpen: OpenRecord;
}) {
  return (
    <section className="panel" aria-labelledby="refused-heading">
      <h2 id="refused-heading">Changes the server refused</h2>
      <p className="muted">
        These changes were made on this computer but the sync server did not accept them, so other computers do not have
        them. They are kept here; the server’s reason says what to correct.
      </p>
      {refused.length === 0 ? (
        <EmptyState>No refused changes.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Changes the server refused</caption>
            <thead>
              <tr>
                <th scope="col">Record</th>
                <th scope="col">Change</th>
                <th scope="col">Server’s reason</th>
                <th scope="col">Refused</th>
              </tr>
            </thead>
            <tbody>
              {refused.map((change) => (
                <tr key={change.changeId}>
                  <th scope="row">
                    <RecordCell entity={change.entity} rowId={change.rowId} onOpen={onOpen} />
                  </th>
                  <td>
                    {change.op === 'insert' ? 'New record' : change.op === 'update' ? 'Edit' : 'Deletion'}
                    {change.fields.length > 0 && (
                      <span className="cell-sub">
                        {change.fields.map((field) => fieldWords(change.entity, field)).join(', ')}
                      </span>
                    )}
                  </td>
                  <td>
                    {refusalWords(change.code)}
                    {refusalDetailWords(change.entity, change.message) !== null && (
                      <span className="cell-sub">{refusalDetailWords(change.entity, change.message)}</span>
                    )}
                    <span className="cell-sub mono">{change.code}</span>
                  </td>
                  <td>{formatInstant(change.refusedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
