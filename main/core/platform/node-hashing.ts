/** The SHA-256 shared/ code is given in main: node:crypto. */
import { hash } from 'node:crypto';
import type { Sha256 } from '../../../shared/hashing.js';

// One reusable buffer for the concatenated input: audit verification hashes hundreds of
// thousands of small inputs, and a one-shot hash over one buffer costs far less than a Hash
// object per entry. Grown on demand; never shared across awaits (hashing is synchronous).
let scratch = Buffer.allocUnsafe(8192);

export const nodeSha256: Sha256 = (...chunks) => {
  let length = 0;
  for (const chunk of chunks) length += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  if (length > scratch.length) scratch = Buffer.allocUnsafe(Math.max(length, scratch.length * 2));
  let offset = 0;
  for (const chunk of chunks) {
    if (typeof chunk === 'string') offset += scratch.write(chunk, offset, 'utf8');
    else {
      scratch.set(chunk, offset);
      offset += chunk.length;
    }
  }
  return hash('sha256', scratch.subarray(0, offset), 'buffer');
};
