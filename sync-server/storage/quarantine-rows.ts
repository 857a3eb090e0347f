/**
 * The storage-independent half of quarantining a batch and of the user directory: row shapes,
 * the decision which entries are new, and the conflict check of a re-push. Each storage runs
 * this inside its own transaction.
 */
import { changeContentHash } from './change-append.js';
import { ChangeConflictError } from './errors.js';
import {
  type DirectoryUser,
  type PatientBranch,
  type QuarantinedChange,
  directoryUserSchema,
  patientBranchSchema,
  parseStoredRow,
  quarantinedChangeSchema,
  type quarantineBatchSchema,
} from './records.js';
import type { z } from 'zod';

/** A quarantined_changes row as both storages read it. */
export interface QuarantineRow {
  readonly quarantine_seq: number;
  readonly change_id: string;
  readonly tx_id: string;
  readonly device_id: string;
  readonly user_id: string;
  readonly entity: string;
  readonly row_id: string;
  readonly op: string;
  readonly hlc: string;
  readonly reason: string;
  readonly detail: string;
  readonly content_hash: string;
  readonly quarantined_at: number;
}

export const QUARANTINE_COLUMNS =
  'quarantine_seq, change_id, tx_id, device_id, user_id, entity, row_id, op, hlc, reason, detail, content_hash, quarantined_at';

/** A quarantine row as a record (content hash dropped). */
export function quarantinedFromRow(row: QuarantineRow): QuarantinedChange {
  return parseStoredRow(
    quarantinedChangeSchema,
    {
      quarantineSeq: row.quarantine_seq,
      changeId: row.change_id,
      txId: row.tx_id,
      deviceId: row.device_id,
      userId: row.user_id,
      entity: row.entity,
      rowId: row.row_id,
      op: row.op,
      hlc: row.hlc,
      reason: row.reason,
      detail: row.detail,
      quarantinedAt: row.quarantined_at,
    },
    'quarantined change',
  );
}

/** A user_directory row. */
export interface DirectoryRow {
  readonly user_id: string;
  readonly role: string;
  readonly role_hlc: string;
  /** 0/1 on SQLite, a boolean on PostgreSQL; null while unknown. */
  readonly all_branches: number | boolean | null;
  /** JSON text of the branch id list; null while unknown. */
  readonly branch_ids: string | null;
  /** The user's public key (base64); null for a user made before signing keys. */
  readonly signing_key: string | null;
  readonly updated_at: number;
}

export function directoryUserFromRow(row: DirectoryRow): DirectoryUser {
  let branchIds: unknown = null;
  if (row.branch_ids !== null) {
    try {
      branchIds = JSON.parse(row.branch_ids);
    } catch {
      branchIds = row.branch_ids; // left for the schema below to refuse as a corrupt row
    }
  }
  return parseStoredRow(
    directoryUserSchema,
    {
      userId: row.user_id,
      role: row.role,
      roleHlc: row.role_hlc,
      allBranches: row.all_branches === null ? null : Boolean(row.all_branches),
      branchIds,
      signingKey: row.signing_key,
      updatedAt: row.updated_at,
    },
    'directory user',
  );
}

/** A patient change row that set a branch (the lookup behind ClinicStore.readPatientBranches). */
export interface PatientBranchRow {
  readonly row_id: string;
  readonly fields: string;
  readonly hlc: string;
}

/**
 * Each patient's branch: per patient, the branch_id of the change with the highest HLC (last
 * writer wins, as every device merges it). Rows whose fields lack a string branch_id are skipped.
 */
export function patientBranchesFromRows(rows: readonly PatientBranchRow[]): PatientBranch[] {
  const latest = new Map<string, { branchId: string; hlc: string }>();
  for (const row of rows) {
    const fields = JSON.parse(row.fields) as Record<string, unknown>;
    const branchId = fields.branch_id;
    if (typeof branchId !== 'string') continue;
    const seen = latest.get(row.row_id);
    if (!seen || row.hlc > seen.hlc) latest.set(row.row_id, { branchId, hlc: row.hlc });
  }
  return [...latest.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([patientId, { branchId }]) => parseStoredRow(patientBranchSchema, { patientId, branchId }, 'patient branch'));
}

/** One entry to insert, with its content hash. */
export interface FreshQuarantineEntry {
  readonly entry: z.output<typeof quarantineBatchSchema>['entries'][number];
  readonly contentHash: string;
}

/**
 * The entries of a batch not quarantined yet; throws ChangeConflictError when a stored one has
 * other content (a change id reused: a bug or an attack, never a retry).
 */
export function freshQuarantineEntries(
  batch: z.output<typeof quarantineBatchSchema>,
  stored: readonly QuarantineRow[],
): FreshQuarantineEntry[] {
  const byId = new Map(stored.map((row) => [row.change_id, row]));
  const fresh: FreshQuarantineEntry[] = [];
  for (const entry of batch.entries) {
    const contentHash = changeContentHash(entry.change);
    const existing = byId.get(entry.change.changeId);
    if (existing) {
      if (existing.content_hash !== contentHash) throw new ChangeConflictError(entry.change.changeId);
      continue;
    }
    fresh.push({ entry, contentHash });
  }
  return fresh;
}

/** Stored rows in batch order. */
export function inBatchOrder(
  batch: z.output<typeof quarantineBatchSchema>,
  rows: readonly QuarantineRow[],
): QuarantinedChange[] {
  const byId = new Map(rows.map((row) => [row.change_id, row]));
  return batch.entries.map((entry) => quarantinedFromRow(byId.get(entry.change.changeId)!));
}
