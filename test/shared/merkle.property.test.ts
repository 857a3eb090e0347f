import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { toHex } from '../../shared/hashing.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../shared/merkle/tree.js';
import { verifyConsistency, verifyInclusion } from '../../shared/merkle/verify.js';
import { bytesEqual, flipBit } from './proof-mutations.js';

const sha256 = nodeSha256;
const SEED = 6962;

const leafData = fc.uint8Array({ maxLength: 6 });
/** Leaf sets with possible repeats (repeated entries are legal in a log). */
const anyLeaves = fc.array(leafData, { minLength: 1, maxLength: 70 });
/** Leaf sets without repeats, so no mutated claim can accidentally be true. */
const distinctLeaves = fc.uniqueArray(leafData, { minLength: 1, maxLength: 70, selector: (leaf) => toHex(leaf) });

/** A tree over a prefix of the leaves (the rest give roots for larger sizes). */
interface Tree {
  readonly hashes: readonly Uint8Array[];
  readonly size: number;
}

function tree(leaves: readonly Uint8Array[], sizeSeed: number): Tree {
  return { hashes: leaves.map((leaf) => leafHash(sha256, leaf)), size: 1 + (sizeSeed % leaves.length) };
}

function rootOfPrefix(t: Tree, size: number): Uint8Array {
  return rootOf(sha256, t.hashes.slice(0, size));
}

function sameProof(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((element, i) => bytesEqual(element, b[i]!));
}

/** One random change to a proof, a size, an index, a root or a leaf. */
const mutation = fc.record({
  kind: fc.constantFrom('flip', 'drop', 'insert', 'swap', 'index', 'size', 'root', 'leaf'),
  position: fc.nat(),
  bit: fc.integer({ min: 0, max: 255 }),
  up: fc.boolean(),
  extra: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

/** Applies a mutation's proof change; returns null when it does not apply to this proof. */
function mutateProof(proof: readonly Uint8Array[], m: Mutation): Uint8Array[] | null {
  const at = proof.length > 0 ? m.position % proof.length : 0;
  switch (m.kind) {
    case 'flip':
      return proof.length > 0 ? proof.map((e, i) => (i === at ? flipBit(e, m.bit) : e)) : null;
    case 'drop':
      return proof.length > 0 ? proof.filter((_, i) => i !== at) : null;
    case 'insert': {
      const pos = m.position % (proof.length + 1);
      return [...proof.slice(0, pos), m.extra, ...proof.slice(pos)];
    }
    case 'swap': {
      if (proof.length < 2) return null;
      const i = m.position % (proof.length - 1);
      const out = [...proof];
      [out[i], out[i + 1]] = [proof[i + 1]!, proof[i]!];
      return out;
    }
    default:
      return [...proof];
  }
}

describe('Merkle proof properties', () => {
  it('every inclusion proof of every leaf verifies', () => {
    fc.assert(
      fc.property(anyLeaves, fc.nat(), (leaves, sizeSeed) => {
        const t = tree(leaves, sizeSeed);
        const prefix = t.hashes.slice(0, t.size);
        const root = rootOf(sha256, prefix);
        for (let index = 0; index < t.size; index++) {
          const proof = inclusionProof(sha256, prefix, index);
          expect(verifyInclusion(sha256, prefix[index]!, index, t.size, proof, root)).toBe(true);
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('every consistency proof from every earlier size verifies', () => {
    fc.assert(
      fc.property(anyLeaves, fc.nat(), (leaves, sizeSeed) => {
        const t = tree(leaves, sizeSeed);
        const prefix = t.hashes.slice(0, t.size);
        const root = rootOf(sha256, prefix);
        for (let size1 = 0; size1 <= t.size; size1++) {
          const proof = consistencyProof(sha256, prefix, size1);
          expect(verifyConsistency(sha256, size1, t.size, proof, rootOfPrefix(t, size1), root)).toBe(true);
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('rejects an inclusion proof after one random change to the proof, the index, the root or the leaf', () => {
    fc.assert(
      fc.property(distinctLeaves, fc.nat(), fc.nat(), mutation, (leaves, sizeSeed, indexSeed, m) => {
        fc.pre(m.kind !== 'size');
        const t = tree(leaves, sizeSeed);
        const index = indexSeed % t.size;
        const root = rootOfPrefix(t, t.size);
        const proof = inclusionProof(sha256, t.hashes.slice(0, t.size), index);
        const mutated = mutateProof(proof, m);
        fc.pre(mutated !== null);
        const claimedIndex = m.kind === 'index' ? index + (m.up ? 1 : -1) : index;
        const claimedRoot = m.kind === 'root' ? flipBit(root, m.bit) : root;
        const leaf = m.kind === 'leaf' ? flipBit(t.hashes[index]!, m.bit) : t.hashes[index]!;
        expect(verifyInclusion(sha256, leaf, claimedIndex, t.size, mutated, claimedRoot)).toBe(false);
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it('rejects a consistency proof after one random change to the proof or either root', () => {
    fc.assert(
      fc.property(distinctLeaves, fc.nat(), fc.nat(), mutation, (leaves, sizeSeed, size1Seed, m) => {
        fc.pre(m.kind !== 'size' && m.kind !== 'index' && m.kind !== 'leaf');
        const t = tree(leaves, sizeSeed);
        const size1 = size1Seed % (t.size + 1);
        // Every tree extends the empty one, whatever its root: nothing to reject there.
        fc.pre(!(m.kind === 'root' && !m.up && size1 === 0));
        const root1 = rootOfPrefix(t, size1);
        const root2 = rootOfPrefix(t, t.size);
        const mutated = mutateProof(consistencyProof(sha256, t.hashes.slice(0, t.size), size1), m);
        fc.pre(mutated !== null);
        // 'root' flips a bit of the first or the second root.
        const first = m.kind === 'root' && m.up ? flipBit(root1, m.bit) : root1;
        const second = m.kind === 'root' && !m.up ? flipBit(root2, m.bit) : root2;
        expect(verifyConsistency(sha256, size1, t.size, mutated, first, second)).toBe(false);
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  // With repeated leaves and size changes a mutated claim can be true (the same leaf at the next
  // index, a tree of 0 leaves); the verifier must then accept, and otherwise reject.
  it('accepts a mutated inclusion claim exactly when it is still a true statement about the log', () => {
    fc.assert(
      fc.property(anyLeaves, fc.nat(), fc.nat(), mutation, (leaves, sizeSeed, indexSeed, m) => {
        const t = tree(leaves, sizeSeed);
        const index = indexSeed % t.size;
        const proof = inclusionProof(sha256, t.hashes.slice(0, t.size), index);
        const mutated = mutateProof(proof, m);
        fc.pre(mutated !== null);
        const claimedIndex = m.kind === 'index' ? index + (m.up ? 1 : -1) : index;
        const claimedSize = m.kind === 'size' ? t.size + (m.up ? 1 : -1) : t.size;
        fc.pre(claimedSize <= t.hashes.length);
        // A size change comes with that size's true root: the size-blind cases need a wrong root.
        const trueRoot = rootOfPrefix(t, Math.max(claimedSize, 0));
        const claimedRoot = m.kind === 'root' ? flipBit(trueRoot, m.bit) : trueRoot;
        const leaf = m.kind === 'leaf' ? flipBit(t.hashes[index]!, m.bit) : t.hashes[index]!;
        const isTrue =
          claimedIndex >= 0 &&
          claimedIndex < claimedSize &&
          bytesEqual(leaf, t.hashes[claimedIndex]!) &&
          bytesEqual(claimedRoot, trueRoot) &&
          sameProof(mutated, inclusionProof(sha256, t.hashes.slice(0, claimedSize), claimedIndex));
        expect(verifyInclusion(sha256, leaf, claimedIndex, claimedSize, mutated, claimedRoot)).toBe(isTrue);
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it('accepts a mutated consistency claim exactly when it is still a true statement about the log', () => {
    fc.assert(
      fc.property(anyLeaves, fc.nat(), fc.nat(), mutation, (leaves, sizeSeed, size1Seed, m) => {
        const t = tree(leaves, sizeSeed);
        const size1 = size1Seed % (t.size + 1);
        const mutated = mutateProof(consistencyProof(sha256, t.hashes.slice(0, t.size), size1), m);
        fc.pre(mutated !== null);
        // 'index' moves the first size, 'size' the second; each with its true root.
        const claimed1 = m.kind === 'index' ? size1 + (m.up ? 1 : -1) : size1;
        const claimed2 = m.kind === 'size' ? t.size + (m.up ? 1 : -1) : t.size;
        fc.pre(claimed1 >= 0 && claimed1 <= t.hashes.length && claimed2 >= 0 && claimed2 <= t.hashes.length);
        const true1 = rootOfPrefix(t, claimed1);
        const true2 = rootOfPrefix(t, claimed2);
        const first = m.kind === 'root' && m.up ? flipBit(true1, m.bit) : true1;
        const second = m.kind === 'root' && !m.up ? flipBit(true2, m.bit) : true2;
        // A tree of 0 leaves is a prefix of every tree, so then the second root is unconstrained.
        const secondMatters = claimed1 > 0 || claimed2 === 0;
        const isTrue =
          claimed1 <= claimed2 &&
          bytesEqual(first, true1) &&
          (!secondMatters || bytesEqual(second, true2)) &&
          sameProof(mutated, consistencyProof(sha256, t.hashes.slice(0, claimed2), claimed1));
        expect(verifyConsistency(sha256, claimed1, claimed2, mutated, first, second)).toBe(isTrue);
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });
});

describe('MerkleLog properties', () => {
  it('agrees with rootOf for every prefix of the log', () => {
    fc.assert(
      fc.property(fc.array(leafData, { maxLength: 150 }), (leaves) => {
        const log = new MerkleLog(sha256);
        const hashes = leaves.map((leaf) => leafHash(sha256, leaf));
        leaves.forEach((leaf, i) => {
          expect(log.appendLeaf(leaf)).toBe(i);
          expect(toHex(log.root())).toBe(toHex(rootOf(sha256, hashes.slice(0, i + 1))));
        });
        for (let size = 0; size <= leaves.length; size++) {
          expect(toHex(log.root(size))).toBe(toHex(rootOf(sha256, hashes.slice(0, size))));
        }
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('gives the same inclusion and consistency proofs as the reference functions, for any earlier size', () => {
    fc.assert(
      fc.property(anyLeaves, fc.nat(), fc.nat(), fc.nat(), (leaves, sizeSeed, indexSeed, size1Seed) => {
        const log = new MerkleLog(sha256);
        for (const leaf of leaves) log.appendLeaf(leaf);
        const hashes = leaves.map((leaf) => leafHash(sha256, leaf));
        const size = 1 + (sizeSeed % leaves.length);
        const index = indexSeed % size;
        const size1 = size1Seed % (size + 1);
        const prefix = hashes.slice(0, size);
        expect(log.inclusionProof(index, size).map(toHex)).toEqual(inclusionProof(sha256, prefix, index).map(toHex));
        expect(log.consistencyProof(size1, size).map(toHex)).toEqual(
          consistencyProof(sha256, prefix, size1).map(toHex),
        );
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
