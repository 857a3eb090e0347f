/**
 * The local, hash-chained audit log (chain rules in shared/audit-chain.ts). Entries are appended
 * inside the caller's transaction, so an action and its audit entry commit together or not at
 * all: if the audit write fails, the action fails.
 */
import {
  type AuditEntryBody,
  type ChainedAuditEntry,
  type ChainVerification,
  auditGenesisHash,
  canonicalAuditBody,
  chainHash,
  AuditChainVerifier,
} from '../../../shared/audit-chain.js';
import type { Sha256 } from '../../../shared/hashing.js';
import type { AuditEntryView } from '../../../shared/api/audit.js';
import type { ReadDb, WriteDb } from '../db/access.js';

/** What a caller supplies for an entry; the log adds device, epoch, sequence and time. */
export type AuditEntryInput = Omit<AuditEntryBody, 'v' | 'deviceId' | 'epoch' | 'seq' | 'time'>;

/** This device's place in the audit chain. */
export interface DeviceIdentity {
  readonly deviceId: string;
  readonly epoch: number;
}

/** What verification reads of each entry. */
interface ChainRow extends ChainedAuditEntry {
  device_id: string;
  epoch: number;
}

interface AuditRow {
  id: number;
  device_id: string;
  epoch: number;
  seq: number;
  time: number;
  user_id: string | null;
  role: string | null;
  action: string;
  entity_type: string | null;
  entity_id: string | null;
  outcome: 'success' | 'denied' | 'error';
  purpose: string;
  legal_basis: string;
  body: string;
  prev_hash: string;
  hash: string;
}

/** Filters of the audit viewer. */
export interface AuditFilter {
  userId?: string | undefined;
  action?: string | undefined;
  entityType?: string | undefined;
  entityId?: string | undefined;
  outcome?: 'success' | 'denied' | 'error' | undefined;
  from?: number | undefined;
  to?: number | undefined;
  before?: number | undefined;
  limit: number;
}

// The derived columns cannot disagree with the body, so verification reads only the chain itself.
const VERIFY_ROWS = 'SELECT device_id, epoch, seq, body, prev_hash AS prevHash, hash FROM audit_log ORDER BY id';

// Only the hashed body and the links are written; every other column is generated from the body.
const INSERT_ENTRY = 'INSERT INTO audit_log (body, prev_hash, hash) VALUES (?, ?, ?)';

/** Appends to, lists and verifies the audit chain of one device. */
export class AuditLog {
  constructor(
    private readonly sha256: Sha256,
    private readonly now: () => number,
  ) {}

  /** Appends an entry in the current transaction and returns its sequence and hash. */
  append(db: WriteDb, device: DeviceIdentity, input: AuditEntryInput): { seq: number; hash: string } {
    if (!db.inTransaction) throw new Error('audit entries are appended inside the action transaction');
    const head = db
      .query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE device_id = ? AND epoch = ?')
      .get([device.deviceId, device.epoch]);
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? auditGenesisHash(this.sha256, device.deviceId, device.epoch);
    const body: AuditEntryBody = {
      v: 1,
      deviceId: device.deviceId,
      epoch: device.epoch,
      seq,
      time: this.now(),
      ...input,
    };
    const text = canonicalAuditBody(body);
    const hash = chainHash(this.sha256, prevHash, text);
    db.command(INSERT_ENTRY).run([text, prevHash, hash]);
    db.command(
      `INSERT INTO audit_head (device_id, epoch, seq, hash) VALUES (?, ?, ?, ?)
       ON CONFLICT (device_id, epoch) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
    ).run([device.deviceId, device.epoch, seq, hash]);
    return { seq, hash };
  }

  /**
   * Starts a new epoch of this device's chain (after a restored backup or a cloned database):
   * sequences restart at 1 under a new genesis, so no (device, epoch, seq) is ever reused. The
   * first entry of the new epoch records the previous epoch's head, linking the two.
   */
  startEpoch(db: WriteDb, device: DeviceIdentity, reason: string): DeviceIdentity {
    return db.transaction(() => {
      const previous = db
        .query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE device_id = ? AND epoch = ?')
        .get([device.deviceId, device.epoch]);
      db.command('UPDATE device SET epoch = epoch + 1 WHERE id = ?').run([device.deviceId]);
      const next = { deviceId: device.deviceId, epoch: device.epoch + 1 };
      this.append(db, next, {
        userId: null,
        role: null,
        action: 'audit.epochStarted',
        entityType: 'audit',
        entityId: null,
        outcome: 'success',
        purpose: 'audit',
        legalBasis: 'legal-obligation',
        details: {
          reason,
          previousEpoch: device.epoch,
          previousHeadSeq: previous?.seq ?? 0,
          previousHeadHash: previous?.hash ?? null,
        },
      });
      return next;
    });
  }

  /**
   * Verifies every epoch of this device's chain against the recorded heads. Reports the first
   * bad sequence. Truncation by someone who also rewrote the recorded head is only detectable
   * against a head witnessed elsewhere (the sync server's log; see docs/threat-model.md).
   */
  verify(db: ReadDb, device: DeviceIdentity): ChainVerification & { epoch: number } {
    const heads = new Map(
      db
        .query<{ epoch: number; seq: number; hash: string }>(
          'SELECT epoch, seq, hash FROM audit_head WHERE device_id = ?',
        )
        .all([device.deviceId])
        .map((head) => [head.epoch, head]),
    );
    // One pass over the table in insertion order (a sequential scan, not an index walk); epochs
    // are consecutive runs of this device's rows, starting at 1.
    const genesis = (epoch: number) => auditGenesisHash(this.sha256, device.deviceId, epoch);
    const verifierFor = (epoch: number) =>
      new AuditChainVerifier(this.sha256, genesis(epoch), { knownHead: heads.get(epoch) ?? { seq: 0, hash: '' } });
    let epoch = 1;
    let verifier = verifierFor(epoch);
    let total = 0;
    for (const row of db.query<ChainRow>(VERIFY_ROWS).iterate()) {
      while (row.epoch !== epoch && row.device_id === device.deviceId && row.epoch > epoch && epoch < device.epoch) {
        const closed = verifier.finish();
        total += closed.entries;
        if (!closed.ok) return { ...closed, entries: total, epoch };
        verifier = verifierFor(++epoch);
      }
      if (row.epoch !== epoch || row.device_id !== device.deviceId) {
        // Another device's row, or an epoch out of order: not part of this device's chain.
        return {
          ok: false,
          entries: total + 1,
          firstBadSeq: row.seq,
          reason: 'entry outside this device’s epochs',
          epoch,
        };
      }
      const failed = verifier.add(row);
      if (failed) return { ...failed, entries: total + failed.entries, epoch };
    }
    for (;;) {
      const closed = verifier.finish();
      total += closed.entries;
      if (!closed.ok || epoch === device.epoch) return { ...closed, entries: total, epoch };
      verifier = verifierFor(++epoch);
    }
  }

  /** Entries newest first, filtered; `before` pages backwards by entry id. */
  list(db: ReadDb, filter: AuditFilter): { entries: AuditEntryView[]; nextBefore: number | null } {
    // Fixed SQL fragments chosen by which filters are present; every value is a bound parameter.
    const conditions: string[] = [];
    const params: Record<string, unknown> = { limit: filter.limit + 1 };
    const add = (column: string, key: keyof AuditFilter, op = '=') => {
      if (filter[key] === undefined) return;
      conditions.push(`${column} ${op} @${key}`);
      params[key] = filter[key];
    };
    add('user_id', 'userId');
    add('action', 'action');
    add('entity_type', 'entityType');
    add('entity_id', 'entityId');
    add('outcome', 'outcome');
    add('time', 'from', '>=');
    add('time', 'to', '<=');
    add('id', 'before', '<');
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = db.query<AuditRow>(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT @limit`).all(params);
    const page = rows.slice(0, filter.limit);
    return {
      entries: page.map(toView),
      nextBefore: rows.length > filter.limit ? (page.at(-1)?.id ?? null) : null,
    };
  }
}

function toView(row: AuditRow): AuditEntryView {
  const body = JSON.parse(row.body) as AuditEntryBody;
  return {
    seq: row.seq,
    epoch: row.epoch,
    deviceId: row.device_id,
    time: row.time,
    userId: row.user_id,
    role: row.role,
    action: row.action,
    entityType: row.entity_type,
    entityId: row.entity_id,
    outcome: row.outcome,
    purpose: row.purpose,
    legalBasis: row.legal_basis,
    details: body.details,
    hash: row.hash,
  };
}
