/**
 * The audit log on the embedded storage: device audit chains, the clinic's Merkle log of their
 * leaves and its checkpoints, and security events, in one clinic file.
 */
import { auditLeafHash, overlapRange, planAuditAppend } from '../audit-append.js';
import { CheckpointRejectedError } from '../errors.js';
import { checkLeafRange, leafHashesFromRows } from '../leaf-range.js';
import {
  type AppendAuditResult,
  type AuditBatch,
  type AuditChainHead,
  type AuditEntryPage,
  type AuditEntryRecord,
  type CheckpointInput,
  type CheckpointRecord,
  type PageQuery,
  type SecurityEvent,
  type SecurityEventInput,
  type SecurityEventPage,
  auditBatchSchema,
  auditChainHeadSchema,
  checkpointInputSchema,
  deviceIdSchema,
  pageQuerySchema,
  parseInput,
  parseStoredRow,
  securityEventInputSchema,
} from '../records.js';
import type { SqliteClinicDatabase } from '../sqlite/clinic-database.js';
import {
  AUDIT_ENTRY_COLUMNS,
  type AuditEntryRow,
  type CheckpointRow,
  type SecurityEventRow,
  auditEntryFromRow,
  checkpointFromRow,
  securityEventFromRow,
} from '../stored-rows.js';
import type { AuditLogStore } from './audit-log-store.js';

function readHead(clinic: SqliteClinicDatabase, deviceId: string, epoch: number): AuditChainHead | null {
  const row = clinic.sql
    .get('SELECT head_seq, head_hash FROM audit_heads WHERE device_id = ? AND epoch = ?')
    .get(deviceId, epoch) as { head_seq: number; head_hash: string } | undefined;
  return row ? parseStoredRow(auditChainHeadSchema, { seq: row.head_seq, hash: row.head_hash }, 'audit head') : null;
}

function readCheckpoint(clinic: SqliteClinicDatabase, size: number): CheckpointRecord | null {
  const row = clinic.sql
    .get('SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints WHERE tree_size = ?')
    .get(size) as CheckpointRow | undefined;
  return row ? checkpointFromRow(row) : null;
}

/** The audit log of one clinic file. */
export function sqliteAuditLog(clinic: SqliteClinicDatabase): AuditLogStore {
  const { sql, clock } = clinic;
  return {
    async auditChainHead(deviceId: string, epoch: number): Promise<AuditChainHead | null> {
      if (!deviceIdSchema.safeParse(deviceId).success || !Number.isSafeInteger(epoch)) return null;
      return readHead(clinic, deviceId, epoch);
    },

    async appendAuditEntries(input: AuditBatch): Promise<AppendAuditResult> {
      const batch = parseInput(auditBatchSchema, input);
      return clinic.write(() => {
        clinic.requireActiveDevice(batch.deviceId);
        const newest = sql
          .get('SELECT max(epoch) AS epoch FROM audit_heads WHERE device_id = ?')
          .get(batch.deviceId) as {
          epoch: number | null;
        };
        const head = readHead(clinic, batch.deviceId, batch.epoch);
        const overlap = overlapRange(batch, head);
        const storedHashes = new Map<number, string>();
        if (overlap) {
          const rows = sql
            .get('SELECT seq, hash FROM audit_entries WHERE device_id = ? AND epoch = ? AND seq BETWEEN ? AND ?')
            .all(batch.deviceId, batch.epoch, overlap[0], overlap[1]) as Array<{ seq: number; hash: string }>;
          for (const row of rows) storedHashes.set(row.seq, row.hash);
        }
        const plan = planAuditAppend(batch, { newestEpoch: newest.epoch, head, storedHashes });
        if (plan.fresh.length === 0) return { appended: [], duplicates: plan.duplicates, head: head! };

        const receivedAt = clock.now();
        const firstLeaf = clinic.advanceCounter('audit_leaves', plan.fresh.length) - plan.fresh.length;
        const insertLeaf = sql.get('INSERT INTO audit_leaves (leaf_index, leaf_hash) VALUES (?, ?)');
        const insertEntry = sql.get(
          `INSERT INTO audit_entries (${AUDIT_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        const appended = plan.fresh.map((entry, i): AuditEntryRecord => {
          const record: AuditEntryRecord = {
            deviceId: batch.deviceId,
            epoch: batch.epoch,
            seq: entry.seq,
            body: entry.body,
            prevHash: entry.prevHash,
            hash: entry.hash,
            deviceTime: entry.deviceTime,
            receivedAt,
            leafIndex: firstLeaf + i,
          };
          insertLeaf.run(record.leafIndex, Buffer.from(auditLeafHash(record)));
          insertEntry.run(
            record.deviceId,
            record.epoch,
            record.seq,
            record.body,
            record.prevHash,
            record.hash,
            record.deviceTime,
            record.receivedAt,
            record.leafIndex,
          );
          return record;
        });
        const last = appended.at(-1)!;
        const newHead: AuditChainHead = { seq: last.seq, hash: last.hash };
        if (head) {
          sql
            .get('UPDATE audit_heads SET head_seq = ?, head_hash = ?, updated_at = ? WHERE device_id = ? AND epoch = ?')
            .run(newHead.seq, newHead.hash, receivedAt, batch.deviceId, batch.epoch);
        } else {
          sql
            .get('INSERT INTO audit_heads (device_id, epoch, head_seq, head_hash, updated_at) VALUES (?, ?, ?, ?, ?)')
            .run(batch.deviceId, batch.epoch, newHead.seq, newHead.hash, receivedAt);
        }
        return { appended, duplicates: plan.duplicates, head: newHead };
      });
    },

    async listAuditEntries(query: PageQuery): Promise<AuditEntryPage> {
      const { after, limit } = parseInput(pageQuerySchema, query);
      const rows = sql
        .get(`SELECT ${AUDIT_ENTRY_COLUMNS} FROM audit_entries WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?`)
        .all(after, limit + 1) as AuditEntryRow[];
      const entries = rows.slice(0, limit).map(auditEntryFromRow);
      const last = entries.at(-1);
      return { entries, hasMore: rows.length > limit, cursor: last ? last.leafIndex + 1 : after };
    },

    async auditLogSize(): Promise<number> {
      return clinic.counterValue('audit_leaves');
    },

    async auditLeafHashes(start: number, end: number): Promise<Uint8Array[]> {
      const size = clinic.counterValue('audit_leaves');
      checkLeafRange(start, end, size);
      const rows = sql
        .get(
          'SELECT leaf_index, leaf_hash FROM audit_leaves WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index',
        )
        .all(start, end) as Array<{ leaf_index: number; leaf_hash: Buffer }>;
      return leafHashesFromRows(rows, start, end);
    },

    async storeCheckpoint(input: CheckpointInput): Promise<CheckpointRecord> {
      const checkpoint = parseInput(checkpointInputSchema, input);
      return clinic.write(() => {
        const size = clinic.counterValue('audit_leaves');
        if (checkpoint.size > size) {
          throw new CheckpointRejectedError('beyond_log', `size ${checkpoint.size} exceeds the log's ${size} leaves`);
        }
        const existing = readCheckpoint(clinic, checkpoint.size);
        if (existing) {
          if (Buffer.compare(existing.rootHash, checkpoint.rootHash) !== 0) {
            throw new CheckpointRejectedError('conflict', `another root is stored for size ${checkpoint.size}`);
          }
          return existing;
        }
        const latest = sql.get('SELECT max(tree_size) AS size FROM audit_checkpoints').get() as {
          size: number | null;
        };
        if (latest.size !== null && checkpoint.size < latest.size) {
          throw new CheckpointRejectedError('rollback', `a checkpoint of size ${latest.size} is already stored`);
        }
        const record: CheckpointRecord = { ...checkpoint, createdAt: clock.now() };
        sql
          .get('INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?)')
          .run(record.size, Buffer.from(record.rootHash), record.note, record.createdAt);
        return record;
      });
    },

    async latestCheckpoint(): Promise<CheckpointRecord | null> {
      const row = sql
        .get('SELECT tree_size, root_hash, note, created_at FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1')
        .get() as CheckpointRow | undefined;
      return row ? checkpointFromRow(row) : null;
    },

    async getCheckpoint(size: number): Promise<CheckpointRecord | null> {
      if (!Number.isSafeInteger(size) || size < 0) return null;
      return readCheckpoint(clinic, size);
    },

    async appendSecurityEvent(input: SecurityEventInput): Promise<SecurityEvent> {
      const event = parseInput(securityEventInputSchema, input);
      return clinic.write(() => {
        const record: SecurityEvent = {
          ...event,
          eventSeq: clinic.advanceCounter('security_events', 1),
          occurredAt: clock.now(),
        };
        sql
          .get(
            'INSERT INTO security_events (event_seq, kind, device_id, user_id, details, occurred_at) VALUES (?, ?, ?, ?, ?, ?)',
          )
          .run(
            record.eventSeq,
            record.kind,
            record.deviceId,
            record.userId,
            JSON.stringify(record.details),
            record.occurredAt,
          );
        return record;
      });
    },

    async listSecurityEvents(query: PageQuery): Promise<SecurityEventPage> {
      const { after, limit } = parseInput(pageQuerySchema, query);
      const rows = sql
        .get(
          'SELECT event_seq, kind, device_id, user_id, details, occurred_at FROM security_events WHERE event_seq > ? ORDER BY event_seq LIMIT ?',
        )
        .all(after, limit + 1) as SecurityEventRow[];
      const events = rows.slice(0, limit).map(securityEventFromRow);
      return { events, hasMore: rows.length > limit, cursor: events.at(-1)?.eventSeq ?? after };
    },
  };
}
