/**
 * The crypto primitives the storage needs, from node:crypto only: the SHA-256 that shared/ code
 * is given (shared/hashing.ts) and random ids.
 *
 * nodeSha256 is the same function as main/core/platform/node-hashing.ts; sync-server may not
 * import main/, so the few lines are repeated until they move to a Node-side package both use.
 */
import { hash, randomUUID } from 'node:crypto';
import type { Sha256 } from '../../shared/hashing.js';

/** SHA-256 over the concatenated chunks (strings as UTF-8), as shared/ code expects it. */
export const nodeSha256: Sha256 = (...chunks) => {
  const buffers = chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk));
  return new Uint8Array(hash('sha256', Buffer.concat(buffers), 'buffer'));
};

/** A new random (version 4) UUID, for clinic and enrollment-code ids. */
export function newUuid(): string {
  return randomUUID();
}
