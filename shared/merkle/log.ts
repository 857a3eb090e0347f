/**
 * An append-only Merkle log (RFC 9162 section 2.1 hashing; see tree.ts) that keeps every complete
 * subtree hash, level by level, the way the RFC 6962 reference log server and transparency-dev's
 * compact ranges do. Appending a leaf costs at most log2(n) + 1 hashes; the root of any prefix
 * and any inclusion or consistency proof costs O(log n) hashes, because every range the RFC
 * recursion asks for is either a stored aligned subtree or one right edge rebuilt from them.
 *
 * Hashes live in one flat byte buffer per level (32 bytes each, about 64 bytes per leaf in all)
 * rather than one Uint8Array per node: a clinic's log holds hundreds of thousands of leaves and
 * per-object overhead would dominate. Everything returned to callers is a copy.
 */
import type { Sha256 } from '../hashing.js';
import {
  MERKLE_HASH_SIZE,
  type RangeHasher,
  consistencyProofOver,
  emptyTreeHash,
  inclusionProofOver,
  leafHash,
  nodeHash,
  splitPoint,
} from './tree.js';

/** Append-only Merkle log: leaves go in, roots and proofs for any earlier size come out. */
export class MerkleLog {
  // levels[h] holds the hashes of the complete subtrees of 2^h leaves, left to right.
  private readonly levels: HashColumn[] = [new HashColumn()];

  constructor(private readonly sha256: Sha256) {}

  /** A log holding these leaf hashes, in order (for example reloaded from storage). */
  static fromLeafHashes(sha256: Sha256, leafHashes: Iterable<Uint8Array>): MerkleLog {
    const log = new MerkleLog(sha256);
    for (const hash of leafHashes) log.appendLeafHash(hash);
    return log;
  }

  /** The number of leaves appended so far. */
  get size(): number {
    return this.levels[0]!.count;
  }

  /** Appends an entry (hashed as a leaf, 0x00 prefix) and returns its index. */
  appendLeaf(entry: Uint8Array | string): number {
    return this.appendLeafHash(leafHash(this.sha256, entry));
  }

  /** Appends an already computed leaf hash and returns its index. */
  appendLeafHash(hash: Uint8Array): number {
    if (!(hash instanceof Uint8Array) || hash.length !== MERKLE_HASH_SIZE) {
      throw new RangeError(`a leaf hash has ${MERKLE_HASH_SIZE} bytes`);
    }
    const index = this.size;
    this.levels[0]!.push(hash);
    // Each time a right child completes a pair, the parent subtree is complete too: carry upward.
    let position = index;
    for (let height = 0; position % 2 === 1; height++) {
      const column = this.levels[height]!;
      const parent = nodeHash(this.sha256, column.at(position - 1), column.at(position));
      if (this.levels.length === height + 1) this.levels.push(new HashColumn());
      this.levels[height + 1]!.push(parent);
      position = (position - 1) / 2;
    }
    return index;
  }

  /** The leaf hash at `index`. */
  leafHash(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`leaf index ${index} is outside a log of ${this.size} leaves`);
    }
    return this.levels[0]!.at(index).slice();
  }

  /** The root (MTH) of the tree of the first `size` leaves; the current root by default. */
  root(size: number = this.size): Uint8Array {
    this.checkPrefix(size);
    if (size === 0) return emptyTreeHash(this.sha256);
    return this.hashRange(0, size).slice();
  }

  /** The inclusion proof of leaf `index` in the tree of the first `size` leaves. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    this.checkPrefix(size);
    return inclusionProofOver(this.hashRange, index, size).map((hash) => hash.slice());
  }

  /** The consistency proof from the tree of `size1` leaves to the tree of `size2` leaves. */
  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    this.checkPrefix(size2);
    return consistencyProofOver(this.hashRange, size1, size2).map((hash) => hash.slice());
  }

  // MTH(D[lo:hi]) from the stored levels; may return a view into storage (callers copy).
  private readonly hashRange: RangeHasher = (lo, hi) => {
    const width = hi - lo;
    const height = exactLog2(width);
    if (height !== null && lo % width === 0) return this.levels[height]!.at(lo / width);
    const k = splitPoint(width);
    return nodeHash(this.sha256, this.hashRange(lo, lo + k), this.hashRange(lo + k, hi));
  };

  private checkPrefix(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new RangeError(`tree size ${size} is outside a log of ${this.size} leaves`);
    }
  }
}

/** A growable array of 32-byte hashes in one buffer. */
class HashColumn {
  private bytes = new Uint8Array(MERKLE_HASH_SIZE * 64);
  count = 0;

  push(hash: Uint8Array): void {
    const offset = this.count * MERKLE_HASH_SIZE;
    if (offset + MERKLE_HASH_SIZE > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, offset);
    this.count++;
  }

  // A view, not a copy; stays valid after growth because stored hashes never change.
  at(index: number): Uint8Array {
    const offset = index * MERKLE_HASH_SIZE;
    return this.bytes.subarray(offset, offset + MERKLE_HASH_SIZE);
  }
}

// log2 of a power of two, or null for any other width.
function exactLog2(width: number): number | null {
  let height = 0;
  let v = width;
  while (v > 1) {
    if (v % 2 === 1) return null;
    v /= 2;
    height++;
  }
  return v === 1 ? height : null;
}
