/**
 * Builds a clinic's snapshot (shared/sync/snapshot.ts) from its change log: every page after 0,
 * read through ClinicStore.pullChanges as a device would, merged with shared/sync/merge.ts, then
 * cut into chunks of one entity, each hashed (SHA-256 over its exact bytes), and a manifest naming
 * the cursor, the chunks and their hashes, signed with the server's Ed25519 checkpoint key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import type { ChangeRecord, EntityName } from '../../shared/sync/change.js';
import {
  SNAPSHOT_CHUNK_ROWS,
  SNAPSHOT_FORMAT,
  SNAPSHOT_SIGNATURE_DOMAIN,
  type SignedSnapshotManifest,
  type SnapshotChunkEntry,
  type SnapshotManifest,
  SnapshotMerge,
  type SnapshotRow,
  encodeSnapshotRow,
  snapshotFieldsOf,
} from '../../shared/sync/snapshot.js';
import { MAX_PAGE_SIZE } from '../../shared/sync/wire/records.js';
import type { ClinicStore } from '../storage/storage.js';

/** A built snapshot: its signed manifest and its chunks' exact bytes. */
export interface BuiltSnapshot {
  readonly manifest: SnapshotManifest;
  readonly signed: SignedSnapshotManifest;
  readonly chunks: readonly Buffer[];
}

/** What packing merged rows needs: the clinic, the signing key and the time. */
export interface SnapshotPackInput {
  /** The server's clinic id, bound into the manifest. */
  readonly clinicId: string;
  /** Signs with the server's checkpoint key (ServerKeys.signCheckpoint). */
  readonly sign: (message: Uint8Array) => Uint8Array;
  readonly now: number;
  /** Random snapshot ids unless a test fixes them. */
  readonly snapshotId?: string;
  /** Rows per chunk (SNAPSHOT_CHUNK_ROWS unless a test cuts smaller chunks). */
  readonly chunkRows?: number;
}

/** What building needs: the clinic's log, and what packing needs. */
export interface SnapshotBuildInput extends Omit<SnapshotPackInput, 'clinicId'> {
  readonly store: Pick<ClinicStore, 'clinicId' | 'pullChanges' | 'latestChangeSeq'>;
}

/**
 * Reads the whole log and merges it (the slow half of a build). The cursor is at least the latest
 * sequence number given before the read began: every change up to it was read or compacted away,
 * and the newest changes may have been compacted, so the last change read can stand lower.
 */
export async function mergeClinicLog(
  store: Pick<ClinicStore, 'pullChanges' | 'latestChangeSeq'>,
): Promise<SnapshotMerge> {
  const merge = new SnapshotMerge();
  merge.reachedCursor(await store.latestChangeSeq());
  let after = 0;
  for (;;) {
    const page = await store.pullChanges({ after, limit: MAX_PAGE_SIZE });
    for (const stored of page.changes) {
      const { serverSeq, receivedAt: _received, ...change } = stored;
      // Stored changes passed the push's validation; entities the merge does not know are skipped there.
      merge.add(change as ChangeRecord, serverSeq);
    }
    merge.reachedCursor(page.cursor);
    if (!page.hasMore || page.cursor <= after) return merge;
    after = page.cursor;
  }
}

/** Builds, hashes and signs the snapshot of a clinic at its latest cursor. */
export async function buildSnapshot(input: SnapshotBuildInput): Promise<BuiltSnapshot> {
  const merge = await mergeClinicLog(input.store);
  return packSnapshot(merge, { ...input, clinicId: input.store.clinicId });
}

/** Cuts merged rows into hashed chunks and signs their manifest. */
export function packSnapshot(merge: SnapshotMerge, input: SnapshotPackInput): BuiltSnapshot {
  const clinicId = input.clinicId;
  const snapshotId = input.snapshotId ?? randomBytes(16).toString('hex');
  const chunkRows = input.chunkRows ?? SNAPSHOT_CHUNK_ROWS;
  const chunks: Buffer[] = [];
  const entries: SnapshotChunkEntry[] = [];
  const totals: Partial<Record<EntityName, number>> = {};
  let pending: { entity: EntityName; rows: SnapshotRow[] } | null = null;
  const flush = () => {
    if (!pending || pending.rows.length === 0) return;
    const index = chunks.length;
    const fields = snapshotFieldsOf(pending.entity);
    const rows = pending.rows.map((row) => encodeSnapshotRow(fields, row));
    const bytes = Buffer.from(
      JSON.stringify({ format: SNAPSHOT_FORMAT, snapshotId, index, entity: pending.entity, fields, rows }),
      'utf8',
    );
    chunks.push(bytes);
    entries.push({
      index,
      entity: pending.entity,
      rows: pending.rows.length,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    totals[pending.entity] = (totals[pending.entity] ?? 0) + pending.rows.length;
    pending = null;
  };
  for (const { entity, row } of merge.snapshotRows()) {
    if (pending && (pending.entity !== entity || pending.rows.length >= chunkRows)) flush();
    pending ??= { entity, rows: [] };
    pending.rows.push(row);
  }
  flush();
  const manifest: SnapshotManifest = {
    format: SNAPSHOT_FORMAT,
    snapshotId,
    clinicId,
    cursor: merge.at,
    createdAt: input.now,
    chunks: entries,
    rows: totals,
  };
  const text = JSON.stringify(manifest);
  const signature = input.sign(Buffer.from(SNAPSHOT_SIGNATURE_DOMAIN + text, 'utf8'));
  return { manifest, signed: { manifest: text, signature: encodeBase64(signature) }, chunks };
}
