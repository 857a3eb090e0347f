/**
 * A device whose database went back behind the compaction horizon (restored from a backup)
 * starts again from a snapshot (docs/sync-protocol.md, "Snapshot bootstrap"). The server tells
 * it so on a pull (`behindHorizon`, sync-server/snapshot/behind-horizon.ts); the engine then calls
 * this, which fetches and checks the snapshot against the pinned checkpoint key and merges it into
 * the database the device holds (snapshot-apply.ts), outbox untouched, then the pull goes on from
 * the snapshot's cursor.
 */
import { SnapshotRefusedError } from '../../../shared/sync/snapshot.js';
import type { WriteDb } from '../db/access.js';
import { readCheckpointPin } from './checkpoint-pin.js';
import type { ReplicationHooks } from './replication-hooks.js';
import { type SnapshotApplied, mergeSnapshotIntoDatabase } from './snapshot-apply.js';
import { fetchVerifiedSnapshot } from './snapshot-fetch.js';
import { type FetchLike, SyncRequestError } from './sync-http.js';

/** The round's error code when a snapshot failed a check; nothing was written. */
export const SNAPSHOT_REFUSED = 'SNAPSHOT_REFUSED';
/** The round's error code when the device pinned no checkpoint key to check a snapshot with. */
export const SNAPSHOT_UNVERIFIABLE = 'SNAPSHOT_UNVERIFIABLE';

/** What re-bootstrapping needs from the engine. */
export interface RebootstrapInput {
  readonly db: WriteDb;
  readonly fetch: FetchLike;
  readonly serverUrl: string;
  readonly token: string;
  readonly serverClinicId: string;
  readonly deviceId: string;
  readonly now: () => number;
  /** The domains' replication hooks (search index, review pairs, computed fields). */
  readonly hooks: ReplicationHooks;
  readonly timeoutMs?: number;
}

/**
 * Fetches, checks and merges the clinic's snapshot into this device's database and moves its
 * cursor to the snapshot's. Throws SyncRequestError (SNAPSHOT_REFUSED, SNAPSHOT_UNVERIFIABLE, or
 * the request's own) having written nothing.
 */
export async function rebootstrapFromSnapshot(input: RebootstrapInput): Promise<SnapshotApplied> {
  const verifierKey = readCheckpointPin(input.db)?.verifier_key;
  // A device pinned on first contact holds no key: it cannot tell a forged snapshot from a real one.
  if (!verifierKey) throw new SyncRequestError(200, SNAPSHOT_UNVERIFIABLE);
  let snapshot;
  try {
    snapshot = await fetchVerifiedSnapshot({
      fetch: input.fetch,
      serverUrl: input.serverUrl,
      token: input.token,
      serverClinicId: input.serverClinicId,
      verifierKey,
      ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }),
    });
  } catch (failure) {
    if (failure instanceof SnapshotRefusedError) throw new SyncRequestError(200, SNAPSHOT_REFUSED);
    throw failure;
  }
  input.db.setSynchronous('FULL');
  return mergeSnapshotIntoDatabase(input.db, snapshot, input.deviceId, input.now(), input.hooks);
}
