/**
 * The conflicts inbox in words: replicated entity and field names (the tables' snake-case
 * columns, shared/sync/change.ts) as the screens call them, conflict values as text, and which
 * computer made a write and when, read from its hybrid logical clock.
 */
import type { DuplicateReason } from '../../../shared/api/conflicts.js';
import { parseHlc } from '../../../shared/sync/hlc.js';
import { formatInstant } from '../../lib/format.js';

const ENTITY_WORDS: Readonly<Record<string, string>> = {
  patient: 'Patient',
  patient_medical: 'Medical history',
  branch: 'Branch',
  user: 'User',
};

const FIELD_WORDS: Readonly<Record<string, string>> = {
  patient_number: 'Patient number',
  branch_id: 'Branch',
  first_name: 'First name',
  last_name: 'Last name',
  date_of_birth: 'Date of birth',
  sex: 'Sex',
  phone: 'Phone',
  email: 'Email',
  address: 'Address',
  archived_at: 'Archived',
  archive_reason: 'Archive reason',
  merged_into: 'Merged into',
  created_at: 'Created',
  created_by: 'Created by',
  allergies: 'Allergies',
  conditions: 'Conditions',
  medications: 'Medications',
  name: 'Name',
  username: 'Username',
  display_name: 'Name',
  role: 'Role',
  all_branches: 'All branches',
  disabled: 'Disabled',
  password_hash: 'Password',
  password_changed_at: 'Password changed',
};

/** "Patient", "Medical history"; an unknown entity by its name. */
export function entityWords(entity: string): string {
  return ENTITY_WORDS[entity] ?? entity;
}

/** "Date of birth"; an unknown field by its name. */
export function fieldWords(field: string): string {
  return FIELD_WORDS[field] ?? field.replaceAll('_', ' ');
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

/** The sync server's reason for refusing a change, in words; an unknown reason is named. */
export function refusalWords(code: string): string {
  return REFUSAL_WORDS[code] ?? `The server refused it (${code}).`;
}
