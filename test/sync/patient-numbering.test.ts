/** The device's patient-number format and the sync server's re-validation agree (they live in two layers). */
import { describe, expect, it } from 'vitest';
import { formatPatientNumber } from '../../main/core/patients/patient-number.js';
import { isInNumberingSpace } from '../../sync-server/sync/validate-batch.js';

describe('patient numbering spaces', () => {
  it('allocates only numbers the sync server accepts from the same device and from no other', () => {
    for (const device of [1, 2, 3, 10, 99]) {
      for (const value of [1, 999_999, 1_000_000]) {
        const number = formatPatientNumber(device, value);
        expect(isInNumberingSpace(number, device)).toBe(true);
        expect(isInNumberingSpace(number, device + 1)).toBe(false);
        if (device > 1) expect(isInNumberingSpace(number, 1)).toBe(false);
      }
    }
  });
});
