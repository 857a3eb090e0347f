import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { type Sha256, toHex } from '../../shared/hashing.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import { leafHash, rootOf } from '../../shared/merkle/tree.js';
import { verifyConsistency, verifyInclusion } from '../../shared/merkle/verify.js';

/** nodeSha256 that counts its calls, to check the cost of each operation. */
function countingSha256(): { sha256: Sha256; calls: () => number } {
  let calls = 0;
  return {
    sha256: (...chunks) => {
      calls++;
      return nodeSha256(...chunks);
    },
    calls: () => calls,
  };
}

function entry(i: number): string {
  return `audit entry ${i}`;
}

describe('MerkleLog', () => {
  it('starts empty with the empty tree root', () => {
    const log = new MerkleLog(nodeSha256);
    expect(log.size).toBe(0);
    expect(toHex(log.root())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('holds a log of 2^17 + 3 leaves and agrees with rootOf on its roots and proofs', () => {
    const count = 2 ** 17 + 3;
    const hashes = Array.from({ length: count }, (_, i) => leafHash(nodeSha256, entry(i)));
    const log = MerkleLog.fromLeafHashes(nodeSha256, hashes);
    expect(log.size).toBe(count);
    const root = log.root();
    expect(toHex(root)).toBe(toHex(rootOf(nodeSha256, hashes)));
    for (const size of [1, 2, 3, 1000, 2 ** 16, 2 ** 16 + 1, 2 ** 17, count - 1]) {
      expect(toHex(log.root(size)), `size ${size}`).toBe(toHex(rootOf(nodeSha256, hashes.slice(0, size))));
      expect(verifyConsistency(nodeSha256, size, count, log.consistencyProof(size), log.root(size), root)).toBe(true);
    }
    for (const index of [0, 1, 77_777, 2 ** 17 - 1, 2 ** 17, count - 1]) {
      expect(verifyInclusion(nodeSha256, hashes[index]!, index, count, log.inclusionProof(index), root)).toBe(true);
    }
  });

  it('costs at most log2(n) + 2 hashes per append and O(log n) hashes per root or proof', () => {
    const counter = countingSha256();
    const log = new MerkleLog(counter.sha256);
    const count = 10_000;
    const levels = Math.ceil(Math.log2(count));
    let worstAppend = 0;
    for (let i = 0; i < count; i++) {
      const before = counter.calls();
      log.appendLeaf(entry(i));
      worstAppend = Math.max(worstAppend, counter.calls() - before);
    }
    // One leaf hash plus one node hash per completed level.
    expect(worstAppend).toBeLessThanOrEqual(levels + 2);

    const measure = (operation: () => unknown) => {
      const before = counter.calls();
      operation();
      return counter.calls() - before;
    };
    for (const size of [count, count - 1, 4_097, 6_143, 8_191, 9_999]) {
      expect(
        measure(() => log.root(size)),
        `root of ${size}`,
      ).toBeLessThanOrEqual(levels);
      expect(
        measure(() => log.inclusionProof(0, size)),
        `inclusion in ${size}`,
      ).toBeLessThanOrEqual(levels);
      expect(
        measure(() => log.consistencyProof(1_234, size)),
        `consistency to ${size}`,
      ).toBeLessThanOrEqual(2 * levels);
    }
  });

  it('returns copies, so a caller cannot alter the stored hashes', () => {
    const log = new MerkleLog(nodeSha256);
    for (let i = 0; i < 5; i++) log.appendLeaf(entry(i));
    const root = toHex(log.root());
    log.root().fill(0);
    log.leafHash(0).fill(0);
    for (const element of log.inclusionProof(4)) element.fill(0);
    for (const element of log.consistencyProof(4)) element.fill(0);
    expect(toHex(log.root())).toBe(root);
    expect(toHex(log.leafHash(0))).toBe(toHex(leafHash(nodeSha256, entry(0))));
  });

  it('refuses sizes and indexes outside the log, and leaf hashes of the wrong length', () => {
    const log = new MerkleLog(nodeSha256);
    for (let i = 0; i < 5; i++) log.appendLeaf(entry(i));
    expect(() => log.root(6)).toThrow(RangeError);
    expect(() => log.root(-1)).toThrow(RangeError);
    expect(() => log.root(1.5)).toThrow(RangeError);
    expect(() => log.inclusionProof(5)).toThrow(RangeError);
    expect(() => log.inclusionProof(3, 3)).toThrow(RangeError);
    expect(() => log.inclusionProof(0, 0)).toThrow(RangeError);
    expect(() => log.consistencyProof(6)).toThrow(RangeError);
    expect(() => log.consistencyProof(3, 2)).toThrow(RangeError);
    expect(() => log.leafHash(5)).toThrow(RangeError);
    expect(() => log.appendLeafHash(new Uint8Array(31))).toThrow(RangeError);
    expect(log.size).toBe(5);
  });

  it('gives empty consistency proofs from size 0 and between equal sizes', () => {
    const log = new MerkleLog(nodeSha256);
    for (let i = 0; i < 5; i++) log.appendLeaf(entry(i));
    expect(log.consistencyProof(0)).toEqual([]);
    expect(log.consistencyProof(3, 3)).toEqual([]);
  });
});
