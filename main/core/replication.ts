/**
 * The replication hooks table (sync/replication-hooks.ts): each replicated entity's entry, from
 * the domain that owns it. The compiler asks for an entry per entity and for a reader of every
 * field an entity declares as computed. Sync never imports this module: the clinic core hands the
 * table to it (CoreServices.replication).
 */
import { patientReplicationHooks } from './patients/patient-replication.js';
import type { ReplicationHooks } from './sync/replication-hooks.js';
import { branchReplicationHooks, userReplicationHooks } from './users/user-replication.js';

export const REPLICATION_HOOKS: ReplicationHooks = {
  patient: patientReplicationHooks,
  // A medical history has nothing to index: it is read by patient id.
  patient_medical: {},
  branch: branchReplicationHooks,
  user: userReplicationHooks,
  // Declared ahead of their slices; devices do not apply them yet.
  clinical_note: {},
  payment: {},
  consent: {},
} satisfies ReplicationHooks;
