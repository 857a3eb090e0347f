/**
 * The recovery key, shown once right after setup: it opens the clinic's data if the passphrase
 * or the computer's keystore is lost. It is kept in memory only until the user confirms they
 * stored it; main never returns it again. Printing shows the key block alone (print styles).
 */
import { useState } from 'react';
import { useHeadingFocus } from '../../app/use-heading-focus.js';

export interface RecoveryKeyScreenProps {
  readonly clinicName: string | null;
  readonly recoveryKey: string;
  readonly onStored: () => void;
}

export function RecoveryKeyScreen({ clinicName, recoveryKey, onStored }: RecoveryKeyScreenProps) {
  const [stored, setStored] = useState(false);
  const headingRef = useHeadingFocus();
  return (
    <main className="centered-page recovery-page">
      <div className="card wide">
        <h1 ref={headingRef} tabIndex={-1} className="no-print">
          Store the recovery key
        </h1>
        <div className="no-print">
          <p>
            This key opens the clinic’s encrypted data if the database passphrase or this computer’s keystore is ever
            lost. <strong>It is shown only now.</strong> Print it or write it down, and keep it somewhere safe and
            separate from this computer — anyone holding it and a copy of the data can read the data.
          </p>
        </div>
        <section className="recovery-sheet" aria-labelledby="recovery-key-label">
          <h2 id="recovery-key-label" className="recovery-sheet-title">
            Chairside recovery key{clinicName !== null ? ` — ${clinicName}` : ''}
          </h2>
          <p className="recovery-key" data-testid="recovery-key">
            {recoveryKey}
          </p>
        </section>
        <div className="no-print">
          <div className="actions actions-start">
            <button type="button" className="button" onClick={() => window.print()}>
              Print the recovery key
            </button>
          </div>
          <div className="check-row">
            <input
              id="recovery-stored"
              type="checkbox"
              checked={stored}
              onChange={(event) => setStored(event.target.checked)}
            />
            <label htmlFor="recovery-stored">I have stored the recovery key somewhere safe</label>
          </div>
          <div className="actions">
            <button type="button" className="button primary" disabled={!stored} onClick={onStored}>
              Continue to sign-in
            </button>
          </div>
        </div>
      </div>
    </main>
  );
}
