import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClinicKeyWrapper, SealedValueError, WRAPPED_KEY_BYTES } from './clinic-data-key.js';

const CLINIC_A = '0190a3c1-0000-7000-8000-00000000000a';
const CLINIC_B = '0190a3c1-0000-7000-8000-00000000000b';
const change = { changeId: 'change-1', entity: 'patient', rowId: 'p1', op: 'insert', hlc: 'h1' };
const FIELDS = '{"first_name":"Canary Zq7"}';

/** A deterministic byte source: each call gives the next bytes of a counter stream. */
function countingRandom() {
  let next = 0;
  return (size: number) => Buffer.from(Array.from({ length: size }, () => next++ % 256));
}

describe('clinic data keys', () => {
  it('unwraps a wrapped key under the same master key, and the key opens what it sealed', () => {
    const masterKey = randomBytes(32);
    const { key, wrapped } = new ClinicKeyWrapper(masterKey).newDataKey(CLINIC_A);
    expect(wrapped).toHaveLength(WRAPPED_KEY_BYTES);
    const sealed = key.sealChangeFields(change, FIELDS);
    expect(sealed.toString('latin1')).not.toContain('Canary');
    expect(new ClinicKeyWrapper(masterKey).unwrap(CLINIC_A, wrapped).openChangeFields(change, sealed)).toBe(FIELDS);
  });

  it('refuses to unwrap under another master key or for another clinic', () => {
    const { wrapped } = new ClinicKeyWrapper(randomBytes(32)).newDataKey(CLINIC_A);
    expect(() => new ClinicKeyWrapper(randomBytes(32)).unwrap(CLINIC_A, wrapped)).toThrow(SealedValueError);
    const masterKey = randomBytes(32);
    const own = new ClinicKeyWrapper(masterKey).newDataKey(CLINIC_A);
    expect(() => new ClinicKeyWrapper(masterKey).unwrap(CLINIC_B, own.wrapped)).toThrow(SealedValueError);
  });

  it('refuses sealed fields moved to another row, column or clinic, or altered', () => {
    const wrapper = new ClinicKeyWrapper(randomBytes(32));
    const { key } = wrapper.newDataKey(CLINIC_A);
    const sealed = key.sealChangeFields(change, FIELDS);
    // Opened once where it belongs first: what the key remembers of it must not open it elsewhere.
    expect(key.openChangeFields(change, sealed)).toBe(FIELDS);
    for (const other of [
      { ...change, changeId: 'change-2' },
      { ...change, rowId: 'p2' },
      { ...change, entity: 'appointment' },
      { ...change, op: 'update' },
      { ...change, hlc: 'h2' },
    ]) {
      expect(() => key.openChangeFields(other, sealed)).toThrow(SealedValueError);
    }
    expect(() => key.openQuarantineDetail('change-1', sealed)).toThrow(SealedValueError);
    const altered = Buffer.from(sealed);
    altered[20] = altered[20]! ^ 1;
    expect(() => key.openChangeFields(change, altered)).toThrow(SealedValueError);
    // The same raw key under another clinic id: the associated data differs.
    const { wrapped } = wrapper.newDataKey(CLINIC_A);
    expect(() => wrapper.unwrap(CLINIC_A, wrapped).openChangeFields(change, sealed)).toThrow(SealedValueError);
  });

  it('uses a fresh nonce for every value it seals', () => {
    const { key } = new ClinicKeyWrapper(randomBytes(32), countingRandom()).newDataKey(CLINIC_A);
    const first = key.sealChangeFields(change, FIELDS);
    const second = key.sealChangeFields(change, FIELDS);
    expect(first.subarray(1, 13).equals(second.subarray(1, 13))).toBe(false);
    expect(first.equals(second)).toBe(false);
    expect(key.openChangeFields(change, second)).toBe(FIELDS);
  });

  it('round-trips a quarantined change detail bound to its change id', () => {
    const { key } = new ClinicKeyWrapper(randomBytes(32)).newDataKey(CLINIC_B);
    const sealed = key.sealQuarantineDetail('change-9', 'fields.first_name: too_big');
    expect(key.openQuarantineDetail('change-9', sealed)).toBe('fields.first_name: too_big');
    expect(() => key.openQuarantineDetail('change-8', sealed)).toThrow(SealedValueError);
  });
});
