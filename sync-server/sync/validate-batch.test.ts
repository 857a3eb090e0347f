import { describe, expect, it } from 'vitest';
import type { ChangeRecord } from '../../shared/sync/change.js';
import { TEST_ADMIN_ID, testUlid, validBatch, validChange } from '../../test/support/sync-server/test-support.js';
import type { DirectoryLookup } from '../storage/storage.js';
import {
  DEFAULT_MAX_CLOCK_AHEAD_MS,
  decideBatch,
  isInNumberingSpace,
  requiredPermissions,
  touchesPatientNumbers,
} from './validate-batch.js';

const NOW = 1_760_000_000_000;
const directory = (role: 'Admin' | 'Dentist' | 'Receptionist' | 'Staff', userId = TEST_ADMIN_ID): DirectoryLookup => ({
  users: [{ userId, role, roleHlc: 'a', allBranches: null, branchIds: null, signingKey: null, updatedAt: 0 }],
  size: 1,
});

describe('re-validation of a batch', () => {
  it('maps entity and operation to the permission the matrix checks', () => {
    const change = (options: Parameters<typeof validChange>[2]) =>
      validChange('dev-1', testUlid(), options) as ChangeRecord;
    expect(requiredPermissions(change({}))).toEqual(['patients.write']);
    expect(requiredPermissions(change({ fields: { archived_at: 1, archive_reason: 'moved' } }))).toEqual([
      'patients.write',
      'patients.archive',
    ]);
    expect(requiredPermissions(change({ entity: 'patient_medical', fields: { allergies: '[]' } }))).toEqual([
      'medical.write',
    ]);
    expect(requiredPermissions(change({ entity: 'branch', fields: { name: 'North' } }))).toEqual(['branches.manage']);
    expect(requiredPermissions(change({ entity: 'user', fields: { role: 'Staff' } }))).toEqual(['users.manage']);
    const own = testUlid();
    expect(
      requiredPermissions(change({ entity: 'user', userId: own, rowId: own, fields: { password_hash: 'x' } })),
    ).toEqual(['session.self']);
    expect(requiredPermissions(change({ entity: 'user', userId: own, rowId: own, fields: { role: 'Admin' } }))).toEqual(
      ['users.manage'],
    );
    expect(requiredPermissions(change({ entity: 'clinical_note', op: 'insert', fields: {} }))).toBeNull();
  });

  it('lets Staff write nothing and Dentists write medical history', () => {
    const medical = validBatch('dev-1', 1, { entity: 'patient_medical', fields: { allergies: '[]' } }).changes;
    expect(decideBatch(medical, directory('Dentist'), NOW).kind).toBe('accept');
    expect(decideBatch(medical, directory('Staff'), NOW)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'forbidden', detail: 'medical.write' }],
    });
    expect(decideBatch(validBatch('dev-1', 1).changes, directory('Staff'), NOW).kind).toBe('quarantine');
  });

  it('admits a founding Admin only while the directory is empty', () => {
    const founder = validBatch('dev-1', 1, {
      entity: 'user',
      op: 'insert',
      rowId: TEST_ADMIN_ID,
      fields: { role: 'Admin', username: 'owner' },
    }).changes;
    expect(decideBatch(founder, { users: [], size: 0 }, NOW)).toEqual({
      kind: 'accept',
      directoryUpdates: [
        {
          userId: TEST_ADMIN_ID,
          role: 'Admin',
          roleHlc: founder[0]!.hlc,
          allBranches: { value: true, hlc: founder[0]!.hlc },
          branchIds: { value: [], hlc: founder[0]!.hlc },
        },
      ],
    });
    const other = testUlid();
    expect(decideBatch(founder, directory('Dentist', other), NOW)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'unknown-user' }],
    });
  });

  it('holds back a clock more than the allowance ahead, and not one at the limit', () => {
    const at = validBatch('dev-1', 1, { wallMs: NOW + DEFAULT_MAX_CLOCK_AHEAD_MS }).changes;
    expect(decideBatch(at, directory('Admin'), NOW).kind).toBe('accept');
    const past = validBatch('dev-1', 1, { wallMs: NOW + DEFAULT_MAX_CLOCK_AHEAD_MS + 1 }).changes;
    expect(decideBatch(past, directory('Admin'), NOW)).toMatchObject({
      kind: 'retry',
      refusals: [{ reason: 'clock-ahead' }],
    });
    // A permanent refusal wins over a transient one.
    const both = validBatch('dev-1', 1, { wallMs: NOW + DEFAULT_MAX_CLOCK_AHEAD_MS + 1, userId: testUlid() }).changes;
    expect(decideBatch(both, directory('Admin'), NOW).kind).toBe('quarantine');
  });

  it('accepts each device only its own patient numbers: P000001 for device 1, P{n}-000001 for device n', () => {
    expect(isInNumberingSpace('P000001', 1)).toBe(true);
    expect(isInNumberingSpace('P1234567', 1)).toBe(true);
    expect(isInNumberingSpace('P2-000001', 2)).toBe(true);
    expect(isInNumberingSpace('P12-000042', 12)).toBe(true);
    expect(isInNumberingSpace('P000001', 2)).toBe(false);
    expect(isInNumberingSpace('P2-000001', 3)).toBe(false);
    expect(isInNumberingSpace('P1-000001', 1)).toBe(false);
    expect(isInNumberingSpace('P02-000001', 2)).toBe(false);
    expect(isInNumberingSpace('P2-00001', 2)).toBe(false);
    expect(isInNumberingSpace('X000001', 1)).toBe(false);
  });

  it('quarantines a patient insert numbered outside the pushing device and any change of a number', () => {
    const insert = (patientNumber: string) =>
      validBatch('dev-2', 1, { op: 'insert', fields: { patient_number: patientNumber, first_name: 'Asha' } }).changes;
    expect(touchesPatientNumbers(insert('P2-000001'))).toBe(true);
    expect(touchesPatientNumbers(validBatch('dev-2', 1).changes)).toBe(false);
    expect(decideBatch(insert('P2-000001'), directory('Admin'), NOW, DEFAULT_MAX_CLOCK_AHEAD_MS, 2).kind).toBe(
      'accept',
    );
    expect(decideBatch(insert('P000001'), directory('Admin'), NOW, DEFAULT_MAX_CLOCK_AHEAD_MS, 2)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'schema', detail: "fields.patient_number: outside the pushing device's numbering space" }],
    });
    // Without the device's number nothing can be checked, so the number is refused.
    expect(decideBatch(insert('P000001'), directory('Admin'), NOW).kind).toBe('quarantine');
    const renumber = validBatch('dev-1', 1, { fields: { patient_number: 'P000009' } }).changes;
    expect(decideBatch(renumber, directory('Admin'), NOW, DEFAULT_MAX_CLOCK_AHEAD_MS, 1)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'schema', detail: 'fields.patient_number: a patient number is never changed' }],
    });
  });

  it('needs patients.archive to merge a record (merged_into)', () => {
    const merge = validBatch('dev-1', 1, { fields: { merged_into: testUlid() } }).changes;
    expect(requiredPermissions(merge[0] as ChangeRecord)).toEqual(['patients.write', 'patients.archive']);
    expect(decideBatch(merge, directory('Receptionist'), NOW).kind).toBe('accept');
    expect(decideBatch(merge, directory('Staff'), NOW).kind).toBe('quarantine');
  });
});
