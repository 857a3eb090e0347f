/**
 * Which of the model's actions write each declared field of each replicated entity
 * (shared/sync/entities/): the convergence test's share of the entity declarations. The table's
 * type asks for every entity and every declared field, so a new entity or field fails typecheck
 * here until the model says how it is exercised, and entity-coverage.test.ts fails while a field
 * of an entity devices apply has no writer and no reason why not.
 */
import type { ENTITY_DECLARATIONS, EntityName } from '../../../shared/sync/entities.js';
import type { Action } from './actions.js';

/** An action kind of the model, or `setup`: the cluster's founding writes (cluster.ts). */
export type Writer = Action['kind'] | 'setup';

/** A field the model does not write, with why. */
export interface NotModelled {
  readonly notModelled: string;
}

type FieldsOf<Entity extends EntityName> = keyof (typeof ENTITY_DECLARATIONS)[Entity]['fields'];

export type EntityCoverage = {
  readonly [Entity in EntityName]: { readonly [Field in FieldsOf<Entity>]: readonly Writer[] | NotModelled };
};

const PATIENT_INSERT: readonly Writer[] = ['create', 'killMidTransaction'];
const PATIENT_EDIT: readonly Writer[] = [
  'create',
  'update',
  'concurrentUpdate',
  'frontDeskUpdate',
  'killMidTransaction',
];
const MEDICAL: readonly Writer[] = ['medical', 'killMidTransaction'];

export const ENTITY_COVERAGE: EntityCoverage = {
  patient: {
    patient_number: PATIENT_INSERT,
    branch_id: PATIENT_INSERT,
    first_name: PATIENT_EDIT,
    last_name: PATIENT_EDIT,
    date_of_birth: PATIENT_EDIT,
    sex: PATIENT_EDIT,
    phone: PATIENT_EDIT,
    email: PATIENT_EDIT,
    address: PATIENT_EDIT,
    archived_at: ['archive'],
    archive_reason: ['archive'],
    merged_into: { notModelled: 'patients.merge is not among the actions yet' },
    created_at: PATIENT_INSERT,
    created_by: PATIENT_INSERT,
  },
  patient_medical: { allergies: MEDICAL, conditions: MEDICAL, medications: MEDICAL },
  branch: { name: ['setup', 'createBranch'], created_at: ['setup', 'createBranch'] },
  user: {
    username: ['setup'],
    display_name: ['setup', 'editUser', 'concurrentUserEdit'],
    role: ['setup', 'editUser', 'concurrentUserEdit'],
    all_branches: ['setup', 'editUser', 'concurrentUserEdit'],
    disabled: { notModelled: 'disabling a user is not among the actions yet' },
    password_hash: { notModelled: 'password changes are not among the actions yet' },
    password_changed_at: { notModelled: 'password changes are not among the actions yet' },
    created_at: ['setup'],
    branch_ids: ['setup', 'editUser', 'concurrentUserEdit'],
    // Every user's insert carries it (clinic setup); password changes and resets are not modelled.
    signing_key: ['setup'],
  },
  // Declared ahead of their slices: no fields, devices do not apply them.
  clinical_note: {},
  payment: {},
  consent: {},
};
