/**
 * First run. setup.createClinic creates the encrypted database, then the clinic, its first
 * branch, its first Admin and this device's identity in one transaction with the first audit
 * entry; it refuses once a clinic exists. The recovery key is returned once and never stored.
 * setup.joinClinic does the same for a device joining an existing clinic: it enrolls with the
 * clinic's sync server and pulls everything there (docs/sync-protocol.md, "Joining a clinic").
 */
import { setupCreateClinic, setupJoinClinic, setupStatus } from '../../../shared/api/setup.js';
import type { ChangeRecord } from '../../../shared/sync/change.js';
import { ApiError } from '../api/api-error.js';
import { handle } from '../api/handler.js';
import { assertPasswordAllowed } from '../auth/auth-handlers.js';
import { JoinMerge } from '../sync/join-apply.js';
import { addSnapshotChunkToJoin } from '../sync/snapshot-apply.js';
import { fetchVerifiedChunks } from '../sync/snapshot-fetch.js';
import { receiveRemoteClocks } from '../sync/sync-apply.js';
import { newestFollowableClock, pullEverything } from '../sync/sync-engine.js';
import { enrollmentFailure } from '../sync/sync-handlers.js';
import { pinCheckpointKey } from '../sync/checkpoint-pin.js';
import { storeDeviceNumber } from '../sync/device-number.js';
import { type FetchLike, SyncRequestError, generateDeviceKeys, requestToken, enrollDevice } from '../sync/sync-http.js';
import { type SnapshotManifest, SnapshotRefusedError } from '../../../shared/sync/snapshot.js';
import { insertUser, setBranches } from '../users/users-repository.js';

/**
 * Page cache (MiB) while a join writes the clinic: a clinic of 100,000 patients is about 100 MiB
 * with its indexes, and a cache it fits in keeps the load from spilling pages and decrypting
 * them again. Only pages the load touches are held; the cache goes back to normal after it.
 */
const JOIN_CACHE_MIB = 256;

export const setupHandlers = {
  'setup.status': handle(setupStatus, {
    runsWithoutDatabase: () => ({ state: 'new' as const, clinicName: null }),
    run(ctx) {
      const clinic = ctx.db.query<{ name: string }>('SELECT name FROM clinic').get();
      return clinic
        ? { state: 'ready' as const, clinicName: clinic.name }
        : { state: 'new' as const, clinicName: null };
    },
  }),

  'setup.createClinic': handle(setupCreateClinic, {
    createsDatabase: true,
    async prepare(ctx, input) {
      if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
      assertPasswordAllowed(input.admin.password, input.admin.username);
      const passwordHash = await ctx.services.hasher.hash(input.admin.password);
      const signingKey = await ctx.services.userKeys.issue(input.admin.password);
      // Checked again after the slow hash: two setups racing must not both pass.
      if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
      const created = await ctx.services.clinic.create().catch((error: unknown) => {
        // Another setup finished while this one hashed the password.
        if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
        throw error;
      });
      return { passwordHash, signingKey: signingKey.field, ...created };
    },
    run(ctx, input, prepared) {
      // If this transaction rolls back, the new files go too, so setup can be retried.
      ctx.onRollback(prepared.remove);
      {
        const { ids } = ctx.services.sources;
        const clinicId = ids.next();
        const branchId = ids.next();
        const adminUserId = ids.next();
        ctx.db
          .command('INSERT INTO clinic (id, name, created_at) VALUES (?, ?, ?)')
          .run([clinicId, input.clinicName, ctx.now]);
        ctx.db
          .command('INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)')
          .run([branchId, input.branchName, ctx.now]);
        ctx.db.command('INSERT INTO device (id, epoch, created_at) VALUES (?, 1, ?)').run([ids.next(), ctx.now]);
        insertUser(ctx.db, {
          id: adminUserId,
          username: input.admin.username,
          displayName: input.admin.displayName,
          role: 'Admin',
          allBranches: true,
          passwordHash: prepared.passwordHash,
          signingKey: prepared.signingKey,
          now: ctx.now,
        });
        setBranches(ctx.db, adminUserId, []);
        ctx.audit.subject = { userId: adminUserId, role: 'Admin' };
        ctx.audit.entityId = clinicId;
        ctx.audit.details = { branchId, adminUserId };
        return { clinicId, branchId, adminUserId, recoveryKey: prepared.recoveryKey };
      }
    },
  }),

  'setup.joinClinic': handle(setupJoinClinic, {
    createsDatabase: true,
    // Creates the database, then does all the network work: enroll a new device id with a new
    // Ed25519 key, take a token and pull every change from cursor 0. run writes the local rows.
    async prepare(ctx, input) {
      if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
      const created = await ctx.services.clinic.create().catch((error: unknown) => {
        if (ctx.services.clinic.db) throw new ApiError('ALREADY_SET_UP', 'This device already has a clinic.');
        throw error;
      });
      try {
        const fetchFn = ctx.services.sync.fetch;
        const deviceId = ctx.services.sources.ids.next();
        const keys = generateDeviceKeys();
        let enrolled: Awaited<ReturnType<typeof enrollDevice>>;
        try {
          enrolled = await enrollDevice(fetchFn, input.serverUrl, {
            code: input.enrollmentCode,
            deviceId,
            deviceName: `Chairside ${deviceId.slice(-6)}`,
            publicKey: keys.publicKey,
          });
        } catch (failure) {
          throw enrollmentFailure(failure);
        }
        try {
          const { token } = await requestToken(fetchFn, input.serverUrl, {
            clinicId: enrolled.clinicId,
            deviceId,
            privateKey: keys.privateKey,
          });
          // The clinic's rows from a snapshot where the server builds one (checked against the
          // checkpoint key it just named), then the changes after its cursor, merged as their
          // pages arrive; run writes the result (join-apply.ts).
          const merge = new JoinMerge(ctx.services.replication);
          const clocks: Array<Pick<ChangeRecord, 'hlc'>> = [];
          let snapshotRows = 0;
          const snapshot = await joinSnapshot(fetchFn, input.serverUrl, token, enrolled, (chunk) => {
            snapshotRows += addSnapshotChunkToJoin(merge, chunk, clocks);
          });
          const everything = await pullEverything(
            fetchFn,
            input.serverUrl,
            token,
            (change) => {
              merge.add(change);
              clocks.push({ hlc: change.hlc });
            },
            snapshot?.cursor ?? 0,
          );
          // The run phase writes the whole clinic in one transaction into this new database.
          const endBulkLoad = ctx.services.clinic.db!.beginBulkLoad(JOIN_CACHE_MIB);
          return { ...created, deviceId, keys, enrolled, merge, clocks, endBulkLoad, snapshotRows, ...everything };
        } catch (failure) {
          throw enrollmentFailure(failure);
        }
      } catch (failure) {
        // Nothing was written yet: the new files go, so joining can be retried (with a new code:
        // the used one stays used).
        created.remove();
        throw failure;
      }
    },
    run(ctx, input, prepared) {
      ctx.onRollback(prepared.remove);
      ctx.afterCommit(prepared.endBulkLoad);
      const clinicId = ctx.services.sources.ids.next();
      const clinicName = (prepared.enrolled.clinicName ?? 'Clinic').trim().slice(0, 120) || 'Clinic';
      ctx.db.command('INSERT INTO clinic (id, name, created_at) VALUES (?, ?, ?)').run([clinicId, clinicName, ctx.now]);
      ctx.db.command('INSERT INTO device (id, epoch, created_at) VALUES (?, 1, ?)').run([prepared.deviceId, ctx.now]);
      ctx.db
        .command(
          `INSERT INTO sync_identity (server_url, server_clinic_id, device_id, private_key, public_key, connected_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run([
          input.serverUrl,
          prepared.enrolled.clinicId,
          prepared.deviceId,
          prepared.keys.privateKey,
          prepared.keys.publicKey,
          ctx.now,
        ]);
      pinCheckpointKey(ctx.db, prepared.enrolled.checkpoint, ctx.now);
      storeDeviceNumber(ctx.db, prepared.enrolled.deviceNumber);
      // In server order, as a pull would: users (with their bcrypt hashes), branches, then
      // patients and medical histories merged in memory and written once (join-apply.ts).
      const { applied } = prepared.merge.write(ctx.db, ctx.now);
      // The newest clock only: one receive per change at this one `now` overflows the counter.
      receiveRemoteClocks(ctx.db, prepared.deviceId, newestFollowableClock(prepared.clocks, ctx.now), ctx.now);
      ctx.db.command('UPDATE sync_identity SET pulled_cursor = ?').run([prepared.cursor]);
      ctx.audit.entityId = clinicId;
      Object.assign(ctx.audit.details, {
        serverClinicId: prepared.enrolled.clinicId,
        deviceId: prepared.deviceId,
        pulled: prepared.pulled,
        applied,
        snapshotRows: prepared.snapshotRows,
      });
      return {
        clinicId,
        serverClinicId: prepared.enrolled.clinicId,
        deviceId: prepared.deviceId,
        pulled: prepared.pulled,
        applied,
        recoveryKey: prepared.recoveryKey,
      };
    },
  }),
};

/**
 * The clinic's snapshot for a join, checked against the checkpoint key the server named at
 * enrollment, each chunk handed to `onChunk` (the in-memory merge) once it passed its checks;
 * answers the manifest, or null when the server builds none (an older server answers NOT_FOUND)
 * or named no key to check one with, and the join then replays the whole log. A snapshot that
 * fails a check fails the join (SNAPSHOT_REFUSED), before anything is written.
 */
async function joinSnapshot(
  fetchFn: FetchLike,
  serverUrl: string,
  token: string,
  enrolled: { readonly clinicId: string; readonly checkpoint?: { readonly verifierKey: string } | undefined },
  onChunk: Parameters<typeof fetchVerifiedChunks>[1],
): Promise<SnapshotManifest | null> {
  if (!enrolled.checkpoint) return null;
  let merged = false;
  try {
    return await fetchVerifiedChunks(
      {
        fetch: fetchFn,
        serverUrl,
        token,
        serverClinicId: enrolled.clinicId,
        verifierKey: enrolled.checkpoint.verifierKey,
      },
      (chunk) => {
        merged = true;
        onChunk(chunk);
      },
    );
  } catch (failure) {
    if (failure instanceof SnapshotRefusedError) throw new SyncRequestError(200, 'SNAPSHOT_REFUSED');
    // A server without snapshots replays the log; one that dropped the snapshot after part of it
    // was merged fails the join (retried with a new code), as a merge cannot take half back.
    if (failure instanceof SyncRequestError && failure.status === 404 && failure.code === 'NOT_FOUND' && !merged) {
      return null;
    }
    throw failure;
  }
}
