/**
 * The audit trail of this device: entries newest first, filtered by action, outcome, user and
 * entity, paged backwards with nextBefore; and whether the hash chain verifies. Listing needs a
 * fresh password confirmation (the API client asks for it).
 */
import { type FormEvent, useCallback, useEffect, useMemo, useState } from 'react';
import type { AuditEntryView } from '../../../shared/api/audit.js';
import { channels } from '../../../shared/api/registry.js';
import type { ChannelInput, ChannelOutput } from '../../../shared/api/registry.js';
import type { UserSummary } from '../../../shared/schemas/users.js';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import { SelectField, TextField } from '../../components/fields.js';
import { ErrorMessage, Loading, StatusLine } from '../../components/status.js';
import { formatInstant } from '../../lib/format.js';

const PAGE_SIZE = 50;

/** Every action the audit trail can hold: the audit action of each channel. */
const ACTIONS = [...new Set(Object.values(channels).map((channel) => channel.audit.action))].sort();

type Outcome = AuditEntryView['outcome'];
const OUTCOME_LABELS: Readonly<Record<Outcome, string>> = { success: 'Success', denied: 'Denied', error: 'Error' };

interface Filters {
  action: string;
  outcome: string;
  userId: string;
  entityId: string;
}
const NO_FILTERS: Filters = { action: '', outcome: '', userId: '', entityId: '' };

function listInput(filters: Filters, before: number | null): ChannelInput<'audit.list'> {
  return {
    limit: PAGE_SIZE,
    ...(filters.action !== '' ? { action: filters.action } : {}),
    ...(filters.outcome !== '' ? { outcome: filters.outcome as Outcome } : {}),
    ...(filters.userId !== '' ? { userId: filters.userId } : {}),
    ...(filters.entityId.trim() !== '' ? { entityId: filters.entityId.trim() } : {}),
    ...(before !== null ? { before } : {}),
  };
}

export function AuditScreen() {
  const api = useApi();
  const { can } = useSession();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const [entries, setEntries] = useState<AuditEntryView[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [users, setUsers] = useState<UserSummary[]>([]);

  useEffect(() => {
    if (!can('users.read')) return;
    api.invoke('users.list', {}).then(
      (listed) => setUsers(listed.users),
      () => setUsers([]),
    );
  }, [api, can]);

  const loadPage = useCallback(
    async (filters: Filters, before: number | null) => {
      setLoading(true);
      setError('');
      try {
        const page = await api.invoke('audit.list', listInput(filters, before));
        setEntries((current) => (before === null || current === null ? page.entries : [...current, ...page.entries]));
        setNextBefore(page.nextBefore);
      } catch (failure) {
        setError(
          failure instanceof ApiError && failure.code === 'REAUTH_REQUIRED'
            ? 'The audit log needs your password confirmed. Choose “Show entries” to try again.'
            : errorMessage(failure),
        );
      } finally {
        setLoading(false);
      }
    },
    [api],
  );

  useEffect(() => {
    void loadPage(applied, null);
  }, [applied, loadPage]);

  const userNames = useMemo(() => new Map(users.map((user) => [user.id, user.displayName])), [users]);

  function apply(event: FormEvent) {
    event.preventDefault();
    // A new object even when unchanged, so "Show entries" always reloads.
    setApplied({ ...draft });
  }

  return (
    <section className="page" aria-labelledby="audit-heading">
      <div className="page-header">
        <h1 id="audit-heading">Audit log</h1>
      </div>
      {can('audit.verify') && <ChainBadge />}
      <form className="card filters" onSubmit={apply} aria-label="Filter the audit log">
        <div className="filter-grid">
          <SelectField
            id="audit-action"
            label="Action"
            value={draft.action}
            onValue={(action) => setDraft({ ...draft, action })}
            options={[
              { value: '', label: 'Any action' },
              ...ACTIONS.map((action) => ({ value: action, label: action })),
            ]}
          />
          <SelectField
            id="audit-outcome"
            label="Outcome"
            value={draft.outcome}
            onValue={(outcome) => setDraft({ ...draft, outcome })}
            options={[
              { value: '', label: 'Any outcome' },
              ...Object.entries(OUTCOME_LABELS).map(([value, label]) => ({ value, label })),
            ]}
          />
          {users.length > 0 && (
            <SelectField
              id="audit-user"
              label="User"
              value={draft.userId}
              onValue={(userId) => setDraft({ ...draft, userId })}
              options={[
                { value: '', label: 'Any user' },
                ...users.map((user) => ({ value: user.id, label: `${user.displayName} (${user.username})` })),
              ]}
            />
          )}
          <TextField
            id="audit-entity"
            label="Entity id"
            value={draft.entityId}
            onValue={(entityId) => setDraft({ ...draft, entityId })}
            maxLength={60}
            spellCheck={false}
            autoComplete="off"
          />
        </div>
        <div className="actions">
          <button
            type="button"
            className="button"
            onClick={() => {
              setDraft(NO_FILTERS);
              setApplied({ ...NO_FILTERS });
            }}
          >
            Clear filters
          </button>
          <button type="submit" className="button primary">
            Show entries
          </button>
        </div>
      </form>
      <StatusLine>
        {loading
          ? 'Loading entries…'
          : entries !== null
            ? `Showing ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}${nextBefore !== null ? '; older ones below' : ''}.`
            : ''}
      </StatusLine>
      <ErrorMessage>{error}</ErrorMessage>
      {entries !== null && entries.length === 0 && !loading && (
        <p className="message message-empty">No entries match these filters.</p>
      )}
      {entries !== null && entries.length > 0 && (
        <div className="table-wrap">
          <table className="table audit-table">
            <caption className="visually-hidden">Audit entries, newest first</caption>
            <colgroup>
              <col className="col-seq" />
              <col className="col-time" />
              <col className="col-user" />
              <col className="col-action" />
              <col className="col-entity" />
              <col className="col-outcome" />
              <col />
            </colgroup>
            <thead>
              <tr>
                <th scope="col">Seq</th>
                <th scope="col">Time</th>
                <th scope="col">User</th>
                <th scope="col">Action</th>
                <th scope="col">Entity</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={`${entry.deviceId}-${entry.epoch}-${entry.seq}`} data-action={entry.action}>
                  <td className="numeric">{entry.seq}</td>
                  <td className="nowrap">{formatInstant(entry.time)}</td>
                  <td>
                    {entry.userId === null ? '—' : (userNames.get(entry.userId) ?? entry.userId)}
                    {entry.role !== null && <span className="cell-sub">{entry.role}</span>}
                  </td>
                  <td className="mono">{entry.action}</td>
                  <td className="mono small-text">
                    {entry.entityType ?? '—'}
                    {entry.entityId !== null && <span className="cell-sub">{entry.entityId}</span>}
                  </td>
                  <td>
                    <span className={`outcome outcome-${entry.outcome}`}>{OUTCOME_LABELS[entry.outcome]}</span>
                  </td>
                  <td className="mono small-text wrap-anywhere">
                    {Object.entries(entry.details)
                      .map(([key, value]) => `${key}=${String(value)}`)
                      .join(', ')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {loading && entries === null && <Loading label="Loading entries…" />}
      {nextBefore !== null && (
        <div className="actions actions-start">
          <button
            type="button"
            className="button"
            disabled={loading}
            onClick={() => void loadPage(applied, nextBefore)}
          >
            {loading ? 'Loading…' : 'Show older entries'}
          </button>
        </div>
      )}
    </section>
  );
}

/** audit.verify's answer as a badge: verified with its length, or where the chain breaks. */
function ChainBadge() {
  const api = useApi();
  const [result, setResult] = useState<ChannelOutput<'audit.verify'> | null>(null);
  const [error, setError] = useState('');
  const [checking, setChecking] = useState(false);

  const verify = useCallback(async () => {
    setChecking(true);
    setError('');
    try {
      setResult(await api.invoke('audit.verify', {}));
    } catch (failure) {
      setResult(null);
      setError(errorMessage(failure));
    } finally {
      setChecking(false);
    }
  }, [api]);

  useEffect(() => {
    void verify();
  }, [verify]);

  let badge;
  if (checking) badge = <span className="badge badge-neutral">Checking the chain…</span>;
  else if (result?.ok)
    badge = (
      <span className="badge badge-ok">
        Chain verified — {result.entries} {result.entries === 1 ? 'entry' : 'entries'}
      </span>
    );
  else if (result)
    badge = (
      <span className="badge badge-broken">
        Chain broken at sequence {result.firstBadSeq ?? '?'}
        {result.reason !== null && <span className="badge-detail">{result.reason}</span>}
      </span>
    );
  return (
    <div className="chain-status">
      <p className="chain-badge" role="status" aria-live="polite" data-testid="chain-status">
        {badge}
      </p>
      <ErrorMessage>{error}</ErrorMessage>
      <button type="button" className="button small" onClick={() => void verify()} disabled={checking}>
        Verify again
      </button>
    </div>
  );
}
