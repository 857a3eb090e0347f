/**
 * How a server process learns that a clinic's change log grew, or that one of its devices was
 * revoked, whichever process did it (docs/sync-protocol.md, "Live updates"). A change notification
 * carries only the clinic id and the highest server sequence number committed, never a change:
 * devices pull what they missed with their own token, so a lost or duplicated notification costs
 * at most one extra pull. A revocation notification carries only the clinic id: each process reads
 * that clinic's revoked devices once and ends their streams, so the cost of a revocation does not
 * grow with the number of open streams, and a change costs no revocation check at all.
 */
import { z } from 'zod';

/** Called with a clinic and a sequence number its change log has reached (committed). */
export type ChangeListener = (clinicId: string, latestSeq: number) => void;

/** Called with a clinic one of whose devices was revoked (committed). */
export type RevocationListener = (clinicId: string) => void;

/**
 * Publishes and receives "this clinic's change log reached this sequence number" and "a device of
 * this clinic was revoked".
 */
export interface ChangeNotifier {
  /** Announces, after the append committed, that the clinic's log reached `latestSeq`. */
  publish(clinicId: string, latestSeq: number): Promise<void>;
  /**
   * Registers a listener for every clinic; returns its removal. `onGap` is called when
   * notifications may have been missed (a listening connection was lost and is back), so the
   * caller reads the current sequence numbers (and revocations) again.
   */
  subscribe(listener: ChangeListener, onGap?: () => void): () => void;
  /** Announces, after the revocation committed, that a device of the clinic was revoked. */
  publishRevocation(clinicId: string): Promise<void>;
  /** Registers a listener of revocations in every clinic; returns its removal. */
  subscribeRevocations(listener: RevocationListener): () => void;
  /** Stops listening and releases connections. */
  close(): Promise<void>;
}

/** The notification as it travels between processes: a clinic id (UUID) and a sequence number. */
export const changeNotificationSchema = z.strictObject({
  clinicId: z.uuid(),
  latestSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export type ChangeNotification = z.infer<typeof changeNotificationSchema>;

/** A revocation as it travels between processes: the clinic id only (no device id leaves the clinic). */
export const revocationNotificationSchema = z.strictObject({ clinicId: z.uuid() });
export type RevocationNotification = z.infer<typeof revocationNotificationSchema>;

/** Fans notifications out to this process's listeners; one listener's failure never stops the others. */
export class ChangeListeners {
  private readonly listeners = new Set<ChangeListener>();
  private readonly gapListeners = new Set<() => void>();
  private readonly revocationListeners = new Set<RevocationListener>();

  addRevocation(listener: RevocationListener): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  revoked(clinicId: string): void {
    for (const listener of [...this.revocationListeners]) {
      try {
        listener(clinicId);
      } catch {
        // As for emit: one listener's failure is its own.
      }
    }
  }

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

  async publishRevocation(clinicId: string): Promise<void> {
    this.listeners.revoked(clinicId);
  }

  subscribeRevocations(listener: RevocationListener): () => void {
    return this.listeners.addRevocation(listener);
  }

  async close(): Promise<void> {}
}
