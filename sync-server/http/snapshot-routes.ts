/**
 * Snapshot bootstrap (docs/sync-protocol.md, "Snapshot bootstrap"; declarations in
 * shared/sync/wire/snapshot.ts): `GET /v1/snapshot` answers the signed manifest of a snapshot of
 * the token's clinic at a cursor, held and kept current by the server (snapshot/snapshot-cache.ts);
 * `GET /v1/snapshot/chunk` answers one chunk of it, as the exact bytes the manifest hashes. The
 * clinic is the token's, as for every route, and the chunk lookup is keyed by it, so no device
 * reads another clinic's snapshot even with its id.
 */
import type { FastifyPluginAsync } from 'fastify';
import { snapshotChunk, snapshotManifest } from '../../shared/sync/wire/snapshot.js';
import type { SnapshotCache } from '../snapshot/snapshot-cache.js';
import { SyncHttpError } from './errors.js';
import { type RouteAnswer, type SyncServerContext, defineRoute } from './route-context.js';

/** The snapshot plugin, serving the snapshots `cache` holds and builds (server.ts keeps it current). */
export function snapshotRoutes(context: SyncServerContext, cache: SnapshotCache): FastifyPluginAsync {
  return async (app) => {
    defineRoute(app, context, snapshotManifest, async ({ auth, request }) => {
      // A device restored from a backup must get a snapshot at or past the cursor it had pulled to.
      const cursors = await auth.store.listPulledCursors();
      const pulled = cursors.find((cursor) => cursor.deviceId === auth.device.deviceId)?.after ?? 0;
      const started = context.clock.now();
      const built = await cache.snapshotFor(auth.store, pulled);
      request.log.info(
        {
          event: 'sync.snapshot_served',
          cursor: built.manifest.cursor,
          chunks: built.manifest.chunks.length,
          ms: context.clock.now() - started,
        },
        'snapshot manifest served',
      );
      return built.signed;
    });

    defineRoute(app, context, snapshotChunk, async ({ auth, query, reply }) => {
      const bytes = cache.chunk(auth.store.clinicId, query.snapshotId, query.index);
      if (!bytes) throw new SyncHttpError('NOT_FOUND', 'The server no longer holds that snapshot; ask for a new one.');
      reply.type('application/json; charset=utf-8');
      // The exact bytes the manifest hashes: serializing the chunk again could change them.
      return bytes as unknown as RouteAnswer<typeof snapshotChunk>;
    });
  };
}
