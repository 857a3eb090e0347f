/**
 * Domain-valid values for every field of an entity, so a test's insert passes the server's
 * domain check (shared/sync/entities.ts `domainRefusal`) while the test states only the fields it
 * is about.
 */
import { canonicalJson } from '../../shared/canonical-json.js';
import type { FieldValue } from '../../shared/sync/change.js';
import { type EntityName, findDeclaration } from '../../shared/sync/entities.js';

/** A fixed valid id for references (branch, creator) the test does not care about. */
const SOME_ID = '01HZZZZZZZZZZZZZZZZZZZZZZZ';

const VALUES: { readonly [Entity in EntityName]?: Readonly<Record<string, FieldValue>> } = {
  patient: {
    patient_number: 'P000001',
    branch_id: SOME_ID,
    first_name: 'Asha',
    last_name: 'Rao',
    date_of_birth: '1990-04-01',
    sex: 'female',
    phone: '+91 98450 00000',
    email: null,
    address: null,
    archived_at: null,
    archive_reason: null,
    created_at: 1_760_000_000_000,
    created_by: SOME_ID,
  },
  patient_medical: { allergies: '[]', conditions: '[]', medications: '[]' },
  branch: { name: 'Main branch', created_at: 1_760_000_000_000 },
  user: {
    username: 'user.one',
    display_name: 'User One',
    role: 'Receptionist',
    all_branches: 1,
    disabled: 0,
    password_hash: `$2b$10$${'a'.repeat(53)}`,
    password_changed_at: 1_760_000_000_000,
    created_at: 1_760_000_000_000,
    branch_ids: canonicalJson([]),
  },
};

/**
 * The fields of an insert: valid values for every field `entity` requires, then `given` over
 * them. An unknown entity gets `given` alone (the server refuses it for its own reason).
 */
export function completeInsertFields(
  entity: string,
  given: Readonly<Record<string, FieldValue>>,
): Record<string, FieldValue> {
  const declaration = findDeclaration(entity);
  if (declaration === undefined) return { ...given };
  return { ...VALUES[entity as EntityName], ...given };
}
