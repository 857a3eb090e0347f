/**
 * Re-validation of pushed changes (docs/sync-protocol.md, "Re-validation and quarantine"). The
 * server trusts no device: every change of a pushed batch is checked again, in this order,
 *
 * 1. append-only: an update or delete of an append-only entity (`append-only`);
 * 2. the SHARED change schema, shared/sync/change.ts, the one devices record with (`schema`);
 * 3. the values, against the domain schemas the entity's declaration names
 *    (shared/sync/entities/, the API's own field schemas), and an insert's completeness (`schema`,
 *    detail `fields.<name>: <rule>`);
 * 4. the user who made it, in the server's user directory (`unknown-user`);
 * 5. the permissions its entity declares for it, for that user's role, from the shared
 *    permission matrix (`forbidden`);
 * 6. branch scope (docs/sync-protocol.md, "Branch scope"), by the entity's declared branch rule:
 *    an author limited to some branches may register a patient only in one of them, and may
 *    change a patient's rows only when the patient is in one of them (`forbidden`, detail naming
 *    the field);
 * 7. a registered patient: a row kept beside its patient on devices may be inserted only once the
 *    change log has registered that patient (`schema`);
 * 8. patient numbers (docs/sync-protocol.md, "Domain conflicts"): a patient insert must carry a
 *    number in the pushing device's own numbering space, and no change may update a patient's
 *    number (`schema`, detail `fields.patient_number: ...`);
 * 9. its user's signature (batch-signature.ts): a batch by a user who has a signing key must carry
 *    their valid signature, and a key that replaces a user's key must come from an Admin
 *    (`forbidden`, detail `signature: ...` or `fields.signing_key: ...`);
 * 10. its clock: an HLC wall time more than `maxClockAheadMs` ahead of the server (`clock-ahead`).
 *
 * The first nine are permanent: the same change fails them forever. The batch is one local
 * transaction, applied together or not at all, so one permanently invalid change quarantines the
 * whole batch (the others with reason `with-batch`). A clock ahead of the server is transient:
 * nothing is stored and the device retries later.
 *
 * Pure: the caller passes the directory lookup, the patients' branches and the time.
 */
import { type Permission, type Role, roleHasPermission, roleSchema } from '../../shared/permissions.js';
import { type ChangeRecord, type FieldValue, changeRecordSchema } from '../../shared/sync/change.js';
import { declarationOf, domainRefusal, findDeclaration } from '../../shared/sync/entities.js';
import { parseJsonText } from '../../shared/sync/entities/declaration.js';
import { encodedHlcSchema } from '../../shared/sync/hlc.js';
import {
  type BatchSignature,
  type SignatureVerifier,
  keyChangeRefusal,
  signatureRefusal,
  signingKeySet,
} from './batch-signature.js';
import {
  type ChangeInput,
  type DirectoryLookup,
  type DirectoryUpdate,
  type QuarantineReason,
  directoryBranchIdsSchema,
} from '../storage/storage.js';

/** How far a change's clock may run ahead of the server's before it is held back (5 minutes). */
export const DEFAULT_MAX_CLOCK_AHEAD_MS = 5 * 60_000;

/** Why a change was not accepted: a stored (permanent) reason, or the transient `clock-ahead`. */
export type RefusalReason = QuarantineReason | 'clock-ahead';

/** One change's refusal, with a detail naming a rule, field or permission (never a value). */
export interface ChangeRefusal {
  readonly changeId: string;
  readonly reason: RefusalReason;
  readonly detail: string;
}

/** What to do with a batch. */
export type BatchDecision =
  | { readonly kind: 'accept'; readonly directoryUpdates: DirectoryUpdate }
  | { readonly kind: 'quarantine'; readonly refusals: readonly ChangeRefusal[] }
  | { readonly kind: 'retry'; readonly refusals: readonly ChangeRefusal[] };

/** True when a batch carries patient numbers, so the caller looks up the pushing device's number. */
export function touchesPatientNumbers(changes: readonly ChangeInput[]): boolean {
  return changes.some((change) => change.entity === 'patient' && Object.hasOwn(change.fields, 'patient_number'));
}

/**
 * The patient numbers a device may issue: device 1 (the founding device of the clinic) `P`
 * followed by at least six digits, device n >= 2 `P{n}-` followed by at least six digits; the
 * same formats as main/core/patients/patient-number.ts allocates.
 */
export function isInNumberingSpace(patientNumber: string, deviceNumber: number): boolean {
  const match = /^P(?:([1-9][0-9]{0,6})-)?[0-9]{6,}$/.exec(patientNumber);
  if (!match) return false;
  return match[1] === undefined ? deviceNumber === 1 : Number(match[1]) === deviceNumber && deviceNumber >= 2;
}

/** Why a change's patient number is refused, or null. `deviceNumber` null: the device is unknown. */
function numberingRefusal(change: ChangeRecord, deviceNumber: number | null): string | null {
  if (change.entity !== 'patient' || !Object.hasOwn(change.fields, 'patient_number')) return null;
  if (change.op !== 'insert') return 'fields.patient_number: a patient number is never changed';
  const value = change.fields.patient_number;
  if (typeof value !== 'string' || deviceNumber === null || !isInNumberingSpace(value, deviceNumber)) {
    return "fields.patient_number: outside the pushing device's numbering space";
  }
  return null;
}

/**
 * The permissions a change needs, as its entity declares them (shared/sync/entities/); null when
 * no permission writes the entity yet, so nothing may (fail closed).
 */
export function requiredPermissions(change: ChangeRecord): readonly Permission[] | null {
  return declarationOf(change.entity).writePermissions(change);
}

/** The permanent structural refusal of one change (append-only, then the shared schema), or null. */
export function structuralRefusal(change: ChangeInput): Omit<ChangeRefusal, 'changeId'> | null {
  const definition = findDeclaration(change.entity);
  if (definition?.kind === 'appendOnly' && change.op !== 'insert') {
    return { reason: 'append-only', detail: `${change.op} of an append-only ${change.entity}` };
  }
  const parsed = changeRecordSchema.safeParse(change);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'change';
    // Our own refinements say which rule failed; zod's texts are reduced to their code.
    const what = issue?.code === 'custom' ? issue.message : (issue?.code ?? 'invalid');
    return { reason: 'schema', detail: `${where}: ${what}`.slice(0, 200) };
  }
  // The values against the entity's domain schemas (the directory reads roles and branch scope
  // from user changes, so those must be well formed too).
  const domain = domainRefusal(parsed.data);
  if (domain !== null) return { reason: 'schema', detail: domain };
  return null;
}

/** A user change's all_branches as a boolean (the column is 0/1), or undefined when malformed. */
function allBranchesValue(fields: Readonly<Record<string, unknown>>): boolean | undefined {
  const value = fields.all_branches;
  if (value === 0 || value === false) return false;
  if (value === 1 || value === true) return true;
  return undefined;
}

/** A user change's branch_ids (canonical JSON text of a list of ids), or undefined when malformed. */
function branchIdsValue(fields: Readonly<Record<string, unknown>>): string[] | undefined {
  return parseJsonText(directoryBranchIdsSchema, fields.branch_ids);
}

/** The branches an author may work in, or null when every branch (or when the directory does not know). */
function branchScope(directory: DirectoryLookup, userId: string): ReadonlySet<string> | null {
  const user = directory.users.find((entry) => entry.userId === userId);
  // Unknown scope: a user recorded by an older device version, whose changes never carried it.
  if (!user || user.allBranches === null || user.allBranches) return null;
  return new Set(user.branchIds ?? []);
}

/** The patient a change concerns (its entity's branch rule: the row id of a patient's row), or null. */
function patientOf(change: ChangeInput): string | null {
  return findDeclaration(change.entity)?.branch.kind === 'patient' ? change.rowId : null;
}

/** The field that places a patient in a branch, when the change's entity has one (the patient row). */
function branchFieldOf(change: ChangeInput): string | undefined {
  const rule = findDeclaration(change.entity)?.branch;
  return rule?.kind === 'patient' ? rule.branchField : undefined;
}

/** The branch a change registers its patient in (an insert of the row that carries the branch), or undefined. */
function registeredBranch(change: ChangeInput): FieldValue | undefined {
  const field = branchFieldOf(change);
  return field !== undefined && change.op === 'insert' ? change.fields[field] : undefined;
}

/**
 * The patients whose branch the batch's checks need from the change log, unless this same batch
 * inserts them (their branch is in it): those touched by an author limited to some branches (the
 * branch check), and those whose medical history a change inserts (the registration check,
 * unregisteredPatientRefusal).
 */
export function patientsToPlace(changes: readonly ChangeInput[], directory: DirectoryLookup): string[] {
  const insertedHere = new Set(
    changes.filter((change) => registeredBranch(change) !== undefined).map((change) => change.rowId),
  );
  const wanted = new Set<string>();
  for (const change of changes) {
    const patientId = patientOf(change);
    if (patientId === null || insertedHere.has(patientId)) continue;
    if (insertsDependentRow(change) || branchScope(directory, change.userId) !== null) wanted.add(patientId);
  }
  return [...wanted].sort();
}

/** True for a change that inserts a row devices keep only beside its patient (a foreign key). */
function insertsDependentRow(change: ChangeInput): boolean {
  const rule = findDeclaration(change.entity)?.branch;
  return rule?.kind === 'patient' && rule.needsPatient === true && change.op === 'insert';
}

/**
 * Refuses the insert of a medical history whose patient the log has no registration of (no
 * accepted change placed the patient in a branch) and this batch does not register either, as
 * when the patient's own insert was quarantined. Accepted, it would reach every device without
 * its patient, fail there on its foreign key, page after page, and stop those devices syncing for
 * good (issue #18; test/sync/branch-scope.integration.test.ts). Updates of a row a device lacks
 * write nothing there (a new row needs every field, sync-apply.ts), so they are not refused.
 */
function unregisteredPatientRefusal(
  change: ChangeInput,
  patientBranch: (patientId: string) => string | undefined,
): string | null {
  if (!insertsDependentRow(change)) return null;
  return patientBranch(change.rowId) === undefined ? 'rowId: the patient is not registered in the change log' : null;
}

/** Why a change falls outside its author's branches (naming the field, never a value), or null. */
function branchRefusal(
  change: ChangeInput,
  scope: ReadonlySet<string>,
  patientBranch: (patientId: string) => string | undefined,
): string | null {
  const patientId = patientOf(change);
  if (patientId === null) return null;
  const branchField = branchFieldOf(change);
  const newBranch = branchField === undefined ? undefined : change.fields[branchField];
  if (newBranch !== undefined && (typeof newBranch !== 'string' || !scope.has(newBranch))) {
    return `fields.${branchField}: outside the user's branches`;
  }
  if (registeredBranch(change) !== undefined) return null;
  // A patient the server has no branch for is refused by unregisteredPatientRefusal instead.
  const current = patientBranch(patientId);
  if (current !== undefined && !scope.has(current)) return "branch_id: the patient is outside the user's branches";
  return null;
}

/**
 * The founding Admin: while the clinic's directory is empty (a clinic just connected), the batch
 * that inserts an Admin user made by that same user is accepted, and fills the directory.
 */
function foundingAdmin(changes: readonly ChangeInput[], directory: DirectoryLookup): string | null {
  if (directory.size > 0) return null;
  const founder = changes.find(
    (change) =>
      change.entity === 'user' &&
      change.op === 'insert' &&
      change.rowId === change.userId &&
      change.fields.role === 'Admin',
  );
  return founder?.userId ?? null;
}

/** What the signature check of a batch needs: the batch's id and signature, and the verifier. */
export interface BatchSigning {
  readonly txId: string;
  readonly signed: BatchSignature;
  readonly verify: SignatureVerifier;
}

/** No signature: accepted only from authors without signing keys (fails closed for the others). */
const UNSIGNED: BatchSigning = { txId: '', signed: {}, verify: () => false };

/** Decides a batch (see the file header). */
export function decideBatch(
  changes: readonly ChangeInput[],
  directory: DirectoryLookup,
  nowMs: number,
  maxClockAheadMs: number = DEFAULT_MAX_CLOCK_AHEAD_MS,
  /** The pushing device's number; needed only when `touchesPatientNumbers(changes)`. */
  deviceNumber: number | null = null,
  /** The change log's branch of each patient `patientsToPlace(changes, directory)` names. */
  patientBranches: ReadonlyMap<string, string> = new Map(),
  signing: BatchSigning = UNSIGNED,
): BatchDecision {
  const roles = new Map<string, Role>(directory.users.map((user) => [user.userId, user.role]));
  const founder = foundingAdmin(changes, directory);
  if (founder !== null) roles.set(founder, 'Admin');
  // A patient inserted by this batch is in the branch its insert names.
  const batchBranches = new Map<string, string>();
  for (const change of changes) {
    const branch = registeredBranch(change);
    if (typeof branch === 'string') batchBranches.set(change.rowId, branch);
  }
  const patientBranch = (patientId: string) => batchBranches.get(patientId) ?? patientBranches.get(patientId);

  const permanent: Array<ChangeRefusal | null> = changes.map((change): ChangeRefusal | null => {
    const structural = structuralRefusal(change);
    if (structural) return { changeId: change.changeId, ...structural };
    const record = change as ChangeRecord;
    const role = roles.get(record.userId);
    if (role === undefined) return { changeId: change.changeId, reason: 'unknown-user', detail: 'user' };
    const needed = requiredPermissions(record);
    if (needed === null) {
      return { changeId: change.changeId, reason: 'forbidden', detail: `no permission writes ${record.entity} yet` };
    }
    const missing = needed.find((permission) => !roleHasPermission(role, permission));
    if (missing !== undefined) return { changeId: change.changeId, reason: 'forbidden', detail: missing };
    const scope = record.userId === founder ? null : branchScope(directory, record.userId);
    const outside = scope === null ? null : branchRefusal(record, scope, patientBranch);
    if (outside !== null) return { changeId: change.changeId, reason: 'forbidden', detail: outside };
    const unregistered = unregisteredPatientRefusal(record, patientBranch);
    if (unregistered !== null) return { changeId: change.changeId, reason: 'schema', detail: unregistered };
    const numbering = numberingRefusal(record, deviceNumber);
    if (numbering !== null) return { changeId: change.changeId, reason: 'schema', detail: numbering };
    const directoryKey = directory.users.find((user) => user.userId === record.rowId)?.signingKey ?? null;
    const keyChange = keyChangeRefusal(record, directoryKey, role);
    if (keyChange !== null) return { changeId: change.changeId, reason: 'forbidden', detail: keyChange };
    return null;
  });
  // The signature covers the whole batch: refused, it is charged to the first change.
  const first = changes[0];
  if (first !== undefined && !permanent.some((refusal) => refusal !== null)) {
    const unsigned = signatureRefusal(signing.txId, changes, signing.signed, directory, roles, signing.verify);
    if (unsigned !== null) permanent[0] = { changeId: first.changeId, reason: 'forbidden', detail: unsigned };
  }
  if (permanent.some((refusal) => refusal !== null)) {
    return {
      kind: 'quarantine',
      refusals: changes.map(
        (change, i) => permanent[i] ?? { changeId: change.changeId, reason: 'with-batch', detail: '' },
      ),
    };
  }

  const ahead = changes.map((change) => {
    const hlc = encodedHlcSchema.parse(change.hlc);
    return hlc.wallMs - nowMs > maxClockAheadMs;
  });
  if (ahead.some(Boolean)) {
    return {
      kind: 'retry',
      refusals: changes.map((change, i) =>
        ahead[i]
          ? { changeId: change.changeId, reason: 'clock-ahead', detail: `more than ${maxClockAheadMs} ms ahead` }
          : { changeId: change.changeId, reason: 'with-batch', detail: '' },
      ),
    };
  }

  const directoryUpdates: Array<DirectoryUpdate[number]> = [];
  for (const change of changes) {
    if (change.entity !== 'user' || change.op === 'delete') continue;
    const role = roleSchema.safeParse(change.fields.role);
    const allBranches = allBranchesValue(change.fields);
    const branchIds = branchIdsValue(change.fields);
    const signingKey = signingKeySet(change);
    if (!role.success && allBranches === undefined && branchIds === undefined && signingKey === undefined) continue;
    directoryUpdates.push({
      userId: change.rowId,
      ...(role.success ? { role: role.data, roleHlc: change.hlc } : {}),
      ...(allBranches !== undefined ? { allBranches: { value: allBranches, hlc: change.hlc } } : {}),
      ...(branchIds !== undefined ? { branchIds: { value: branchIds, hlc: change.hlc } } : {}),
      ...(signingKey !== undefined ? { signingKey: { value: signingKey, hlc: change.hlc } } : {}),
    });
  }
  return { kind: 'accept', directoryUpdates };
}
