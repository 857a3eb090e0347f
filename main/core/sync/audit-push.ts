/**
 * Pushing this device's audit chain to the sync server (docs/sync-protocol.md, "Device audit
 * push"). Per chain (device, epoch), oldest epoch first, the entries after the last one
 * the server acknowledged go in consecutive batches (`POST /v1/audit`) with this device's
 * Ed25519 signature over the batch head, exactly as the server checks it:
 * `"chairside/audit-head/v1\n" ‖ canonicalJson({deviceId, epoch, head, seq})`.
 *
 * The acknowledged head is stored in `sync_audit_push` only after the server answered; a crash
 * in between re-pushes the same entries next round, which the server counts as duplicates. The
 * checkpoint in each answer, and the latest one at the end of the round, is checked against the
 * pin (checkpoint-pin.ts). A chain the server refuses (edited, gap, fork, rollback, bad signature)
 * is recorded with a security audit entry and is not pushed again: the round reports
 * `AUDIT_CHAIN_REJECTED` until the chain is settled, instead of failing the same push forever.
 * Before a refusal is blamed on this device's chain, the server's checkpoint is checked: a log cut
 * back in the server's database (issue #11, finding 5) refuses the next entry as a gap, and that
 * is the server's log losing entries, not this chain breaking. A round that passed every check
 * ends by reporting the pinned checkpoint to the server.
 */
import { auditCheckpoint, auditHeadText, auditPush } from '../../../shared/sync/wire/audit.js';
import { MAX_AUDIT_ENTRIES_PER_BATCH } from '../../../shared/sync/wire/records.js';
import type { SyncRouteAnswer } from '../../../shared/sync/wire/route.js';
import type { AuditLog, DeviceIdentity } from '../audit/audit-log.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import { type CheckpointContext, reportPinnedCheckpoint, verifyServerCheckpoint } from './checkpoint-pin.js';
import { SyncRequestError, signWithDeviceKey } from './sync-http.js';

/** The round's error code while a chain of this device stays refused by the server. */
export const AUDIT_CHAIN_REJECTED = 'AUDIT_CHAIN_REJECTED';

/** Bodies per push stay well under the server's 8 MiB body limit (entries are at most 16 KiB). */
const MAX_BODY_CHARS_PER_PUSH = 2 * 1024 * 1024;

/** The bytes signed over the head of a pushed segment (shared/sync/wire/audit.ts `auditHeadText`). */
export function auditHeadMessage(deviceId: string, epoch: number, seq: number, head: string): Buffer {
  return Buffer.from(auditHeadText(deviceId, epoch, seq, head), 'utf8');
}

/** Server codes that refuse the chain itself, for good. */
const CHAIN_REFUSALS = new Set(['AUDIT_CHAIN_REJECTED', 'AUDIT_SIGNATURE_INVALID', 'VALIDATION_FAILED']);

interface EntryRow {
  seq: number;
  body: string;
  prev_hash: string;
  hash: string;
}

interface ChainState {
  epoch: number;
  accepted_seq: number | null;
  refused_code: string | null;
}

/** Counts of one audit push. */
export interface AuditPushCounts {
  /** Entries the server stored now. */
  readonly pushed: number;
  /** Entries it already held (a re-push after a lost answer). */
  readonly duplicates: number;
}

/** Everything the audit step of a round needs. */
export interface AuditPushContext extends CheckpointContext {
  readonly device: DeviceIdentity;
  readonly privateKey: Buffer;
  readonly audit: AuditLog;
}

/** Entries and refusals still open, for status and tests. */
export function auditPushState(db: ReadDb, deviceId: string): { unpushed: number; refusedChains: number } {
  const unpushed = db
    .query<{ n: number }>(
      `SELECT count(*) AS n FROM audit_log a
       LEFT JOIN sync_audit_push p ON p.device_id = a.device_id AND p.epoch = a.epoch
       WHERE a.device_id = ? AND a.seq > coalesce(p.accepted_seq, 0)`,
    )
    .get([deviceId])!.n;
  const refusedChains = db
    .query<{ n: number }>('SELECT count(*) AS n FROM sync_audit_push WHERE device_id = ? AND refused_code IS NOT NULL')
    .get([deviceId])!.n;
  return { unpushed, refusedChains };
}

/**
 * The audit step of a round: pushes every chain of this device, then checks the server's latest
 * checkpoint. Throws SyncRequestError (network, AUDIT_CHAIN_REJECTED, SERVER_LOG_LOST_ENTRIES,
 * SERVER_LOG_INCONSISTENT).
 */
export async function pushAuditChains(context: AuditPushContext): Promise<AuditPushCounts> {
  const { db, device } = context;
  let pushed = 0;
  let duplicates = 0;
  let refused = false;
  for (const chain of chainsToPush(db, device.deviceId)) {
    if (chain.refused_code !== null) {
      refused = true;
      continue;
    }
    let accepted = chain.accepted_seq ?? 0;
    for (;;) {
      const entries = nextBatch(db, device.deviceId, chain.epoch, accepted);
      if (entries.length === 0) break;
      const last = entries[entries.length - 1]!;
      let answer: SyncRouteAnswer<typeof auditPush>;
      try {
        answer = await context.request(auditPush, {
          body: {
            deviceId: device.deviceId,
            epoch: chain.epoch,
            entries: entries.map((entry) => ({
              seq: entry.seq,
              body: entry.body,
              prevHash: entry.prev_hash,
              hash: entry.hash,
            })),
            signature: signWithDeviceKey(
              context.privateKey,
              auditHeadMessage(device.deviceId, chain.epoch, last.seq, last.hash),
            ),
          },
        });
      } catch (failure) {
        if (!(failure instanceof SyncRequestError) || !CHAIN_REFUSALS.has(failure.code)) throw failure;
        // Throws SERVER_LOG_LOST_ENTRIES (or _INCONSISTENT) when the server's log is what went back.
        await verifyServerCheckpoint(context, await context.request(auditCheckpoint, {}));
        recordRefusal(context, chain.epoch, entries[0]!.seq, last.seq, failure.code);
        refused = true;
        break;
      }
      // The server's head must be the one just pushed; anything else is not the protocol.
      if (answer.head.seq !== last.seq || answer.head.hash !== last.hash) {
        throw new SyncRequestError(200, 'BAD_ANSWER');
      }
      writeAccepted(db, device.deviceId, chain.epoch, last, context.now());
      accepted = last.seq;
      pushed += answer.appended;
      duplicates += answer.duplicates;
      await verifyServerCheckpoint(context, answer.checkpoint, answer.leafIndexes.at(-1) ?? null);
    }
  }
  // Each round, pushed or not: the log must still extend what this device verified last.
  await verifyServerCheckpoint(context, await context.request(auditCheckpoint, {}));
  await reportPinnedCheckpoint(context);
  if (refused) throw new SyncRequestError(409, AUDIT_CHAIN_REJECTED);
  return { pushed, duplicates };
}

/** This device's epochs with entries, oldest first (the server refuses an older epoch after a newer one). */
function chainsToPush(db: ReadDb, deviceId: string): ChainState[] {
  return db
    .query<ChainState>(
      `SELECT e.epoch, p.accepted_seq, p.refused_code
       FROM (SELECT DISTINCT epoch FROM audit_log WHERE device_id = ?) e
       LEFT JOIN sync_audit_push p ON p.device_id = ? AND p.epoch = e.epoch
       ORDER BY e.epoch`,
    )
    .all([deviceId, deviceId]);
}

/** The next consecutive entries after `afterSeq`, within the server's limits. */
function nextBatch(db: ReadDb, deviceId: string, epoch: number, afterSeq: number): EntryRow[] {
  const rows = db
    .query<EntryRow>(
      `SELECT seq, body, prev_hash, hash FROM audit_log
       WHERE device_id = ? AND epoch = ? AND seq > ? ORDER BY seq LIMIT ?`,
    )
    .all([deviceId, epoch, afterSeq, MAX_AUDIT_ENTRIES_PER_BATCH]);
  let chars = 0;
  const batch: EntryRow[] = [];
  for (const row of rows) {
    chars += row.body.length;
    if (batch.length > 0 && chars > MAX_BODY_CHARS_PER_PUSH) break;
    batch.push(row);
  }
  return batch;
}

function writeAccepted(db: WriteDb, deviceId: string, epoch: number, last: EntryRow, now: number): void {
  db.setSynchronous('FULL');
  db.transaction(() =>
    db
      .command(
        `INSERT INTO sync_audit_push (device_id, epoch, accepted_seq, accepted_hash, accepted_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id, epoch) DO UPDATE SET accepted_seq = excluded.accepted_seq,
           accepted_hash = excluded.accepted_hash, accepted_at = excluded.accepted_at
         WHERE excluded.accepted_seq > sync_audit_push.accepted_seq`,
      )
      .run([deviceId, epoch, last.seq, last.hash, now]),
  );
}

/** Records the server's refusal of a chain with a security audit entry, in one transaction. */
function recordRefusal(context: AuditPushContext, epoch: number, fromSeq: number, toSeq: number, code: string): void {
  const { db, device } = context;
  const now = context.now();
  db.setSynchronous('FULL');
  db.transaction(() => {
    db.command(
      `INSERT INTO sync_audit_push (device_id, epoch, accepted_seq, refused_code, refused_from_seq, refused_to_seq,
         refused_at)
       VALUES (@deviceId, @epoch, 0, @code, @fromSeq, @toSeq, @now)
       ON CONFLICT (device_id, epoch) DO UPDATE SET refused_code = @code, refused_from_seq = @fromSeq,
         refused_to_seq = @toSeq, refused_at = @now`,
    ).run({ deviceId: device.deviceId, epoch, code, fromSeq, toSeq, now });
    context.audit.append(db, device, {
      userId: null,
      role: null,
      action: 'sync.auditChainRefused',
      entityType: 'audit',
      entityId: null,
      outcome: 'error',
      purpose: 'security',
      legalBasis: 'legal-obligation',
      details: { code, epoch, fromSeq, toSeq },
    });
  });
}
