/**
 * The conflicts inbox in words: replicated entity and field names (the tables' snake-case
 * columns) as their declarations (shared/sync/entities/) call them, conflict values as text, and which
 * computer made a write and when, read from its hybrid logical clock.
 */
import type { DuplicateReason } from '../../../shared/api/conflicts.js';
import { findDeclaration } from '../../../shared/sync/entities.js';
import type { FieldDeclaration } from '../../../shared/sync/entities/declaration.js';
import { parseHlc } from '../../../shared/sync/hlc.js';
import { formatInstant } from '../../lib/format.js';

/** "Patient", "Medical history": the entity's declared words; an unknown entity by its name. */
export function entityWords(entity: string): string {
  return findDeclaration(entity)?.words ?? entity;
}

/** "Date of birth": the field's declared words; an unknown entity or field by its name. */
export function fieldWords(entity: string, field: string): string {
  const fields: Readonly<Record<string, FieldDeclaration>> | undefined = findDeclaration(entity)?.fields;
  return fields !== undefined && Object.hasOwn(fields, field) ? fields[field]!.words : field.replaceAll('_', ' ');
}

/** Why a pair was flagged. */
export function duplicateReasonWords(reason: DuplicateReason): string {
  return reason === 'same-person' ? 'Same name, date of birth and phone' : 'Same patient number';
}

/** A replicated value as text: empty is said, JSON lists stay as written. */
export function conflictValueWords(value: string | number | boolean | null): string {
  if (value === null || value === '') return '(empty)';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  return String(value);
}

/**
 * A device id as the sync server names devices ("Chairside" and its last six characters, as
 * sync.connect and setup.joinClinic register them), so an Admin can match it in the server's list.
 */
export function deviceWords(deviceId: string): string {
  return `computer ${deviceId.slice(-6)}`;
}

/** When and on which computer a write happened, from its encoded HLC; null when unreadable. */
export function writeOrigin(encodedHlc: string): { readonly when: string; readonly device: string } | null {
  try {
    const hlc = parseHlc(encodedHlc);
    return { when: formatInstant(hlc.wallMs), device: deviceWords(hlc.deviceId) };
  } catch {
    return null;
  }
}

const REFUSAL_WORDS: Readonly<Record<string, string>> = {
  forbidden:
    'The person who made it may not make this change any more, as far as the server knows (their role may have changed on another computer).',
  'unknown-user': 'The server did not know the person who made it when it arrived.',
  schema: 'The server’s checks did not accept it.',
  'append-only': 'This kind of record cannot be changed once written.',
  'with-batch': 'It was saved together with a refused change, so it was refused with it.',
  'foreign-number': 'It uses a patient number that belongs to another computer.',
};

/**
 * The server's detail of a refusal (a rule or a field and the rule it broke, never a value:
 * `fields.date_of_birth: invalid_format`), with the field in words; null when it gave none.
 */
export function refusalDetailWords(entity: string, message: string): string | null {
  if (message === '' || message === 'refused by the sync server') return null;
  const signature = SIGNATURE_WORDS[message];
  if (signature !== undefined) return signature;
  const field = /^fields\.([a-z_]+): (.+)$/.exec(message);
  return field ? `${fieldWords(entity, field[1]!)}: ${field[2]!.replaceAll('_', ' ')}` : message;
}

/** The server's signature refusals (sync-server/sync/batch-signature.ts), in words. */
const SIGNATURE_WORDS: Readonly<Record<string, string>> = {
  'signature: missing': 'It was not signed by the person it names. Sign in as them and make the change again.',
  'signature: does not verify':
    "Its signature is not that person's current key (their password may have been reset). Sign in as them and make the change again.",
  'signature: signed by another user': 'It was signed by someone other than the person it names.',
  'signature: the signer has no signing key': 'The person who signed it has no signing key the server knows.',
  'signature: no signer named': 'It names no signer.',
};

/** The sync server's reason for refusing a change, in words; an unknown reason is named. */
export function refusalWords(code: string): string {
  return REFUSAL_WORDS[code] ?? `The server refused it (${code}).`;
}
