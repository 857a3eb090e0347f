import { describe, expect, it } from 'vitest';
import { entityWords, fieldWords, refusalDetailWords } from './conflict-words.js';

describe('conflict words', () => {
  it("names entities and fields by their declarations' words, and unknown ones by their names", () => {
    expect(entityWords('patient_medical')).toBe('Medical history');
    expect(fieldWords('patient', 'date_of_birth')).toBe('Date of birth');
    // The same column name reads differently per entity.
    expect(fieldWords('user', 'display_name')).toBe('Name');
    expect(fieldWords('user', 'branch_ids')).toBe('Branches');
    expect(entityWords('appointment')).toBe('appointment');
    expect(fieldWords('appointment', 'starts_at')).toBe('starts at');
  });

  it("puts the server's refusal detail in words, and says nothing for the generic message", () => {
    expect(refusalDetailWords('patient', 'fields.date_of_birth: invalid_format')).toBe('Date of birth: invalid format');
    expect(refusalDetailWords('patient_medical', 'fields.allergies: not valid JSON of the expected shape')).toBe(
      'Allergies: not valid JSON of the expected shape',
    );
    expect(refusalDetailWords('patient', 'patients.write')).toBe('patients.write');
    expect(refusalDetailWords('patient', 'refused by the sync server')).toBeNull();
    expect(refusalDetailWords('patient', '')).toBeNull();
    expect(refusalDetailWords('patient_medical', 'signature: missing')).toMatch(/not signed by the person it names/);
    expect(refusalDetailWords('user', 'fields.signing_key: only an Admin issues a user a new key')).toBe(
      'Signing key: only an Admin issues a user a new key',
    );
  });
});
