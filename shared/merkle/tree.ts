/**
 * Merkle tree hashing of an append-only log after RFC 6962 section 2.1 and RFC 9162 section 2.1
 * (the same construction; 9162 obsoletes 6962): SHA-256 with a 0x00 prefix for leaves and 0x01
 * for interior nodes (second-preimage resistance between the two), the empty tree hashing to
 * SHA-256 of the empty string, and the tree of n > 1 leaves split at the largest power of two
 * smaller than n. Inclusion proofs follow RFC 9162 section 2.1.3.1 (PATH) and consistency proofs
 * section 2.1.4.1 (PROOF / SUBPROOF).
 *
 * The proof builders work over any function that gives the hash of a range of leaves, so the
 * reference functions here (which rehash from the leaf hashes, O(n)) and MerkleLog (which reads
 * stored subtree hashes, O(log n)) produce proofs by the very same recursion.
 *
 * Sizes and indexes are JS numbers, so trees are limited to 2^53 - 1 leaves; halving uses
 * arithmetic, never 32-bit bitwise operators.
 */
import type { Sha256 } from '../hashing.js';

/** Size in bytes of every hash in the tree (SHA-256). */
export const MERKLE_HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** The leaf hash of one log entry: SHA-256(0x00 || entry). */
export function leafHash(sha256: Sha256, entry: Uint8Array | string): Uint8Array {
  return sha256(LEAF_PREFIX, entry);
}

/** The hash of an interior node: SHA-256(0x01 || left || right). */
export function nodeHash(sha256: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** The root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1). */
export function emptyTreeHash(sha256: Sha256): Uint8Array {
  return sha256();
}

/** The hash of leaves [lo, hi) of some tree: MTH(D[lo:hi]). Called only with lo < hi. */
export type RangeHasher = (lo: number, hi: number) => Uint8Array;

/** The largest power of two strictly smaller than n (n >= 2): where RFC 9162 splits a tree. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over a list of leaf hashes (RFC 9162 section 2.1.1), for any number of leaves. */
export function rootOf(sha256: Sha256, leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyTreeHash(sha256);
  return referenceRangeHasher(sha256, leafHashes)(0, leafHashes.length);
}

/** The audit path of leaf `index` in the tree of all the given leaves (RFC 9162 section 2.1.3.1). */
export function inclusionProof(sha256: Sha256, leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  return inclusionProofOver(referenceRangeHasher(sha256, leafHashes), index, leafHashes.length);
}

/**
 * The consistency proof from the tree of the first `size1` leaves to the tree of all of them
 * (RFC 9162 section 2.1.4.1). Empty when size1 is 0 or equals the number of leaves.
 */
export function consistencyProof(sha256: Sha256, leafHashes: readonly Uint8Array[], size1: number): Uint8Array[] {
  return consistencyProofOver(referenceRangeHasher(sha256, leafHashes), size1, leafHashes.length);
}

/** PATH(index, D[0:size]) built from a range hasher; shared by the reference functions and MerkleLog. */
export function inclusionProofOver(hashRange: RangeHasher, index: number, size: number): Uint8Array[] {
  checkSize(size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${size} leaves`);
  }
  const proof: Uint8Array[] = [];
  path(hashRange, index, 0, size, proof);
  return proof;
}

/** PROOF(size1, D[0:size2]) built from a range hasher; shared by the reference functions and MerkleLog. */
export function consistencyProofOver(hashRange: RangeHasher, size1: number, size2: number): Uint8Array[] {
  checkSize(size2);
  if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
    throw new RangeError(`cannot prove a tree of ${size1} leaves consistent with one of ${size2}`);
  }
  // RFC 9162 defines PROOF for 0 < size1 < size2; the two edge cases have nothing to prove.
  if (size1 === 0 || size1 === size2) return [];
  const proof: Uint8Array[] = [];
  subproof(hashRange, size1, 0, size2, true, proof);
  return proof;
}

// PATH(m, D[lo:hi]): the sibling subtree hashes from the leaf up, the deepest first.
function path(hashRange: RangeHasher, m: number, lo: number, hi: number, out: Uint8Array[]): void {
  if (hi - lo === 1) return;
  const k = splitPoint(hi - lo);
  if (m - lo < k) {
    path(hashRange, m, lo, lo + k, out);
    out.push(hashRange(lo + k, hi));
  } else {
    path(hashRange, m, lo + k, hi, out);
    out.push(hashRange(lo, lo + k));
  }
}

// SUBPROOF(m, D[lo:hi], b), m counted from lo. `known` is b: whether MTH(D[lo:lo+m]) is the old root.
function subproof(hashRange: RangeHasher, m: number, lo: number, hi: number, known: boolean, out: Uint8Array[]): void {
  if (m === hi - lo) {
    if (!known) out.push(hashRange(lo, hi));
    return;
  }
  const k = splitPoint(hi - lo);
  if (m <= k) {
    subproof(hashRange, m, lo, lo + k, known, out);
    out.push(hashRange(lo + k, hi));
  } else {
    subproof(hashRange, m - k, lo + k, hi, false, out);
    out.push(hashRange(lo, lo + k));
  }
}

// Recomputes every range from the leaf hashes: the plain definition, used as the reference.
function referenceRangeHasher(sha256: Sha256, leafHashes: readonly Uint8Array[]): RangeHasher {
  const hashRange: RangeHasher = (lo, hi) => {
    if (hi - lo === 1) return leafHashes[lo]!;
    const k = splitPoint(hi - lo);
    return nodeHash(sha256, hashRange(lo, lo + k), hashRange(lo + k, hi));
  };
  return hashRange;
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid tree size ${size}`);
}
