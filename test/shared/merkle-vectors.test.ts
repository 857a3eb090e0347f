import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { toHex } from '../../shared/hashing.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../shared/merkle/tree.js';
import { verifyConsistency, verifyInclusion } from '../../shared/merkle/verify.js';
import { everyProofMutation, flipBit } from './proof-mutations.js';
import { loadRfc6962Vectors } from './rfc6962-vectors.js';

const vectors = loadRfc6962Vectors();
const sha256 = nodeSha256;
const leafHashes = vectors.leaves.map((leaf) => leafHash(sha256, leaf));
const extraHash = sha256('an element no proof contains');

/**
 * Size changes the proofs cannot reveal. For these pairs the RFC 9162 verification steps do the
 * very same hash operations at both sizes (the number of levels and every left/right decision
 * agree), so the unchanged proof still yields the unchanged root: a proof binds a leaf to a root,
 * and only a signed checkpoint binds a root to its size. Checked below so the list stays exact.
 */
const SIZE_BLIND_INCLUSION = new Set(['0@8->7', '5@8->7', '1@5->6']);
const SIZE_BLIND_CONSISTENCY = new Set(['1..8->1..7', '6..8->6..7', '2..5->2..6', '6..7->6..8']);

function rootAt(size: number): Uint8Array {
  const root = vectors.rootsBySize[size];
  if (!root) throw new Error(`no published root for size ${size}`);
  return root;
}

describe('Merkle tree hashing against the published RFC 6962 vectors', () => {
  it('computes the published root of every tree size, the empty tree included', () => {
    const log = new MerkleLog(sha256);
    vectors.rootsBySize.forEach((root, size) => {
      expect(toHex(rootOf(sha256, leafHashes.slice(0, size))), `size ${size}`).toBe(toHex(root));
      if (size > 0) log.appendLeaf(vectors.leaves[size - 1]!);
      expect(toHex(log.root()), `log of size ${size}`).toBe(toHex(root));
    });
  });

  it('generates exactly the published inclusion and consistency proofs', () => {
    for (const v of vectors.inclusion) {
      const proof = inclusionProof(sha256, leafHashes.slice(0, v.treeSize), v.leafIndex);
      expect(proof.map(toHex), `leaf ${v.leafIndex} of ${v.treeSize}`).toEqual(v.proof.map(toHex));
    }
    for (const v of vectors.consistency) {
      const proof = consistencyProof(sha256, leafHashes.slice(0, v.size2), v.size1);
      expect(proof.map(toHex), `${v.size1} to ${v.size2}`).toEqual(v.proof.map(toHex));
    }
  });
});

describe.each(vectors.inclusion)('inclusion vector: leaf $leafIndex in a tree of $treeSize', (v) => {
  const leaf = leafHashes[v.leafIndex]!;
  const root = rootAt(v.treeSize);
  const check = (
    index: number,
    size: number,
    proof: readonly Uint8Array[],
    claimedRoot: Uint8Array,
    claimedLeaf = leaf,
  ) => verifyInclusion(sha256, claimedLeaf, index, size, proof, claimedRoot);

  it('is accepted', () => {
    expect(check(v.leafIndex, v.treeSize, v.proof, root)).toBe(true);
  });

  it('is rejected after any change to the proof: a flipped bit, a dropped, added or swapped element', () => {
    const accepted = everyProofMutation(v.proof, extraHash)
      .filter((mutation) => check(v.leafIndex, v.treeSize, mutation.proof, root))
      .map((mutation) => mutation.description);
    expect(accepted).toEqual([]);
  });

  it('is rejected for the neighbouring leaf indexes and for another leaf', () => {
    expect(check(v.leafIndex - 1, v.treeSize, v.proof, root)).toBe(false);
    expect(check(v.leafIndex + 1, v.treeSize, v.proof, root)).toBe(false);
    expect(check(v.leafIndex, v.treeSize, v.proof, root, flipBit(leaf, 0))).toBe(false);
    expect(check(v.leafIndex, v.treeSize, v.proof, root, extraHash)).toBe(false);
  });

  it('is rejected against a wrong root: any flipped bit, or the root of another size', () => {
    for (let bit = 0; bit < 256; bit++) expect(check(v.leafIndex, v.treeSize, v.proof, flipBit(root, bit))).toBe(false);
    vectors.rootsBySize.forEach((other, size) => {
      if (size !== v.treeSize) expect(check(v.leafIndex, v.treeSize, v.proof, other), `root of ${size}`).toBe(false);
    });
  });

  it('is rejected for the neighbouring tree sizes with their own roots', () => {
    for (const size of [v.treeSize - 1, v.treeSize + 1]) {
      const sizeRoot = vectors.rootsBySize[size];
      if (sizeRoot) expect(check(v.leafIndex, size, v.proof, sizeRoot), `size ${size}`).toBe(false);
    }
  });

  it('is rejected for the neighbouring tree sizes with the same root, except where the RFC steps cannot tell', () => {
    for (const size of [v.treeSize - 1, v.treeSize + 1]) {
      const blind = SIZE_BLIND_INCLUSION.has(`${v.leafIndex}@${v.treeSize}->${size}`);
      expect(check(v.leafIndex, size, v.proof, root), `size ${size}`).toBe(blind);
    }
  });
});

describe.each(vectors.consistency)('consistency vector: from $size1 to $size2 leaves', (v) => {
  const root1 = rootAt(v.size1);
  const root2 = rootAt(v.size2);
  const check = (size1: number, size2: number, proof: readonly Uint8Array[], first: Uint8Array, second: Uint8Array) =>
    verifyConsistency(sha256, size1, size2, proof, first, second);

  it('is accepted', () => {
    expect(check(v.size1, v.size2, v.proof, root1, root2)).toBe(true);
  });

  it('is rejected after any change to the proof: a flipped bit, a dropped, added or swapped element', () => {
    const accepted = everyProofMutation(v.proof, extraHash)
      .filter((mutation) => check(v.size1, v.size2, mutation.proof, root1, root2))
      .map((mutation) => mutation.description);
    expect(accepted).toEqual([]);
  });

  it('is rejected against a wrong first or second root', () => {
    for (let bit = 0; bit < 256; bit++) {
      expect(check(v.size1, v.size2, v.proof, flipBit(root1, bit), root2)).toBe(false);
      expect(check(v.size1, v.size2, v.proof, root1, flipBit(root2, bit))).toBe(false);
    }
    expect(check(v.size1, v.size2, v.proof, root2, root1)).toBe(v.size1 === v.size2);
  });

  it('is rejected for neighbouring sizes with their own roots, unless that claim is itself true', () => {
    const neighbours: Array<[number, number]> = [
      [v.size1 - 1, v.size2],
      [v.size1 + 1, v.size2],
      [v.size1, v.size2 - 1],
      [v.size1, v.size2 + 1],
    ];
    for (const [size1, size2] of neighbours) {
      const first = vectors.rootsBySize[size1];
      const second = vectors.rootsBySize[size2];
      if (!first || !second) continue;
      // Only a mutation that lands on another valid statement may pass: (0, n) with an empty proof.
      const honest = size1 <= size2 && consistencyProof(sha256, leafHashes.slice(0, size2), size1);
      const isTrue = honest !== false && honest.map(toHex).join() === v.proof.map(toHex).join();
      expect(check(size1, size2, v.proof, first, second), `${size1} to ${size2}`).toBe(isTrue);
    }
  });

  it('is rejected for neighbouring sizes with the same roots, except where the RFC steps cannot tell', () => {
    const neighbours: Array<[number, number]> = [
      [v.size1 - 1, v.size2],
      [v.size1 + 1, v.size2],
      [v.size1, v.size2 - 1],
      [v.size1, v.size2 + 1],
    ];
    for (const [size1, size2] of neighbours) {
      const blind = SIZE_BLIND_CONSISTENCY.has(`${v.size1}..${v.size2}->${size1}..${size2}`);
      expect(check(size1, size2, v.proof, root1, root2), `${size1} to ${size2}`).toBe(blind);
    }
  });
});

describe('Merkle proof verification of malformed input', () => {
  const v = vectors.inclusion.find((vector) => vector.proof.length > 0)!;
  const leaf = leafHashes[v.leafIndex]!;
  const root = rootAt(v.treeSize);

  it('refuses indexes and sizes that are not whole non-negative numbers', () => {
    for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(verifyInclusion(sha256, leaf, bad, v.treeSize, v.proof, root)).toBe(false);
      expect(verifyInclusion(sha256, leaf, v.leafIndex, bad, v.proof, root)).toBe(false);
      expect(verifyConsistency(sha256, bad, 8, [], rootAt(1), rootAt(8))).toBe(false);
      expect(verifyConsistency(sha256, 1, bad, [], rootAt(1), rootAt(8))).toBe(false);
    }
  });

  it('refuses hashes that are not 32 bytes, even when the bytes would hash the same', () => {
    const truncated = v.proof.map((element, i) => (i === 0 ? element.subarray(0, 31) : element));
    expect(verifyInclusion(sha256, leaf, v.leafIndex, v.treeSize, truncated, root)).toBe(false);
    expect(verifyInclusion(sha256, leaf.subarray(0, 31), v.leafIndex, v.treeSize, v.proof, root)).toBe(false);
    expect(verifyInclusion(sha256, leaf, v.leafIndex, v.treeSize, v.proof, new Uint8Array([...root, 0]))).toBe(false);
  });

  it('treats a first tree of size 0 as consistent only with an empty proof and the empty root', () => {
    const empty = rootAt(0);
    expect(verifyConsistency(sha256, 0, 8, [], empty, rootAt(8))).toBe(true);
    expect(verifyConsistency(sha256, 0, 0, [], empty, empty)).toBe(true);
    expect(verifyConsistency(sha256, 0, 8, [rootAt(8)], empty, rootAt(8))).toBe(false);
    expect(verifyConsistency(sha256, 0, 8, [], rootAt(1), rootAt(8))).toBe(false);
  });

  it('treats equal sizes as consistent only with an empty proof and equal roots', () => {
    expect(verifyConsistency(sha256, 5, 5, [], rootAt(5), rootAt(5))).toBe(true);
    expect(verifyConsistency(sha256, 5, 5, [rootAt(5)], rootAt(5), rootAt(5))).toBe(false);
    expect(verifyConsistency(sha256, 5, 5, [], rootAt(5), rootAt(6))).toBe(false);
  });

  it('refuses an empty consistency proof between different non-zero sizes and a shrinking log', () => {
    expect(verifyConsistency(sha256, 4, 8, [], rootAt(4), rootAt(8))).toBe(false);
    expect(verifyConsistency(sha256, 8, 4, [], rootAt(8), rootAt(4))).toBe(false);
  });

  it('refuses any inclusion claim in an empty tree', () => {
    expect(verifyInclusion(sha256, leaf, 0, 0, [], rootAt(0))).toBe(false);
  });
});
