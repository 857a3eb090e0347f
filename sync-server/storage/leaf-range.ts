/** Checks and conversions of Merkle leaf reads, the same for every storage. */
import { InvalidInputError } from './errors.js';
import { MAX_LEAF_HASHES_PER_READ, bytes32Schema, parseStoredRow } from './records.js';

/** Checks that [start, end) lies inside a log of `size` leaves and is not too long to read at once. */
export function checkLeafRange(start: number, end: number, size: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > size) {
    throw new InvalidInputError(`leaf range [${start}, ${end}) is not inside a log of ${size} leaves`);
  }
  if (end - start > MAX_LEAF_HASHES_PER_READ) {
    throw new InvalidInputError(`at most ${MAX_LEAF_HASHES_PER_READ} leaf hashes per read`);
  }
}

/** Leaf hash rows of [start, end) as bytes, checking none is missing. */
export function leafHashesFromRows(
  rows: ReadonlyArray<{ leaf_index: number; leaf_hash: Uint8Array }>,
  start: number,
  end: number,
): Uint8Array[] {
  if (rows.length !== end - start || rows.some((row, i) => row.leaf_index !== start + i)) {
    throw new Error('the Merkle log is missing leaves');
  }
  return rows.map((row) => parseStoredRow(bytes32Schema, row.leaf_hash, 'audit leaf'));
}
