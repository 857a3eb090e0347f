/**
 * Counts the calls of the IPC transport that are still running: all of them, so shutdown closes
 * the database only after the last one finished, and those of write channels (`writes: true` in
 * the contract), so the updater never restarts the app in the middle of a clinical write. The
 * core has no such signal of its own; the transport is where every call passes.
 */

/** What the updater needs to know about writes. */
export interface WriteActivity {
  readonly inFlightWrites: number;
  /** Resolves once no write is running (at once when none is). */
  whenNoWrites(): Promise<void>;
}

export class CallTracker implements WriteActivity {
  private calls = 0;
  private writes = 0;
  private callWaiters: Array<() => void> = [];
  private writeWaiters: Array<() => void> = [];

  get inFlightCalls(): number {
    return this.calls;
  }

  get inFlightWrites(): number {
    return this.writes;
  }

  /** Records the start of a call; the returned function records its end (calling it again does nothing). */
  begin(isWrite: boolean): () => void {
    this.calls++;
    if (isWrite) this.writes++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.calls--;
      if (isWrite) this.writes--;
      if (this.writes === 0) this.writeWaiters = release(this.writeWaiters);
      if (this.calls === 0) this.callWaiters = release(this.callWaiters);
    };
  }

  whenNoCalls(): Promise<void> {
    if (this.calls === 0) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push(resolve));
  }

  whenNoWrites(): Promise<void> {
    if (this.writes === 0) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push(resolve));
  }
}

function release(waiters: Array<() => void>): Array<() => void> {
  for (const resolve of waiters) resolve();
  return [];
}
