import { describe, expect, it } from 'vitest';
import { median, percentile, percentileOfSorted, summarize } from './bench/stats.js';

describe('benchmark statistics', () => {
  it('interpolates percentiles between closest ranks', () => {
    const samples = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile(samples, 50)).toBeCloseTo(5.5, 10);
    expect(percentile(samples, 95)).toBeCloseTo(9.55, 10);
    expect(percentile(samples, 100)).toBe(10);
  });

  it('gives the same percentile whatever the order of the samples', () => {
    expect(percentile([10, 1, 7, 3, 9, 2, 8, 4, 6, 5], 95)).toBeCloseTo(9.55, 10);
  });

  it('returns the middle sample as the median of an odd count', () => {
    expect(median([3, 100, 1, 2, 50])).toBe(3);
  });

  it('returns the only sample for every percentile of one sample', () => {
    expect(percentileOfSorted([42], 0)).toBe(42);
    expect(percentileOfSorted([42], 95)).toBe(42);
  });

  it('summarizes count, extremes, mean and percentiles of 1..100', () => {
    const summary = summarize(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(summary).toMatchObject({ count: 100, min: 1, max: 100, mean: 50.5 });
    expect(summary.p50).toBeCloseTo(50.5, 10);
    expect(summary.p95).toBeCloseTo(95.05, 10);
    expect(summary.p99).toBeCloseTo(99.01, 10);
  });

  it('refuses an empty sample set and a percentile outside 0-100', () => {
    expect(() => percentile([], 50)).toThrow('no samples');
    expect(() => percentile([1, 2], 101)).toThrow('outside 0-100');
  });
});
