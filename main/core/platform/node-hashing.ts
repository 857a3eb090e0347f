/** The SHA-256 shared/ code is given in main: node:crypto. */
import { createHash } from 'node:crypto';
import type { Sha256 } from '../../../shared/hashing.js';

export const nodeSha256: Sha256 = (...chunks) => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest();
};
