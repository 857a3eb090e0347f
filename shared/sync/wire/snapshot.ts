/**
 * Snapshot bootstrap routes (shared/sync/snapshot.ts): a joining device, or one restored from a
 * backup older than the compaction horizon, fetches the signed manifest of the clinic's current
 * rows, then each chunk it names, checks every chunk's SHA-256 against the manifest, and only then
 * writes anything. The clinic is the token's.
 */
import { z } from 'zod';
import { signedSnapshotManifestSchema, snapshotChunkEnvelopeSchema, snapshotIdSchema } from '../snapshot.js';
import { queryCountSchema } from './records.js';
import { defineSyncRoute } from './route.js';

export const snapshotManifest = defineSyncRoute({
  name: 'snapshot.manifest',
  method: 'GET',
  path: '/v1/snapshot',
  summary: "The signed manifest of a snapshot of the clinic's current rows at a cursor (built or reused).",
  auth: 'device-token',
  answer: signedSnapshotManifestSchema,
});

export const snapshotChunk = defineSyncRoute({
  name: 'snapshot.chunk',
  method: 'GET',
  path: '/v1/snapshot/chunk',
  summary: 'One chunk of a snapshot the manifest named, as its exact bytes; NOT_FOUND once the server dropped it.',
  auth: 'device-token',
  query: z.strictObject({ snapshotId: snapshotIdSchema, index: queryCountSchema }),
  answer: snapshotChunkEnvelopeSchema,
});

/** The snapshot routes, in registration order. */
export const SNAPSHOT_ROUTES = [snapshotManifest, snapshotChunk] as const;
