/** A form's submission: busy while it runs, and its failure shown in words so it can be sent again. */
import { useState } from 'react';
import { errorMessage } from '../api/api-error.js';

export function useSubmission(describeFailure: (failure: unknown) => string = errorMessage) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  /** Runs the action with the form busy; a failure is shown and the form becomes usable again. */
  async function run(action: () => Promise<void>): Promise<void> {
    setBusy(true);
    try {
      await action();
    } catch (failure) {
      setError(describeFailure(failure));
      setBusy(false);
    }
  }
  return { error, setError, busy, run };
}
