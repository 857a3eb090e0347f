/**
 * The rows of the PostgreSQL tables whose patient data is sealed (clinic-data-key.ts), and how
 * they become the row shapes both storages share (stored-rows.ts, quarantine-rows.ts): the
 * change's fields and a quarantined change's detail are opened with the clinic's data key on
 * read. What the server queries by value stays in clear beside them: a patient change's branch
 * id (a clinic location, not patient data), read by the branch-scope check (migration 0110).
 */
import type { CompactionRow } from '../change-compaction.js';
import type { QuarantineRow } from '../quarantine-rows.js';
import type { ChangeRow } from '../stored-rows.js';
import type { ClinicDataKey } from './clinic-data-key.js';

/** The columns of a change as the PostgreSQL storage reads it (fields sealed). */
export const SEALED_CHANGE_COLUMNS =
  'server_seq, change_id, tx_id, device_id, user_id, entity, row_id, op, sealed_fields, hlc, schema_version, received_at';

/** A changes row as read, before its fields are opened. */
export interface SealedChangeRow extends Omit<ChangeRow, 'fields'> {
  readonly sealed_fields: Buffer;
}

/** A change row with its fields opened. */
export function openChangeRow(key: ClinicDataKey, row: SealedChangeRow): ChangeRow {
  // Spelled out rather than a rest spread: this runs for every change of every pulled page.
  return {
    server_seq: row.server_seq,
    change_id: row.change_id,
    tx_id: row.tx_id,
    device_id: row.device_id,
    user_id: row.user_id,
    entity: row.entity,
    row_id: row.row_id,
    op: row.op,
    fields: key.openChangeFields(
      { changeId: row.change_id, entity: row.entity, rowId: row.row_id, op: row.op, hlc: row.hlc },
      row.sealed_fields,
    ),
    hlc: row.hlc,
    schema_version: row.schema_version,
    received_at: row.received_at,
  };
}

/** The columns compaction reads: its candidates' field names need the fields opened. */
export const SEALED_COMPACTION_COLUMNS = 'server_seq, change_id, entity, row_id, op, hlc, sealed_fields';

/** A compaction candidate as read, before its fields are opened. */
export interface SealedCompactionRow extends Omit<CompactionRow, 'fields'> {
  readonly change_id: string;
  readonly sealed_fields: Buffer;
}

/** A compaction candidate with its fields opened. */
export function openCompactionRow(key: ClinicDataKey, row: SealedCompactionRow): CompactionRow {
  const fields = key.openChangeFields(
    { changeId: row.change_id, entity: row.entity, rowId: row.row_id, op: row.op, hlc: row.hlc },
    row.sealed_fields,
  );
  return { server_seq: row.server_seq, entity: row.entity, row_id: row.row_id, op: row.op, hlc: row.hlc, fields };
}

/**
 * The clear branch_id column of a change: a patient change's string `branch_id`, else null
 * (other entities' branches are never queried, so they stay sealed only).
 */
export function patientBranchColumn(entity: string, fields: Readonly<Record<string, unknown>>): string | null {
  if (entity !== 'patient') return null;
  const branchId = fields.branch_id;
  return typeof branchId === 'string' ? branchId : null;
}

/** The columns of a quarantined change as the PostgreSQL storage reads it (detail sealed). */
export const SEALED_QUARANTINE_COLUMNS =
  'quarantine_seq, change_id, tx_id, device_id, user_id, entity, row_id, op, hlc, reason, sealed_detail, content_hash, quarantined_at';

/** A quarantined_changes row as read, before its detail is opened. */
export interface SealedQuarantineRow extends Omit<QuarantineRow, 'detail'> {
  readonly sealed_detail: Buffer;
}

/** A quarantine row with its detail opened. */
export function openQuarantineRow(key: ClinicDataKey, row: SealedQuarantineRow): QuarantineRow {
  const { sealed_detail: sealed, ...rest } = row;
  return { ...rest, detail: key.openQuarantineDetail(row.change_id, sealed) };
}
