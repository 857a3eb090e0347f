/**
 * Loads the published RFC 6962 / RFC 9162 Merkle test vectors from the steering folder, which is
 * checked out beside this repository (locally /work/shared, in CI a clone beside the repo).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { fromHex } from '../../shared/hashing.js';

const VECTORS_URL = new URL('../../../shared/testdata/rfc6962-vectors.json', import.meta.url);

const hex = z.string().regex(/^([0-9a-f]{2})*$/);
const hash = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);

const vectorsSchema = z.object({
  leaves: z.array(hex).min(1),
  rootsBySize: z.array(hash).min(2),
  inclusion: z.array(z.object({ leafIndex: count, treeSize: count, proof: z.array(hash) })).min(1),
  consistency: z.array(z.object({ size1: count, size2: count, proof: z.array(hash) })).min(1),
});

/** One published inclusion vector, decoded. */
export interface InclusionVector {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly proof: readonly Uint8Array[];
}

/** One published consistency vector, decoded. */
export interface ConsistencyVector {
  readonly size1: number;
  readonly size2: number;
  readonly proof: readonly Uint8Array[];
}

/** The vectors file, decoded: leaf data, roots by tree size, and the proofs. */
export interface Rfc6962Vectors {
  readonly leaves: readonly Uint8Array[];
  readonly rootsBySize: readonly Uint8Array[];
  readonly inclusion: readonly InclusionVector[];
  readonly consistency: readonly ConsistencyVector[];
}

/** Reads and validates the vectors; throws a message naming the missing path when absent. */
export function loadRfc6962Vectors(): Rfc6962Vectors {
  const path = fileURLToPath(VECTORS_URL);
  if (!existsSync(path)) {
    throw new Error(
      `RFC 6962 test vectors not found at ${path}: check out the steering folder "shared" beside this repository ` +
        '(it holds testdata/rfc6962-vectors.json).',
    );
  }
  const raw = vectorsSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  return {
    leaves: raw.leaves.map(fromHex),
    rootsBySize: raw.rootsBySize.map(fromHex),
    inclusion: raw.inclusion.map((v) => ({ ...v, proof: v.proof.map(fromHex) })),
    consistency: raw.consistency.map((v) => ({ ...v, proof: v.proof.map(fromHex) })),
  };
}
