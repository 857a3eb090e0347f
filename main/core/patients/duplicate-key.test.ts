import { describe, expect, it } from 'vitest';
import { duplicateKey, normaliseName, phoneKey } from './duplicate-key.js';

const meera = { firstName: 'Meera', lastName: 'Krishnan', dateOfBirth: '1988-04-12', phone: '+91 98450 11111' };

describe('duplicateKey', () => {
  it('matches the same person typed with other case, accents, spacing and phone format', () => {
    expect(
      duplicateKey({ firstName: ' MEERA ', lastName: 'Krishnán', dateOfBirth: '1988-04-12', phone: '098450-11111' }),
    ).toBe(duplicateKey(meera));
    expect(normaliseName("  O'Brien-Núñez ")).toBe('o brien nunez');
    expect(phoneKey('+91 98450 11111')).toBe('9845011111');
  });

  it('tells apart a different date of birth, phone or name', () => {
    expect(duplicateKey({ ...meera, dateOfBirth: '1988-04-13' })).not.toBe(duplicateKey(meera));
    expect(duplicateKey({ ...meera, phone: '98450 11112' })).not.toBe(duplicateKey(meera));
    expect(duplicateKey({ ...meera, firstName: 'Meena' })).not.toBe(duplicateKey(meera));
  });

  it('gives no key without a date of birth or a usable phone, so a name alone never flags', () => {
    expect(duplicateKey({ ...meera, dateOfBirth: null })).toBeNull();
    expect(duplicateKey({ ...meera, phone: null })).toBeNull();
    expect(duplicateKey({ ...meera, phone: '12-34' })).toBeNull();
    expect(duplicateKey({ ...meera, firstName: '...' })).toBeNull();
  });
});
