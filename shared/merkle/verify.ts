/**
 * Verification of Merkle inclusion and consistency proofs, step by step as RFC 9162 section
 * 2.1.3.2 (inclusion) and section 2.1.4.2 (consistency) write them. The proofs are untrusted
 * input (a server we audit sends them), so every function returns false rather than throwing,
 * and a proof is accepted only when it is consumed exactly: an extra element makes `sn` reach 0
 * early and a missing one leaves it above 0, both of which the RFC steps reject.
 *
 * Additions to the RFC text, all refusals: indexes and sizes must be safe non-negative integers,
 * and every hash must be 32 bytes. RFC 9162 section 2.1.4.2 covers 0 < size1 < size2 only; for
 * size1 = size2 we require an empty proof and equal roots, and for size1 = 0 an empty proof and
 * the empty tree's root as the first root (the transparency-dev verifier does the former and
 * accepts any first root for the latter; we check it, since SHA-256("") is the only root a tree
 * of 0 leaves has). The second root is then unconstrained: every tree extends the empty one.
 *
 * Halving and the low bit use arithmetic, so sizes above 2^32 work (JS bitwise operators are
 * 32-bit).
 */
import type { Sha256 } from '../hashing.js';
import { MERKLE_HASH_SIZE, emptyTreeHash, nodeHash } from './tree.js';

/**
 * True when `proof` shows the leaf with hash `leaf` at `index` in the tree of `treeSize` leaves
 * whose root is `root` (RFC 9162 section 2.1.3.2).
 */
export function verifyInclusion(
  sha256: Sha256,
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isCount(index) || !isCount(treeSize) || !isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  // Step 1.
  if (index >= treeSize) return false;
  // Steps 2 and 3.
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  // Step 4.
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(sha256, p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(sha256, r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  return sn === 0 && bytesEqual(r, root);
}

/**
 * True when `proof` shows the tree of `size1` leaves with root `root1` is a prefix of the tree of
 * `size2` leaves with root `root2` (RFC 9162 section 2.1.4.2; edge cases in the header).
 */
export function verifyConsistency(
  sha256: Sha256,
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!isCount(size1) || !isCount(size2) || !isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false;
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0 && bytesEqual(root1, emptyTreeHash(sha256));
  // Step 1.
  if (proof.length === 0) return false;
  // Step 2.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // Step 3.
  let fn = size1 - 1;
  let sn = size2 - 1;
  // Step 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(sha256, c, fr);
      sr = nodeHash(sha256, c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sha256, sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  return bytesEqual(fr, root1) && bytesEqual(sr, root2) && sn === 0;
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function isHash(value: Uint8Array): boolean {
  return value instanceof Uint8Array && value.length === MERKLE_HASH_SIZE;
}

function isOdd(value: number): boolean {
  return value % 2 === 1;
}

function half(value: number): number {
  return Math.floor(value / 2);
}

function isPowerOfTwo(value: number): boolean {
  let v = value;
  while (v > 1 && !isOdd(v)) v = half(v);
  return v === 1;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
