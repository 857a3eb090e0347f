/**
 * Closing the app cleanly, exactly once, whichever event asks first (before-quit,
 * window-all-closed, an update's restart): the IPC transport stops taking calls and waits for the
 * running ones, then the core checkpoints and closes the database and stops its workers.
 */
import { createLogger } from '../core/logger.js';

const log = createLogger('electron-shutdown');

/** What is open at the moment of shutdown; either may not exist yet (quitting at the unlock prompt). */
export interface OpenParts {
  readonly transport: { close(timeoutMs?: number): Promise<void> } | null;
  readonly core: { close(): Promise<void> } | null;
}

/** Returns the shutdown: the first call does the work, every call gets the same promise, which never rejects. */
export function createShutdown(openParts: () => OpenParts): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => {
    running ??= (async () => {
      const { transport, core } = openParts();
      try {
        // Transport first, so no call reaches a closed database.
        await transport?.close();
      } catch (error) {
        log.error('closing the IPC transport failed', { error: error instanceof Error ? error.name : 'unknown' });
      }
      try {
        await core?.close();
      } catch (error) {
        log.error('closing the clinic failed', { error: error instanceof Error ? error.name : 'unknown' });
      }
    })();
    return running;
  };
}
