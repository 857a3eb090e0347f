/**
 * Every replicated entity, by name: one declaration module each under entities/ (what a
 * declaration holds: entities/declaration.ts). Adding an entity is its module, one line here,
 * its table's migration, and its entry in the device's replication hooks (which the compiler
 * asks for); docs/architecture.md, "Adding a replicated entity".
 *
 * Audit entries are append-only too but travel as signed hash chains (`POST /v1/audit`), not as
 * change records, so they are not listed here.
 */
import type { EntityDeclaration, FieldDeclaration } from './entities/declaration.js';
import { branchEntity } from './entities/branch.js';
import { clinicalNoteEntity } from './entities/clinical-note.js';
import { consentEntity } from './entities/consent.js';
import { patientMedicalEntity } from './entities/patient-medical.js';
import { patientEntity } from './entities/patient.js';
import { paymentEntity } from './entities/payment.js';
import { userEntity } from './entities/user.js';

export const ENTITY_DECLARATIONS = {
  patient: patientEntity,
  patient_medical: patientMedicalEntity,
  branch: branchEntity,
  user: userEntity,
  clinical_note: clinicalNoteEntity,
  payment: paymentEntity,
  consent: consentEntity,
} as const satisfies Record<string, EntityDeclaration>;

/** The name of a replicated entity. */
export type EntityName = keyof typeof ENTITY_DECLARATIONS;

/** The replicated entity names. */
export const ENTITY_NAMES = Object.keys(ENTITY_DECLARATIONS) as EntityName[];

/** An entity's declaration. */
export function declarationOf(entity: EntityName): EntityDeclaration {
  return ENTITY_DECLARATIONS[entity];
}

/** An entity's declaration, or undefined for a name that is not a replicated entity (input from the wire). */
export function findDeclaration(entity: string): EntityDeclaration | undefined {
  return Object.hasOwn(ENTITY_DECLARATIONS, entity) ? ENTITY_DECLARATIONS[entity as EntityName] : undefined;
}

/** An entity's replicated field names, in column order. */
export function fieldNames(entity: EntityName): readonly string[] {
  return Object.keys(ENTITY_DECLARATIONS[entity].fields);
}

/** One field's declaration, or undefined when the entity does not declare it. */
export function fieldDeclaration(entity: EntityName, field: string): FieldDeclaration | undefined {
  const fields: Readonly<Record<string, FieldDeclaration>> = ENTITY_DECLARATIONS[entity].fields;
  return Object.hasOwn(fields, field) ? fields[field] : undefined;
}

/**
 * Why a change's values break its entity's domain schemas, naming the field and the rule (never
 * the value), or null. An insert must carry every field but those added later: a device writes a
 * new row only once it has them all.
 */
export function domainRefusal(change: {
  readonly entity: EntityName;
  readonly op: 'insert' | 'update' | 'delete';
  readonly fields: Readonly<Record<string, unknown>>;
}): string | null {
  const declared: Readonly<Record<string, FieldDeclaration>> = ENTITY_DECLARATIONS[change.entity].fields;
  for (const [name, field] of Object.entries(declared)) {
    if (!Object.hasOwn(change.fields, name)) {
      if (change.op === 'insert' && field.addedLater !== true) return `fields.${name}: required in an insert`;
      continue;
    }
    const checked = field.value.safeParse(change.fields[name]);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      // Our own refinements say which rule failed; zod's texts are reduced to their code.
      const what = issue?.code === 'custom' ? issue.message : (issue?.code ?? 'invalid');
      return `fields.${name}: ${what}`.slice(0, 200);
    }
  }
  return null;
}
