/**
 * The row shapes both storages read back, their column lists and the functions that turn them
 * into the storage records (each parsed with its zod schema, so a damaged row fails loudly).
 * Shared by the SQLite and PostgreSQL implementations, whose tables have the same columns.
 */
import {
  type AuditEntryRecord,
  type Clinic,
  type EnrollmentCodeRecord,
  type CheckpointRecord,
  type Device,
  type PulledCursor,
  type SecurityEvent,
  type StoredChange,
  auditEntryRecordSchema,
  checkpointRecordSchema,
  clinicSchema,
  enrollmentCodeRecordSchema,
  deviceSchema,
  parseStoredRow,
  pulledCursorSchema,
  securityEventSchema,
  storedChangeSchema,
} from './records.js';

export interface DeviceRow {
  readonly device_id: string;
  readonly name: string;
  readonly public_key: Buffer;
  readonly enrollment_code_id: string;
  readonly enrolled_at: number;
  readonly device_number: number;
  readonly revoked_at: number | null;
  readonly revoked_reason: string | null;
}

export interface ChangeRow {
  readonly server_seq: number;
  readonly change_id: string;
  readonly tx_id: string;
  readonly device_id: string;
  readonly user_id: string;
  readonly entity: string;
  readonly row_id: string;
  readonly op: string;
  readonly fields: string;
  readonly hlc: string;
  readonly schema_version: number;
  readonly received_at: number;
}

export interface AuditEntryRow {
  readonly device_id: string;
  readonly epoch: number;
  readonly seq: number;
  readonly body: string;
  readonly prev_hash: string;
  readonly hash: string;
  readonly device_time: number;
  readonly received_at: number;
  readonly leaf_index: number;
}

export interface CheckpointRow {
  readonly tree_size: number;
  readonly root_hash: Buffer;
  readonly note: string;
  readonly created_at: number;
}

export interface SecurityEventRow {
  readonly event_seq: number;
  readonly kind: string;
  readonly device_id: string | null;
  readonly user_id: string | null;
  readonly details: string;
  readonly occurred_at: number;
}

export const DEVICE_COLUMNS =
  'device_id, name, public_key, enrollment_code_id, enrolled_at, device_number, revoked_at, revoked_reason';
export const CHANGE_COLUMNS =
  'server_seq, change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc, schema_version, received_at';
export const AUDIT_ENTRY_COLUMNS = 'device_id, epoch, seq, body, prev_hash, hash, device_time, received_at, leaf_index';
export const CHECKPOINT_COLUMNS = 'tree_size, root_hash, note, created_at';

export const deviceFromRow = (row: DeviceRow): Device =>
  parseStoredRow(
    deviceSchema,
    {
      deviceId: row.device_id,
      name: row.name,
      publicKey: row.public_key,
      enrollmentCodeId: row.enrollment_code_id,
      enrolledAt: row.enrolled_at,
      deviceNumber: row.device_number,
      revokedAt: row.revoked_at,
      revokedReason: row.revoked_reason,
    },
    'device',
  );

export const changeFromRow = (row: ChangeRow): StoredChange =>
  parseStoredRow(
    storedChangeSchema,
    {
      serverSeq: row.server_seq,
      changeId: row.change_id,
      txId: row.tx_id,
      deviceId: row.device_id,
      userId: row.user_id,
      entity: row.entity,
      rowId: row.row_id,
      op: row.op,
      fields: JSON.parse(row.fields) as unknown,
      hlc: row.hlc,
      schemaVersion: row.schema_version,
      receivedAt: row.received_at,
    },
    'change',
  );

export const auditEntryFromRow = (row: AuditEntryRow): AuditEntryRecord =>
  parseStoredRow(
    auditEntryRecordSchema,
    {
      deviceId: row.device_id,
      epoch: row.epoch,
      seq: row.seq,
      body: row.body,
      prevHash: row.prev_hash,
      hash: row.hash,
      deviceTime: row.device_time,
      receivedAt: row.received_at,
      leafIndex: row.leaf_index,
    },
    'audit entry',
  );

export const checkpointFromRow = (row: CheckpointRow): CheckpointRecord =>
  parseStoredRow(
    checkpointRecordSchema,
    { size: row.tree_size, rootHash: row.root_hash, note: row.note, createdAt: row.created_at },
    'checkpoint',
  );

export const securityEventFromRow = (row: SecurityEventRow): SecurityEvent =>
  parseStoredRow(
    securityEventSchema,
    {
      eventSeq: row.event_seq,
      kind: row.kind,
      deviceId: row.device_id,
      userId: row.user_id,
      details: JSON.parse(row.details) as unknown,
      occurredAt: row.occurred_at,
    },
    'security event',
  );

export type Counter = 'changes' | 'audit_leaves' | 'security_events';

/** The columns of a device's pulled cursor (device_cursors). */
export const PULLED_CURSOR_COLUMNS = 'device_id, pulled_after, updated_at';

export interface PulledCursorRow {
  readonly device_id: string;
  readonly pulled_after: number;
  readonly updated_at: number;
}

export const pulledCursorFromRow = (row: PulledCursorRow): PulledCursor =>
  parseStoredRow(
    pulledCursorSchema,
    { deviceId: row.device_id, after: row.pulled_after, updatedAt: row.updated_at },
    'pulled cursor',
  );

/** A clinic's record as both storages keep it (SQLite's catalog and clinic file, PostgreSQL's clinics). */
export interface ClinicRow {
  readonly clinic_id: string;
  readonly name: string;
  readonly created_at: number;
}

export const clinicFromRow = (row: ClinicRow): Clinic =>
  parseStoredRow(clinicSchema, { clinicId: row.clinic_id, name: row.name, createdAt: row.created_at }, 'clinic');

/** The columns of an enrollment code's record (never the code's hash). */
export const ENROLLMENT_CODE_COLUMNS = 'code_id, created_at, expires_at, created_by, redeemed_at, redeemed_by_device';

export interface EnrollmentCodeRow {
  readonly code_id: string;
  readonly created_at: number;
  readonly expires_at: number;
  readonly created_by: string | null;
  readonly redeemed_at: number | null;
  readonly redeemed_by_device: string | null;
}

export const enrollmentCodeFromRow = (row: EnrollmentCodeRow): EnrollmentCodeRecord =>
  parseStoredRow(
    enrollmentCodeRecordSchema,
    {
      codeId: row.code_id,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      createdBy: row.created_by,
      redeemedAt: row.redeemed_at,
      redeemedByDevice: row.redeemed_by_device,
    },
    'enrollment code',
  );
