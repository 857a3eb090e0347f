/**
 * The audit log on PostgreSQL: device audit chains, the clinic's Merkle log of their leaves and
 * its checkpoints (the leaf counter's lock serialises appends and checkpoints), and security events.
 */
import type pg from 'pg';
import { auditLeafHash, overlapRange, planAuditAppend } from '../audit-append.js';
import { CheckpointRejectedError } from '../errors.js';
import { checkLeafRange, leafHashesFromRows } from '../leaf-range.js';
import {
  type PostgresClinicContext,
  advanceCounter,
  counterValue,
  lockCounter,
  requireActiveDevice,
} from '../postgres/clinic-transaction.js';
import { SCHEMA } from '../postgres/migrate.js';
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
import {
  AUDIT_ENTRY_COLUMNS,
  type AuditEntryRow,
  CHECKPOINT_COLUMNS,
  type CheckpointRow,
  type SecurityEventRow,
  auditEntryFromRow,
  checkpointFromRow,
  securityEventFromRow,
} from '../stored-rows.js';
import type { AuditLogStore } from './audit-log-store.js';

async function readHead(client: pg.PoolClient, deviceId: string, epoch: number): Promise<AuditChainHead | null> {
  const row = (
    await client.query<{ head_seq: number; head_hash: string }>(
      `SELECT head_seq, head_hash FROM ${SCHEMA}.audit_heads WHERE device_id = $1 AND epoch = $2`,
      [deviceId, epoch],
    )
  ).rows[0];
  return row ? parseStoredRow(auditChainHeadSchema, { seq: row.head_seq, hash: row.head_hash }, 'audit head') : null;
}

// `where` is one of the constant clauses above, never caller text.
async function readCheckpoint(
  client: pg.PoolClient,
  where: 'WHERE tree_size = $1' | 'ORDER BY tree_size DESC LIMIT 1',
  params: unknown[],
): Promise<CheckpointRecord | null> {
  const row = (
    await client.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ${SCHEMA}.audit_checkpoints ${where}`, params)
  ).rows[0];
  return row ? checkpointFromRow(row) : null;
}

/** The audit area of one clinic. */
export function postgresAuditLog({ run, clock }: PostgresClinicContext): AuditLogStore {
  return {
    async auditChainHead(deviceId: string, epoch: number): Promise<AuditChainHead | null> {
      if (!deviceIdSchema.safeParse(deviceId).success || !Number.isSafeInteger(epoch)) return null;
      return run((client) => readHead(client, deviceId, epoch));
    },

    async appendAuditEntries(input: AuditBatch): Promise<AppendAuditResult> {
      const batch = parseInput(auditBatchSchema, input);
      return run(async (client) => {
        await requireActiveDevice(client, batch.deviceId);
        // The leaf counter's lock serialises audit appends (and checkpoints) of this clinic.
        await lockCounter(client, 'audit_leaves');
        const newest = await client.query<{ epoch: number | null }>(
          `SELECT max(epoch) AS epoch FROM ${SCHEMA}.audit_heads WHERE device_id = $1`,
          [batch.deviceId],
        );
        const head = await readHead(client, batch.deviceId, batch.epoch);
        const overlap = overlapRange(batch, head);
        const storedHashes = new Map<number, string>();
        if (overlap) {
          const rows = await client.query<{ seq: number; hash: string }>(
            `SELECT seq, hash FROM ${SCHEMA}.audit_entries WHERE device_id = $1 AND epoch = $2 AND seq BETWEEN $3 AND $4`,
            [batch.deviceId, batch.epoch, overlap[0], overlap[1]],
          );
          for (const row of rows.rows) storedHashes.set(row.seq, row.hash);
        }
        const plan = planAuditAppend(batch, { newestEpoch: newest.rows[0]?.epoch ?? null, head, storedHashes });
        if (plan.fresh.length === 0) return { appended: [], duplicates: plan.duplicates, head: head! };

        const receivedAt = clock.now();
        const firstLeaf = (await advanceCounter(client, 'audit_leaves', plan.fresh.length)) - plan.fresh.length;
        const appended = plan.fresh.map((entry, i): AuditEntryRecord => ({
          deviceId: batch.deviceId,
          epoch: batch.epoch,
          seq: entry.seq,
          body: entry.body,
          prevHash: entry.prevHash,
          hash: entry.hash,
          deviceTime: entry.deviceTime,
          receivedAt,
          leafIndex: firstLeaf + i,
        }));
        await client.query(
          `INSERT INTO ${SCHEMA}.audit_leaves (leaf_index, leaf_hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
          [appended.map((record) => record.leafIndex), appended.map((record) => Buffer.from(auditLeafHash(record)))],
        );
        await client.query(
          `INSERT INTO ${SCHEMA}.audit_entries (${AUDIT_ENTRY_COLUMNS})
           SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                                $7::bigint[], $8::bigint[], $9::bigint[])`,
          [
            appended.map((r) => r.deviceId),
            appended.map((r) => r.epoch),
            appended.map((r) => r.seq),
            appended.map((r) => r.body),
            appended.map((r) => r.prevHash),
            appended.map((r) => r.hash),
            appended.map((r) => r.deviceTime),
            appended.map((r) => r.receivedAt),
            appended.map((r) => r.leafIndex),
          ],
        );
        const last = appended.at(-1)!;
        const newHead: AuditChainHead = { seq: last.seq, hash: last.hash };
        if (head) {
          await client.query(
            `UPDATE ${SCHEMA}.audit_heads SET head_seq = $1, head_hash = $2, updated_at = $3 WHERE device_id = $4 AND epoch = $5`,
            [newHead.seq, newHead.hash, receivedAt, batch.deviceId, batch.epoch],
          );
        } else {
          await client.query(
            `INSERT INTO ${SCHEMA}.audit_heads (device_id, epoch, head_seq, head_hash, updated_at) VALUES ($1, $2, $3, $4, $5)`,
            [batch.deviceId, batch.epoch, newHead.seq, newHead.hash, receivedAt],
          );
        }
        return { appended, duplicates: plan.duplicates, head: newHead };
      });
    },

    async listAuditEntries(query: PageQuery): Promise<AuditEntryPage> {
      const { after, limit } = parseInput(pageQuerySchema, query);
      const rows = await run(
        async (client) =>
          (
            await client.query<AuditEntryRow>(
              `SELECT ${AUDIT_ENTRY_COLUMNS} FROM ${SCHEMA}.audit_entries WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2`,
              [after, limit + 1],
            )
          ).rows,
      );
      const entries = rows.slice(0, limit).map(auditEntryFromRow);
      const last = entries.at(-1);
      return { entries, hasMore: rows.length > limit, cursor: last ? last.leafIndex + 1 : after };
    },

    async auditLogSize(): Promise<number> {
      return run((client) => counterValue(client, 'audit_leaves'));
    },

    async auditLeafHashes(start: number, end: number): Promise<Uint8Array[]> {
      return run(async (client) => {
        checkLeafRange(start, end, await counterValue(client, 'audit_leaves'));
        const rows = await client.query<{ leaf_index: number; leaf_hash: Buffer }>(
          `SELECT leaf_index, leaf_hash FROM ${SCHEMA}.audit_leaves
            WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index`,
          [start, end],
        );
        return leafHashesFromRows(rows.rows, start, end);
      });
    },

    async storeCheckpoint(input: CheckpointInput): Promise<CheckpointRecord> {
      const checkpoint = parseInput(checkpointInputSchema, input);
      return run(async (client) => {
        const size = await lockCounter(client, 'audit_leaves');
        if (checkpoint.size > size) {
          throw new CheckpointRejectedError('beyond_log', `size ${checkpoint.size} exceeds the log's ${size} leaves`);
        }
        const existing = await readCheckpoint(client, 'WHERE tree_size = $1', [checkpoint.size]);
        if (existing) {
          if (Buffer.compare(existing.rootHash, checkpoint.rootHash) !== 0) {
            throw new CheckpointRejectedError('conflict', `another root is stored for size ${checkpoint.size}`);
          }
          return existing;
        }
        const latest = await readCheckpoint(client, 'ORDER BY tree_size DESC LIMIT 1', []);
        if (latest && checkpoint.size < latest.size) {
          throw new CheckpointRejectedError('rollback', `a checkpoint of size ${latest.size} is already stored`);
        }
        const record: CheckpointRecord = { ...checkpoint, createdAt: clock.now() };
        await client.query(
          `INSERT INTO ${SCHEMA}.audit_checkpoints (tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4)`,
          [record.size, Buffer.from(record.rootHash), record.note, record.createdAt],
        );
        return record;
      });
    },

    async latestCheckpoint(): Promise<CheckpointRecord | null> {
      return run((client) => readCheckpoint(client, 'ORDER BY tree_size DESC LIMIT 1', []));
    },

    async getCheckpoint(size: number): Promise<CheckpointRecord | null> {
      if (!Number.isSafeInteger(size) || size < 0) return null;
      return run((client) => readCheckpoint(client, 'WHERE tree_size = $1', [size]));
    },

    async appendSecurityEvent(input: SecurityEventInput): Promise<SecurityEvent> {
      const event = parseInput(securityEventInputSchema, input);
      return run(async (client) => {
        const record: SecurityEvent = {
          ...event,
          eventSeq: await advanceCounter(client, 'security_events', 1),
          occurredAt: clock.now(),
        };
        await client.query(
          `INSERT INTO ${SCHEMA}.security_events (event_seq, kind, device_id, user_id, details, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            record.eventSeq,
            record.kind,
            record.deviceId,
            record.userId,
            JSON.stringify(record.details),
            record.occurredAt,
          ],
        );
        return record;
      });
    },

    async listSecurityEvents(query: PageQuery): Promise<SecurityEventPage> {
      const { after, limit } = parseInput(pageQuerySchema, query);
      const rows = await run(
        async (client) =>
          (
            await client.query<SecurityEventRow>(
              `SELECT event_seq, kind, device_id, user_id, details, occurred_at FROM ${SCHEMA}.security_events
                WHERE event_seq > $1 ORDER BY event_seq LIMIT $2`,
              [after, limit + 1],
            )
          ).rows,
      );
      const events = rows.slice(0, limit).map(securityEventFromRow);
      return { events, hasMore: rows.length > limit, cursor: events.at(-1)?.eventSeq ?? after };
    },
  };
}
