/** Real Ed25519 keys from node:crypto for the signed-note and checkpoint tests. */
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';

/** An Ed25519 key pair: the raw 32-byte public key and a signing function. */
export interface Ed25519TestKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

// PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410): fixed prefix, then the 32 seed bytes.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function fromPrivateKey(privateKey: KeyObject): Ed25519TestKey {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return {
    publicKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** A fresh random key. */
export function generateEd25519Key(): Ed25519TestKey {
  return fromPrivateKey(generateKeyPairSync('ed25519').privateKey);
}

/** The key of a given 32-byte seed (Ed25519 signing is deterministic, so signatures are too). */
export function ed25519KeyFromSeed(seed: Uint8Array): Ed25519TestKey {
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  return fromPrivateKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
}

/** Ed25519 verification of a signature by a raw public key. */
export function verifyEd25519(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, message, key, signature);
}
