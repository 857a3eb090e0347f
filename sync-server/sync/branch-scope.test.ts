import { describe, expect, it } from 'vitest';
import { TEST_ADMIN_ID, testUlid, validBatch } from '../../test/support/sync-server/test-support.js';
import type { DirectoryLookup, DirectoryUser } from '../storage/storage.js';
import { DEFAULT_MAX_CLOCK_AHEAD_MS, decideBatch, patientsToPlace } from './validate-batch.js';

const NOW = 1_760_000_000_000;
const BRANCH_1 = testUlid();
const BRANCH_2 = testUlid();
const RECEPTIONIST = testUlid();
const DENTIST = testUlid();

const user = (
  userId: string,
  role: DirectoryUser['role'],
  scope: Pick<DirectoryUser, 'allBranches' | 'branchIds'>,
) => ({
  userId,
  role,
  roleHlc: 'a',
  signingKey: null,
  updatedAt: 0,
  ...scope,
});
const directory: DirectoryLookup = {
  users: [
    user(TEST_ADMIN_ID, 'Admin', { allBranches: true, branchIds: [] }),
    user(RECEPTIONIST, 'Receptionist', { allBranches: false, branchIds: [BRANCH_1] }),
    user(DENTIST, 'Dentist', { allBranches: false, branchIds: [BRANCH_1] }),
  ],
  size: 3,
};
const decide = (changes: ReturnType<typeof validBatch>['changes'], branches = new Map<string, string>()) =>
  decideBatch(changes, directory, NOW, DEFAULT_MAX_CLOCK_AHEAD_MS, 1, branches);
const insertBy = (userId: string, branchId: string) =>
  validBatch('dev-1', 1, { userId, op: 'insert', fields: { branch_id: branchId, first_name: 'Asha' } }).changes;

describe('branch scope in re-validation', () => {
  it("quarantines a patient insert outside its author's branches, naming the field and no value", () => {
    expect(decide(insertBy(RECEPTIONIST, BRANCH_1)).kind).toBe('accept');
    const outside = decide(insertBy(RECEPTIONIST, BRANCH_2));
    expect(outside).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'forbidden', detail: "fields.branch_id: outside the user's branches" }],
    });
    expect(JSON.stringify(outside)).not.toContain(BRANCH_2);
  });

  it('quarantines changes of a patient in another branch, and a move into one, by a branch-limited author', () => {
    const patient = testUlid();
    const branches = new Map([[patient, BRANCH_2]]);
    const medical = validBatch('dev-1', 1, {
      userId: DENTIST,
      entity: 'patient_medical',
      rowId: patient,
      fields: { allergies: '[{"substance":"Latex","severity":"mild"}]' },
    }).changes;
    expect(patientsToPlace(medical, directory)).toEqual([patient]);
    expect(decide(medical, branches)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'forbidden', detail: "branch_id: the patient is outside the user's branches" }],
    });
    expect(decide(medical, new Map([[patient, BRANCH_1]])).kind).toBe('accept');
    const move = validBatch('dev-1', 1, { userId: RECEPTIONIST, rowId: patient, fields: { branch_id: BRANCH_2 } });
    expect(decide(move.changes, new Map([[patient, BRANCH_1]]))).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'forbidden', detail: "fields.branch_id: outside the user's branches" }],
    });
  });

  it('places a patient inserted by the same batch from its insert, without a lookup', () => {
    const [insert] = insertBy(RECEPTIONIST, BRANCH_2);
    const medical = validBatch('dev-1', 1, {
      userId: DENTIST,
      entity: 'patient_medical',
      rowId: insert!.rowId,
      fields: { allergies: '[]' },
    }).changes;
    const batch = [
      { ...insert!, userId: TEST_ADMIN_ID },
      { ...medical[0]!, txId: insert!.txId },
    ];
    expect(patientsToPlace(batch, directory)).toEqual([]);
    expect(decide(batch)).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'with-batch' }, { reason: 'forbidden' }],
    });
  });

  it('leaves all-branches users, users of unknown scope and the founding Admin unchecked', () => {
    expect(decide(insertBy(TEST_ADMIN_ID, BRANCH_2)).kind).toBe('accept');
    const older: DirectoryLookup = {
      users: [user(DENTIST, 'Dentist', { allBranches: null, branchIds: null })],
      size: 1,
    };
    const medical = validBatch('dev-1', 1, { userId: DENTIST, entity: 'patient_medical', fields: { allergies: '[]' } });
    expect(patientsToPlace(medical.changes, older)).toEqual([]);
    expect(decideBatch(medical.changes, older, NOW).kind).toBe('accept');
    expect(patientsToPlace(medical.changes, directory)).toHaveLength(1);
    const founder = testUlid();
    const founding = [
      ...validBatch('dev-1', 1, {
        userId: founder,
        entity: 'user',
        op: 'insert',
        rowId: founder,
        fields: { role: 'Admin', all_branches: 0, branch_ids: JSON.stringify([BRANCH_1]) },
      }).changes,
    ];
    expect(decideBatch(founding, { users: [], size: 0 }, NOW).kind).toBe('accept');
  });

  it('takes all-branches and branch ids from accepted user changes into the directory, refusing malformed ones', () => {
    const [change] = validBatch('dev-1', 1, {
      entity: 'user',
      rowId: RECEPTIONIST,
      fields: { all_branches: 0, branch_ids: JSON.stringify([BRANCH_1, BRANCH_2]) },
    }).changes;
    expect(decide([change!])).toEqual({
      kind: 'accept',
      directoryUpdates: [
        {
          userId: RECEPTIONIST,
          allBranches: { value: false, hlc: change!.hlc },
          branchIds: { value: [BRANCH_1, BRANCH_2], hlc: change!.hlc },
        },
      ],
    });
    const malformed: Array<Record<string, string | number>> = [
      { branch_ids: 'not json' },
      { branch_ids: '[1]' },
      { all_branches: 2 },
    ];
    for (const fields of malformed) {
      const bad = validBatch('dev-1', 1, { entity: 'user', rowId: RECEPTIONIST, fields }).changes;
      expect(decide(bad)).toMatchObject({ kind: 'quarantine', refusals: [{ reason: 'schema' }] });
    }
  });

  it("refuses a medical history's insert whose patient the log has no registration of, whoever the author", () => {
    const roaming = testUlid();
    const withRoaming: DirectoryLookup = {
      users: [...directory.users, user(roaming, 'Dentist', { allBranches: true, branchIds: [] })],
      size: directory.size + 1,
    };
    const decideFor = (changes: ReturnType<typeof validBatch>['changes'], branches: Map<string, string>) =>
      decideBatch(changes, withRoaming, NOW, DEFAULT_MAX_CLOCK_AHEAD_MS, 1, branches);
    const patient = testUlid();
    const insert = validBatch('dev-1', 1, {
      userId: roaming,
      entity: 'patient_medical',
      op: 'insert',
      rowId: patient,
      fields: { allergies: '[]', conditions: '[]', medications: '[]' },
    }).changes;
    // Looked up even for an all-branches author.
    expect(patientsToPlace(insert, withRoaming)).toEqual([patient]);
    expect(decideFor(insert, new Map())).toMatchObject({
      kind: 'quarantine',
      refusals: [{ reason: 'schema', detail: 'rowId: the patient is not registered in the change log' }],
    });
    expect(decideFor(insert, new Map([[patient, BRANCH_2]])).kind).toBe('accept');
    // Registered by the same batch: no lookup, accepted.
    const [registration] = insertBy(roaming, BRANCH_1);
    const both = [registration!, { ...insert[0]!, rowId: registration!.rowId, txId: registration!.txId }];
    expect(patientsToPlace(both, withRoaming)).toEqual([]);
    expect(decideFor(both, new Map()).kind).toBe('accept');
    // An update of a row no device holds writes nothing there: not looked up, accepted.
    const update = validBatch('dev-1', 1, { userId: roaming, rowId: patient }).changes;
    expect(patientsToPlace(update, withRoaming)).toEqual([]);
    expect(decideFor(update, new Map()).kind).toBe('accept');
  });
});
