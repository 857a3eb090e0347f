import { describe, expect, it } from 'vitest';
import { formatPatientNumber } from './patient-number.js';

describe('formatPatientNumber', () => {
  it('keeps P000001 for device 1 and gives device n the P{n}-000001 space', () => {
    expect(formatPatientNumber(1, 1)).toBe('P000001');
    expect(formatPatientNumber(1, 1_234_567)).toBe('P1234567');
    expect(formatPatientNumber(2, 1)).toBe('P2-000001');
    expect(formatPatientNumber(17, 42)).toBe('P17-000042');
  });
});
