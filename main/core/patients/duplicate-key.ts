/**
 * The key two registrations of one person share: normalised last name, first name, date of
 * birth and phone digits (docs/sync-protocol.md, "Domain conflicts"). Every device computes it
 * with this one function from replicated fields, so every device pairs the same patients.
 */

/** The fields the key is made from. */
export interface DuplicateKeyFields {
  readonly firstName: string;
  readonly lastName: string;
  readonly dateOfBirth: string | null;
  readonly phone: string | null;
}

/** Case-, accent- and punctuation-insensitive form of a name ("  O'Brien-Núñez " → "o brien nunez"). */
export function normaliseName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The national part of a phone number: its last ten digits, so "+91 98765 43210" and "098765-43210" match. */
export function phoneKey(phone: string): string {
  return phone.replace(/\D/g, '').slice(-10);
}

/**
 * The duplicate key, or null when the record lacks a date of birth or a usable phone number:
 * a name alone matches too many different people to flag.
 */
export function duplicateKey(fields: DuplicateKeyFields): string | null {
  if (!fields.dateOfBirth || !fields.phone) return null;
  const phone = phoneKey(fields.phone);
  const last = normaliseName(fields.lastName);
  const first = normaliseName(fields.firstName);
  if (phone.length < 6 || last.length === 0 || first.length === 0) return null;
  return `${last}|${first}|${fields.dateOfBirth}|${phone}`;
}
