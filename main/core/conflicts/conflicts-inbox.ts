/**
 * Reads the conflicts inbox (shared/api/conflicts.ts): pairs of patients to review, values that
 * lost a concurrent edit, and this device's changes the server refused. Values are returned as
 * stored; the channel's `shape` withholds what the caller's role may not see.
 */
import { z } from 'zod';
import type {
  ConflictsList,
  DuplicatePair,
  DuplicatePatient,
  FieldConflict,
  RefusedChange,
} from '../../../shared/api/conflicts.js';
import { duplicateReasonSchema, duplicateStatusSchema } from '../../../shared/api/conflicts.js';
import { changeOpSchema, fieldValueSchema } from '../../../shared/sync/change.js';
import type { ReadDb } from '../db/access.js';

/** Which patients' branches the caller works in: null for every branch. */
export type BranchScope = ReadonlySet<string> | null;

interface PairRow {
  first_id: string;
  second_id: string;
  reason: string;
  status: string;
  detected_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
}

interface SideRow {
  id: string;
  patient_number: string;
  branch_id: string;
  first_name: string;
  last_name: string;
  date_of_birth: string | null;
  phone: string | null;
  archived_at: number | null;
  merged_into: string | null;
  created_at: number;
}

const SIDE_COLUMNS =
  'id, patient_number, branch_id, first_name, last_name, date_of_birth, phone, archived_at, merged_into, created_at';

function toSide(row: SideRow): DuplicatePatient {
  return {
    id: row.id,
    patientNumber: row.patient_number,
    branchId: row.branch_id,
    firstName: row.first_name,
    lastName: row.last_name,
    dateOfBirth: row.date_of_birth,
    phone: row.phone,
    archived: row.archived_at !== null,
    mergedInto: row.merged_into,
    createdAt: row.created_at,
  };
}

/** One stored pair with both sides, or undefined when either side is outside the caller's branches. */
export function readPair(db: ReadDb, pair: PairRow, scope: BranchScope): DuplicatePair | undefined {
  const side = db.query<SideRow>(`SELECT ${SIDE_COLUMNS} FROM patients WHERE id = ?`);
  const first = side.get([pair.first_id]);
  const second = side.get([pair.second_id]);
  if (!first || !second) return undefined;
  if (scope && !(scope.has(first.branch_id) && scope.has(second.branch_id))) return undefined;
  return {
    reason: duplicateReasonSchema.parse(pair.reason),
    status: duplicateStatusSchema.parse(pair.status),
    detectedAt: pair.detected_at,
    resolvedAt: pair.resolved_at,
    resolvedBy: pair.resolved_by,
    first: toSide(first),
    second: toSide(second),
  };
}

/** The stored pair row, if any. */
export function findPairRow(db: ReadDb, firstId: string, secondId: string, reason: string): PairRow | undefined {
  return db
    .query<PairRow>(
      `SELECT first_id, second_id, reason, status, detected_at, resolved_at, resolved_by FROM patient_duplicates
        WHERE first_id = ? AND second_id = ? AND reason = ?`,
    )
    .get([firstId, secondId, reason]);
}

function listPairs(db: ReadDb, includeResolved: boolean, limit: number, scope: BranchScope): DuplicatePair[] {
  const rows = db
    .query<PairRow>(
      `SELECT first_id, second_id, reason, status, detected_at, resolved_at, resolved_by FROM patient_duplicates
        WHERE status = 'open' OR ? ORDER BY detected_at DESC, first_id, second_id, reason LIMIT ?`,
    )
    .all([includeResolved ? 1 : 0, limit]);
  return rows.flatMap((row) => readPair(db, row, scope) ?? []);
}

// Stored values are canonical JSON of one replicated scalar (sync-apply.ts).
const storedValue = (text: string) => fieldValueSchema.parse(JSON.parse(text));

function listFieldConflicts(db: ReadDb, limit: number, scope: BranchScope): FieldConflict[] {
  const rows = db
    .query<{
      entity: string;
      row_id: string;
      field: string;
      losing_hlc: string;
      losing_value: string;
      winning_hlc: string;
      winning_value: string;
      recorded_at: number;
      branch_id: string | null;
    }>(
      `SELECT c.entity, c.row_id, c.field, c.losing_hlc, c.losing_value, c.winning_hlc, c.winning_value, c.recorded_at,
              p.branch_id
         FROM sync_conflicts c LEFT JOIN patients p ON c.entity IN ('patient', 'patient_medical') AND p.id = c.row_id
        ORDER BY c.recorded_at DESC, c.entity, c.row_id, c.field LIMIT ?`,
    )
    .all([limit]);
  return rows
    .filter((row) => !scope || row.branch_id === null || scope.has(row.branch_id))
    .map((row) => ({
      entity: row.entity,
      rowId: row.row_id,
      field: row.field,
      medical: row.entity === 'patient_medical',
      hidden: false,
      losingValue: storedValue(row.losing_value),
      winningValue: storedValue(row.winning_value),
      losingHlc: row.losing_hlc,
      winningHlc: row.winning_hlc,
      recordedAt: row.recorded_at,
    }));
}

const fieldNames = z.record(z.string(), z.unknown()).transform((fields) => Object.keys(fields));

function listRefused(db: ReadDb, limit: number): RefusedChange[] {
  return db
    .query<{
      change_id: string;
      tx_id: string;
      entity: string;
      row_id: string;
      op: string;
      fields: string;
      code: string;
      message: string;
      refused_at: number;
    }>(
      `SELECT r.change_id, r.tx_id, o.entity, o.row_id, o.op, o.fields, r.code, r.message, r.refused_at
         FROM sync_refused r JOIN sync_outbox o ON o.change_id = r.change_id
        ORDER BY r.refused_at DESC, r.change_id LIMIT ?`,
    )
    .all([limit])
    .map((row) => ({
      changeId: row.change_id,
      txId: row.tx_id,
      entity: row.entity,
      rowId: row.row_id,
      op: changeOpSchema.parse(row.op),
      fields: fieldNames.parse(JSON.parse(row.fields)),
      code: row.code,
      message: row.message,
      refusedAt: row.refused_at,
    }));
}

/** The whole inbox, most recent first in each list. */
export function readConflictsInbox(
  db: ReadDb,
  options: { includeResolved: boolean; limit: number; scope: BranchScope },
): ConflictsList {
  return {
    duplicates: listPairs(db, options.includeResolved, options.limit, options.scope),
    fieldConflicts: listFieldConflicts(db, options.limit, options.scope),
    refused: listRefused(db, options.limit),
  };
}
