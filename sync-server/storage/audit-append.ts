/**
 * The storage-independent half of appending device audit entries: checking a pushed batch
 * against the stored head of its chain (gap, fork, rollback; identical re-pushes skipped), and
 * the leaf each accepted entry adds to the clinic's Merkle log.
 *
 * The storage checks sequence and linkage only; the caller has already checked every hash with
 * shared/audit-chain.ts (chainHash), since it needs the verdict to raise a security event.
 */
import { auditGenesisHash } from '../../shared/audit-chain.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { leafHash } from '../../shared/merkle/tree.js';
import { AuditChainRejectedError } from './errors.js';
import { nodeSha256 } from './node-crypto.js';
import type { AuditChainHead, ParsedAuditBatch } from './records.js';

/** One entry of a parsed batch. */
export type ParsedAuditEntry = ParsedAuditBatch['entries'][number];

/** What the storage holds for the device, read inside the append transaction. */
export interface StoredChainState {
  /** The device's newest epoch with any entry, or null. */
  readonly newestEpoch: number | null;
  /** The head of the pushed epoch, or null before its first entry. */
  readonly head: AuditChainHead | null;
  /** Stored hashes of the batch's sequences the head already covers (see overlapRange). */
  readonly storedHashes: ReadonlyMap<number, string>;
}

/** The entries to store, and how many of the batch were already stored identically. */
export interface AuditAppendPlan {
  readonly fresh: readonly ParsedAuditEntry[];
  readonly duplicates: number;
}

/** Sequences of the batch the stored head already covers: [from, to], or null for none. */
export function overlapRange(batch: ParsedAuditBatch, head: AuditChainHead | null): [number, number] | null {
  const from = batch.entries[0]!.seq;
  const to = Math.min(batch.entries.at(-1)!.seq, head?.seq ?? 0);
  return from <= to ? [from, to] : null;
}

/** Checks the batch against the stored chain; throws AuditChainRejectedError. */
export function planAuditAppend(batch: ParsedAuditBatch, state: StoredChainState): AuditAppendPlan {
  const { deviceId, epoch, entries } = batch;
  const refuse = (kind: 'gap' | 'fork' | 'rollback', seq: number, detail: string) =>
    new AuditChainRejectedError(kind, deviceId, epoch, seq, detail);

  // A device that started a newer epoch (after a restore) must never write its old chain again:
  // that is how a rolled-back device would replace history.
  if (state.newestEpoch !== null && epoch < state.newestEpoch) {
    throw refuse('rollback', entries[0]!.seq, `the device already writes epoch ${state.newestEpoch}`);
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.seq !== entries[i - 1]!.seq + 1)
      throw refuse('gap', entries[i - 1]!.seq + 1, 'batch skips a sequence');
    if (entries[i]!.prevHash !== entries[i - 1]!.hash) throw refuse('fork', entries[i]!.seq, 'batch link is broken');
  }

  const headSeq = state.head?.seq ?? 0;
  let duplicates = 0;
  for (const entry of entries) {
    if (entry.seq > headSeq) break;
    if (state.storedHashes.get(entry.seq) !== entry.hash) {
      throw refuse('fork', entry.seq, 'entry differs from the one stored at its sequence');
    }
    duplicates++;
  }
  const fresh = entries.slice(duplicates);
  const first = fresh[0];
  if (first) {
    if (first.seq !== headSeq + 1) throw refuse('gap', headSeq + 1, `next stored sequence is ${headSeq + 1}`);
    const expectedPrev = state.head?.hash ?? auditGenesisHash(nodeSha256, deviceId, epoch);
    if (first.prevHash !== expectedPrev) {
      throw refuse('fork', first.seq, state.head ? 'does not link to the stored head' : 'does not start at genesis');
    }
  }
  return { fresh, duplicates };
}

/** What identifies an accepted entry in the clinic's Merkle log. */
export interface AuditLeafSource {
  readonly deviceId: string;
  readonly epoch: number;
  readonly seq: number;
  /** The entry's chain hash, which commits to its body and to every earlier entry of its chain. */
  readonly hash: string;
  readonly receivedAt: number;
}

/**
 * The leaf entry text of an accepted audit entry: canonical JSON of its device, epoch, sequence,
 * chain hash and the server's receipt time. A device recomputes it to check an inclusion proof.
 * It belongs in shared/ once devices verify proofs (docs/sync-protocol.md).
 */
export function auditLeafEntry(source: AuditLeafSource): string {
  return canonicalJson({
    v: 1,
    deviceId: source.deviceId,
    epoch: source.epoch,
    seq: source.seq,
    hash: source.hash,
    receivedAt: source.receivedAt,
  });
}

/** The RFC 6962 leaf hash (0x00 prefix) of an accepted audit entry. */
export function auditLeafHash(source: AuditLeafSource): Uint8Array {
  return leafHash(nodeSha256, auditLeafEntry(source));
}
