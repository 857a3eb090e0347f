// Verifies Ed25519 signatures for the sync server's push route off its event loop
// (signature-pool.ts). Plain JavaScript: a worker thread loads it without the TypeScript loader.
import { Buffer } from 'node:buffer';
import { createPublicKey, verify } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();

function keyObject(publicKey) {
  let key = keys.get(publicKey);
  if (!key) {
    const raw = Buffer.from(publicKey, 'base64');
    if (raw.length !== 32) return null;
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    if (keys.size >= 1000) keys.delete(keys.keys().next().value);
    keys.set(publicKey, key);
  }
  return key;
}

parentPort.on('message', ({ id, items }) => {
  const results = items.map(({ publicKey, text, signature }) => {
    try {
      const key = keyObject(publicKey);
      const bytes = Buffer.from(signature, 'base64');
      return key !== null && bytes.length === 64 && verify(null, Buffer.from(text, 'utf8'), key, bytes);
    } catch {
      return false;
    }
  });
  parentPort.postMessage({ id, results });
});
