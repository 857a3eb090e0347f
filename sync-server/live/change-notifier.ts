/**
 * How a server process learns that a clinic's change log grew, whichever process appended to it
 * (docs/sync-protocol.md, "Live updates (built)"). A notification carries only the clinic id and
 * the highest server sequence number committed, never a change: devices pull what they missed
 * with their own token, so a lost or duplicated notification costs at most one extra pull.
 */
import { z } from 'zod';

/** Called with a clinic and a sequence number its change log has reached (committed). */
export type ChangeListener = (clinicId: string, latestSeq: number) => void;

/** Publishes and receives "this clinic's change log reached this sequence number". */
export interface ChangeNotifier {
  /** Announces, after the append committed, that the clinic's log reached `latestSeq`. */
  publish(clinicId: string, latestSeq: number): Promise<void>;
  /**
   * Registers a listener for every clinic; returns its removal. `onGap` is called when
   * notifications may have been missed (a listening connection was lost and is back), so the
   * caller reads the current sequence numbers again.
   */
  subscribe(listener: ChangeListener, onGap?: () => void): () => void;
  /** Stops listening and releases connections. */
  close(): Promise<void>;
}

/** The notification as it travels between processes: a clinic id (UUID) and a sequence number. */
export const changeNotificationSchema = z.strictObject({
  clinicId: z.uuid(),
  latestSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export type ChangeNotification = z.infer<typeof changeNotificationSchema>;

/** Fans notifications out to this process's listeners; one listener's failure never stops the others. */
export class ChangeListeners {
  private readonly listeners = new Set<ChangeListener>();
  private readonly gapListeners = new Set<() => void>();

  add(listener: ChangeListener, onGap?: () => void): () => void {
    this.listeners.add(listener);
    if (onGap) this.gapListeners.add(onGap);
    return () => {
      this.listeners.delete(listener);
      if (onGap) this.gapListeners.delete(onGap);
    };
  }

  gap(): void {
    for (const listener of [...this.gapListeners]) {
      try {
        listener();
      } catch {
        // As for emit: one listener's failure is its own.
      }
    }
  }

  emit(clinicId: string, latestSeq: number): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(clinicId, latestSeq);
      } catch {
        // A listener is a stream writer; its own failure ends its stream, not the fan-out.
      }
    }
  }
}

/**
 * The notifier of one process (SQLite storage, a LAN relay or tests): appends and streams live in
 * the same process, so an emitter is all it takes.
 */
export class InProcessChangeNotifier implements ChangeNotifier {
  private readonly listeners = new ChangeListeners();

  async publish(clinicId: string, latestSeq: number): Promise<void> {
    this.listeners.emit(clinicId, latestSeq);
  }

  subscribe(listener: ChangeListener, onGap?: () => void): () => void {
    return this.listeners.add(listener, onGap);
  }

  async close(): Promise<void> {}
}
