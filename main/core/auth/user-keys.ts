/**
 * Users' signing keys on a device (docs/sync-protocol.md, "User-signed changes"). A user's Ed25519
 * private key exists only wrapped: AES-256-GCM under a key derived with scrypt from the user's
 * password, bound (associated data) to the user id and the public key. It is unwrapped at sign-in,
 * held in the session's memory, and signs every local transaction the session records; a device
 * that was not given the password cannot sign as the user, and the server refuses what it pushes
 * in the user's name.
 *
 * Randomness (the key seed, salts, nonces) comes from the injected source, so tests are
 * deterministic; the scrypt cost is injectable like the bcrypt cost (tests use a cheap one).
 */
import {
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  scrypt,
  sign,
} from 'node:crypto';
import { canonicalJson } from '../../../shared/canonical-json.js';
import { encodeBase64 } from '../../../shared/merkle/base64.js';
import {
  type ScryptParams,
  type UserSigningKey,
  userSigningKeySchema,
} from '../../../shared/sync/entities/user-signing-key.js';
import { type UserProofClaims, batchSigningText, userProofText } from '../../../shared/sync/user-signing.js';
import type { ChangeRecord } from '../../../shared/sync/change.js';
import type { ReadDb } from '../db/access.js';
import type { RandomSource } from '../platform/sources.js';

/** OWASP's scrypt minimum (N=2^17 would cost a front-desk PC about half a second per sign-in). */
export const DEFAULT_USER_KEY_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

/** The cheapest cost the schema accepts, for tests. */
export const MINIMUM_USER_KEY_SCRYPT: ScryptParams = { N: 2 ** 10, r: 1, p: 1 };

/** The scrypt cost that goes with a bcrypt cost: the floor where a test lowered bcrypt's. */
export function userKeyScryptFor(bcryptCost: number | undefined): ScryptParams {
  return bcryptCost !== undefined && bcryptCost < 10 ? MINIMUM_USER_KEY_SCRYPT : DEFAULT_USER_KEY_SCRYPT;
}

const WRAP_AAD_DOMAIN = 'chairside/user-key-wrap/v1\n';
// DER prefixes of an Ed25519 PKCS#8 private key (RFC 8410) and SPKI public key.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A user's unwrapped key pair, held in a session's memory only. */
export interface UserSigner {
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** A key issued or re-wrapped: the replicated `signing_key` field text and the signer it opens to. */
export interface IssuedUserKey {
  readonly field: string;
  readonly signer: UserSigner;
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem above 128·N·r·p, which node's 32 MiB default refuses for N=2^15 and r=8.
    scrypt(password, salt, 32, { ...params, maxmem: 256 * params.N * params.r * params.p }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** The wrap is bound to its public key: a wrapped key moved beside another public key does not open. */
function wrapAad(publicKey: string): Buffer {
  return Buffer.from(`${WRAP_AAD_DOMAIN}${publicKey}`, 'utf8');
}

/** The raw 32-byte public key of an Ed25519 private key, base64. */
function publicKeyOf(privateKey: KeyObject): string {
  return encodeBase64(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32));
}

/** Issues, opens and re-wraps users' signing keys. */
export class UserKeys {
  constructor(
    private readonly random: RandomSource,
    readonly params: ScryptParams = DEFAULT_USER_KEY_SCRYPT,
  ) {}

  /** A new key pair for a user, wrapped under their (new) password. */
  async issue(password: string): Promise<IssuedUserKey> {
    const seed = this.random.bytes(32);
    const privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    return this.wrap(privateKey, password);
  }

  /** The same key pair wrapped under a new password (a password change keeps the user's key). */
  async wrap(privateKey: KeyObject, password: string): Promise<IssuedUserKey> {
    const publicKey = publicKeyOf(privateKey);
    const salt = this.random.bytes(16);
    const iv = this.random.bytes(12);
    const wrappingKey = await derive(password, salt, this.params);
    const cipher = createCipheriv('aes-256-gcm', wrappingKey, iv);
    cipher.setAAD(wrapAad(publicKey));
    const ciphertext = Buffer.concat([
      cipher.update(privateKey.export({ format: 'der', type: 'pkcs8' })),
      cipher.final(),
    ]);
    const field: UserSigningKey = {
      v: 1,
      publicKey,
      wrapped: {
        kdf: 'scrypt',
        params: { ...this.params },
        salt: encodeBase64(salt),
        iv: encodeBase64(iv),
        ciphertext: encodeBase64(ciphertext),
        tag: encodeBase64(cipher.getAuthTag()),
      },
    };
    return { field: canonicalJson(field), signer: { publicKey, privateKey } };
  }

  /**
   * Opens a user's stored key with their password; null when the text is not a key, the password
   * does not open it, or it opens to a key that is not the stated public key's.
   */
  async open(field: string, password: string): Promise<UserSigner | null> {
    const parsed = parseSigningKey(field);
    if (!parsed) return null;
    const { wrapped } = parsed;
    const wrappingKey = await derive(password, Buffer.from(wrapped.salt, 'base64'), wrapped.params);
    try {
      const decipher = createDecipheriv('aes-256-gcm', wrappingKey, Buffer.from(wrapped.iv, 'base64'));
      decipher.setAAD(wrapAad(parsed.publicKey));
      decipher.setAuthTag(Buffer.from(wrapped.tag, 'base64'));
      const der = Buffer.concat([decipher.update(Buffer.from(wrapped.ciphertext, 'base64')), decipher.final()]);
      const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      if (publicKeyOf(privateKey) !== parsed.publicKey) return null;
      return { publicKey: parsed.publicKey, privateKey };
    } catch {
      return null;
    }
  }
}

/** A stored `signing_key` text parsed, or null. */
export function parseSigningKey(field: string | null | undefined): UserSigningKey | null {
  if (typeof field !== 'string') return null;
  try {
    const parsed = userSigningKeySchema.safeParse(JSON.parse(field));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * True when the user's stored key is no longer the one the session opened (an Admin reset their
 * password on another computer and the change was pulled): the session's signatures would be
 * refused. A password change re-wraps the same key and does not count.
 */
export function signerReplaced(
  db: ReadDb,
  session: { readonly userId: string; readonly signer: UserSigner | null },
): boolean {
  if (!session.signer) return false;
  const row = db
    .query<{ signing_key: string | null }>('SELECT signing_key FROM users WHERE id = ?')
    .get([session.userId]);
  return parseSigningKey(row?.signing_key)?.publicKey !== session.signer.publicKey;
}

/** The base64 Ed25519 signature of a local transaction's changes by the user who made them. */
export function signBatch(signer: UserSigner, txId: string, changes: readonly ChangeRecord[]): string {
  return sign(null, Buffer.from(batchSigningText(txId, changes), 'utf8'), signer.privateKey).toString('base64');
}

/** The base64 Ed25519 signature of a user's proof for a server route. */
export function signUserProof(signer: UserSigner, claims: UserProofClaims): string {
  return sign(null, Buffer.from(userProofText(claims), 'utf8'), signer.privateKey).toString('base64');
}

/** An Ed25519 public key object from its raw base64 (tests verify with it). */
export function userPublicKey(publicKey: string): KeyObject {
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKey, 'base64')]),
    format: 'der',
    type: 'spki',
  });
}
