/**
 * The server's own keys, all derived with HKDF-SHA256 (RFC 5869) from one 32-byte master key so
 * an operator backs up one secret: the HMAC key of challenges, the HMAC key of access tokens,
 * and the Ed25519 key that signs checkpoints of every clinic's Merkle log. A key id (the first
 * bytes of a hash of the token key) names the generation, so a token minted under another
 * master key is refused before its MAC is even compared.
 */
import { type KeyObject, createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify } from 'node:crypto';

const SALT = 'chairside/sync-server/server-keys/v1';
// DER prefixes of an Ed25519 key in PKCS #8 and SPKI form (RFC 8410); the raw 32 bytes follow.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The keys the HTTP layer signs and verifies with. */
export interface ServerKeys {
  /** Names this key generation inside tokens (16 hex characters). */
  readonly keyId: string;
  /** HMAC-SHA256 key of stateless challenges. */
  readonly challengeKey: Buffer;
  /** HMAC-SHA256 key of access tokens. */
  readonly tokenKey: Buffer;
  /** The C2SP signed-note key name of checkpoints. */
  readonly checkpointKeyName: string;
  /** Raw 32-byte Ed25519 public key of checkpoints. */
  readonly checkpointPublicKey: Uint8Array;
  /** Signs a message with the checkpoint key (Ed25519). */
  signCheckpoint(message: Uint8Array): Uint8Array;
}

/** Derives the server keys from a 32-byte master key. */
export function deriveServerKeys(masterKey: Buffer, checkpointKeyName = 'chairside-sync'): ServerKeys {
  if (masterKey.length !== 32) throw new Error('the server master key must be 32 bytes');
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', masterKey, SALT, info, 32));
  const tokenKey = derive('access-token');
  const privateKey = ed25519PrivateKeyFromSeed(derive('checkpoint-ed25519'));
  const publicKey = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32));
  return {
    keyId: createHash('sha256').update('chairside/key-id\n').update(tokenKey).digest('hex').slice(0, 16),
    challengeKey: derive('auth-challenge'),
    tokenKey,
    checkpointKeyName,
    checkpointPublicKey: publicKey,
    signCheckpoint: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** An Ed25519 private key from its 32-byte seed. */
export function ed25519PrivateKeyFromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** An Ed25519 public key object from its raw 32 bytes. */
export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** True when `signature` is a valid Ed25519 signature of `message` by the raw public key; never throws. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, ed25519PublicKeyFromRaw(publicKey), signature);
  } catch {
    return false;
  }
}
