/**
 * Search as you type, keyboard first: the field has focus on arrival, arrow keys move through
 * the results, Enter opens the highlighted patient. At most one search is in flight; when it
 * answers, the latest text is searched if it changed meanwhile (no timers, no stale results).
 * The status says how many patients match (or "more than 300, refine the search"); "Show more",
 * or Arrow Down on the last result, loads the next page.
 */
import { type KeyboardEvent, useCallback, useEffect, useRef, useState } from 'react';
import type { PatientSearchResult } from '../../../shared/schemas/patients.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import type { Navigate } from '../../app/views.js';
import { ErrorMessage, StatusLine } from '../../components/status.js';
import { formatDate, fullName } from '../../lib/format.js';

export interface PatientSearchScreenProps {
  readonly navigate: Navigate;
  readonly query: string;
  readonly onQuery: (query: string) => void;
}

interface Answer {
  readonly query: string;
  readonly results: readonly PatientSearchResult[];
  /** Patients matching, counted up to the most a search lists. */
  readonly total: number;
  /** More than `total` patients match. */
  readonly capped: boolean;
}

/** Results per page, as the search asks for them. */
const PAGE_SIZE = 20;

/** The status line: how many match, and how to go on. */
function answerStatus(answer: Answer): string {
  const shown = answer.results.length;
  if (shown === 0) return 'No patients match.';
  const count = answer.capped
    ? `More than ${answer.total} patients match; refine the search.`
    : `${answer.total} ${answer.total === 1 ? 'patient' : 'patients'} found.`;
  const showing = shown < answer.total ? ` Showing ${shown}.` : '';
  return `${count}${showing} Use the arrow keys and Enter to open one.`;
}

const optionId = (patientId: string) => `patient-option-${patientId}`;

export function PatientSearchScreen({ navigate, query, onQuery }: PatientSearchScreenProps) {
  const api = useApi();
  const { can } = useSession();
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState('');
  const [active, setActive] = useState(0);
  const inputRef = useRef<HTMLInputElement>(null);
  const latest = useRef(query);
  const inFlight = useRef(false);
  const [loadingMore, setLoadingMore] = useState(false);

  useEffect(() => {
    inputRef.current?.focus();
  }, []);

  const search = useCallback(async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      for (;;) {
        const text = latest.current.trim();
        if (text === '') {
          setAnswer(null);
          setError('');
          setSearching(false);
          return;
        }
        setSearching(true);
        try {
          const output = await api.invoke('patients.search', { query: text, limit: PAGE_SIZE });
          if (latest.current.trim() === text) {
            setAnswer({ query: text, results: output.results, total: output.total, capped: output.capped });
            setActive(0);
            setError('');
          }
        } catch (failure) {
          if (latest.current.trim() === text) {
            setAnswer(null);
            setError(errorMessage(failure));
          }
        }
        if (latest.current.trim() === text) {
          setSearching(false);
          return;
        }
      }
    } finally {
      inFlight.current = false;
    }
  }, [api]);

  useEffect(() => {
    latest.current = query;
    void search();
  }, [query, search]);

  const results = answer?.results ?? [];
  const activeResult = results[Math.min(active, results.length - 1)];

  useEffect(() => {
    if (activeResult) document.getElementById(optionId(activeResult.id))?.scrollIntoView({ block: 'nearest' });
  }, [activeResult]);

  const open = (patient: PatientSearchResult) => navigate({ name: 'patient', patientId: patient.id });
  const hasMore = answer !== null && answer.results.length < answer.total;

  /** Appends the next page and highlights its first result; the field keeps focus for the arrow keys. */
  async function showMore() {
    if (!answer || !hasMore || loadingMore) return;
    const from = answer.results.length;
    setLoadingMore(true);
    try {
      const output = await api.invoke('patients.search', { query: answer.query, limit: PAGE_SIZE, offset: from });
      if (latest.current.trim() !== answer.query) return;
      const known = new Set(answer.results.map((patient) => patient.id));
      setAnswer({
        ...answer,
        results: [...answer.results, ...output.results.filter((patient) => !known.has(patient.id))],
        total: output.total,
        capped: output.capped,
      });
      setActive(from);
      inputRef.current?.focus();
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setLoadingMore(false);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === 'ArrowDown' && results.length > 0) {
      event.preventDefault();
      if (active >= results.length - 1 && hasMore) void showMore();
      else setActive((index) => Math.min(index + 1, results.length - 1));
    } else if (event.key === 'ArrowUp' && results.length > 0) {
      event.preventDefault();
      setActive((index) => Math.max(index - 1, 0));
    } else if (event.key === 'Enter' && activeResult) {
      event.preventDefault();
      open(activeResult);
    } else if (event.key === 'Escape' && query !== '') {
      event.preventDefault();
      onQuery('');
    }
  }

  let status = '';
  if (searching) status = 'Searching…';
  else if (answer !== null) status = answerStatus(answer);

  return (
    <section className="page" aria-labelledby="patients-heading">
      <div className="page-header">
        <h1 id="patients-heading">Patients</h1>
        {can('patients.write') && (
          <button type="button" className="button primary" onClick={() => navigate({ name: 'newPatient' })}>
            New patient
          </button>
        )}
      </div>
      <div className="search-box">
        <label htmlFor="patient-search">Find a patient</label>
        <input
          ref={inputRef}
          id="patient-search"
          type="search"
          className="search-input"
          value={query}
          onChange={(event) => onQuery(event.target.value)}
          onKeyDown={onKeyDown}
          placeholder="Name, phone, date of birth or patient number"
          autoComplete="off"
          spellCheck={false}
          role="combobox"
          aria-expanded={results.length > 0}
          aria-controls="patient-results"
          aria-autocomplete="list"
          aria-activedescendant={activeResult ? optionId(activeResult.id) : undefined}
          aria-describedby="patient-search-hint"
        />
        <p id="patient-search-hint" className="field-hint">
          For example “meera”, “98450” or its last digits “27594”, “14/03/1985”, “1985” or “P12”.
        </p>
      </div>
      <StatusLine className="search-status">{status}</StatusLine>
      <ErrorMessage>{error}</ErrorMessage>
      {answer !== null && answer.results.length === 0 && !searching && (
        <p className="message message-empty">
          No patients match “{answer.query}”. Check the spelling, or search by phone or date of birth.
        </p>
      )}
      <ul
        id="patient-results"
        role="listbox"
        aria-label="Matching patients"
        className="result-list"
        hidden={results.length === 0}
      >
        {results.map((patient, index) => (
          <li
            key={patient.id}
            id={optionId(patient.id)}
            role="option"
            aria-selected={patient === activeResult}
            className="result"
            onClick={() => open(patient)}
            onMouseEnter={() => setActive(index)}
          >
            <span className="result-name">
              {fullName(patient)}
              {patient.archived && <span className="tag">Archived</span>}
            </span>
            <span className="result-number">{patient.patientNumber}</span>
            <span className="result-dob">
              <span className="visually-hidden">Born </span>
              {formatDate(patient.dateOfBirth)}
            </span>
            <span className="result-phone">
              <span className="visually-hidden">Phone </span>
              {patient.phone ?? '—'}
            </span>
          </li>
        ))}
      </ul>
      {hasMore && (
        <button
          type="button"
          className="button"
          onClick={() => void showMore()}
          disabled={loadingMore}
          aria-controls="patient-results"
        >
          {loadingMore ? 'Loading…' : `Show ${Math.min(PAGE_SIZE, answer.total - answer.results.length)} more`}
        </button>
      )}
    </section>
  );
}
