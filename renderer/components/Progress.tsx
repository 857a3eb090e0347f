/**
 * A long task's progress: an indeterminate bar (the channels answer once, at the end, so there
 * is no honest percentage), what is happening, and the seconds it has taken so far, so a slow
 * network never looks like a frozen app.
 */
import { useEffect, useState } from 'react';

export interface ProgressProps {
  /** What is happening, e.g. "Downloading the clinic’s records…". */
  readonly label: string;
  /** Extra words under the label (what the task does, what to expect). */
  readonly detail?: string;
}

export function Progress({ label, detail }: ProgressProps) {
  const [seconds, setSeconds] = useState(0);
  useEffect(() => {
    const started = performance.now();
    const timer = window.setInterval(() => setSeconds(Math.floor((performance.now() - started) / 1000)), 1000);
    return () => window.clearInterval(timer);
  }, []);
  return (
    <div className="progress" role="status" aria-live="polite">
      <p className="progress-label">{label}</p>
      <progress className="progress-bar" aria-label={label} />
      {detail !== undefined && <p className="progress-detail muted">{detail}</p>}
      <p className="progress-elapsed muted small-text" aria-live="off">
        {seconds === 0 ? 'Just started' : `${seconds} ${seconds === 1 ? 'second' : 'seconds'} so far`}
      </p>
    </div>
  );
}
