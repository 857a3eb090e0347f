/**
 * Admin: a one-time enrollment code for another computer of this clinic
 * (devices.createEnrollmentCode, which needs a fresh password: the API client asks for it). The
 * code is shown once, here, with its expiry: main keeps no copy and the audit trail records only
 * the expiry. Leaving the screen forgets it.
 */
import { useRef, useState } from 'react';
import { ApiError, errorMessage } from '../../api/api-error.js';
import { useApi } from '../../app/contexts.js';
import { Progress } from '../../components/Progress.js';
import { ErrorMessage, StatusLine } from '../../components/status.js';
import { formatInstant } from '../../lib/format.js';

interface IssuedCode {
  readonly code: string;
  readonly expiresAt: number;
}

function codeFailure(failure: unknown): string {
  if (failure instanceof ApiError && failure.code === 'REAUTH_REQUIRED') {
    return 'No code was made: this needs your password confirmed.';
  }
  return errorMessage(failure);
}

export function EnrollmentCodePanel({ serverUrl }: { readonly serverUrl: string }) {
  const api = useApi();
  const [issued, setIssued] = useState<IssuedCode | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [copyState, setCopyState] = useState('');
  const codeRef = useRef<HTMLParagraphElement>(null);

  async function create() {
    setBusy(true);
    setError('');
    setCopyState('');
    setIssued(null);
    try {
      setIssued(await api.invoke('devices.createEnrollmentCode', {}));
    } catch (failure) {
      setError(codeFailure(failure));
    } finally {
      setBusy(false);
    }
  }

  async function copy(code: string) {
    try {
      await navigator.clipboard.writeText(code);
      setCopyState('Copied. Paste it on the other computer.');
    } catch {
      // No clipboard (a browser that refuses it): select the code so Ctrl+C copies it.
      const node = codeRef.current;
      const selection = window.getSelection();
      if (node !== null && selection !== null) {
        selection.selectAllChildren(node);
        setCopyState('The code is selected: press Ctrl+C to copy it.');
      }
    }
  }

  return (
    <section className="panel" aria-labelledby="enroll-heading">
      <h2 id="enroll-heading">Add another computer</h2>
      <p>
        Make a one-time code, then choose “Join an existing clinic” when setting up Chairside on the other computer and
        enter this server address and the code. Its users sign in there with their usual passwords.
      </p>
      <dl className="details">
        <div>
          <dt>Server address</dt>
          <dd className="mono" data-testid="enroll-server-url">
            {serverUrl}
          </dd>
        </div>
      </dl>
      {issued !== null && (
        <div className="enrollment-code" aria-labelledby="enroll-code-label">
          <p id="enroll-code-label" className="enrollment-code-label">
            Enrollment code — shown only now
          </p>
          <p className="recovery-key" data-testid="enrollment-code" ref={codeRef}>
            {issued.code}
          </p>
          <p>
            Works once, until <strong>{formatInstant(issued.expiresAt)}</strong>. Anyone with the code can join this
            clinic until then: pass it on in person, not by email.
          </p>
          <div className="actions actions-start">
            <button type="button" className="button" onClick={() => void copy(issued.code)}>
              Copy the code
            </button>
          </div>
        </div>
      )}
      <StatusLine>{copyState}</StatusLine>
      {busy && (
        <Progress label="Making a code…" detail="Sending this computer’s changes first, then asking the server." />
      )}
      <ErrorMessage>{error}</ErrorMessage>
      <div className="actions actions-start">
        <button type="button" className="button" disabled={busy} onClick={() => void create()}>
          {issued === null ? 'Make an enrollment code' : 'Make another code'}
        </button>
      </div>
    </section>
  );
}
