/**
 * Builds a clinic core's background sync (docs/sync-protocol.md, "Background sync"): the
 * scheduler over the core's engine, its live stream and its random source.
 */
import type { CoreServices } from '../core-services.js';
import { openLiveStream } from './live-client.js';
import { type SyncEngineOptions, readSyncIdentity } from './sync-engine.js';
import { SyncRequestError } from './sync-http.js';
import { SyncScheduler } from './sync-scheduler.js';

/** The scheduler of a core's background rounds and live stream; null when the options turn it off. */
export function backgroundSync(services: CoreServices, options: SyncEngineOptions['background']): SyncScheduler | null {
  if (options === false) return null;
  const { clinic, sync, sources } = services;
  return new SyncScheduler(
    {
      runRound: () => sync.runRound(null),
      localCursor: () => (clinic.db ? (readSyncIdentity(clinic.db)?.cursor ?? 0) : 0),
      connectLive: async (onEvent, signal) => {
        const identity = clinic.db ? readSyncIdentity(clinic.db) : undefined;
        if (!identity) throw new SyncRequestError(null, 'NOT_CONNECTED');
        return openLiveStream(sync.fetch, identity, onEvent, signal);
      },
      revoked: () => sync.recordRevoked('live'),
      random: () => sources.random.bytes(4).readUInt32BE(0) / 0x1_0000_0000,
    },
    options ?? {},
  );
}
