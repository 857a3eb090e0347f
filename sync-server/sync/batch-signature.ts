/**
 * The user-signature check of a pushed batch (docs/sync-protocol.md, "User-signed changes"): a
 * device acts for a user only with that user's signature, made with a key whose private half
 * exists only wrapped under the user's password. Pure apart from Ed25519 verification, which the
 * caller injects (node:crypto's, with parsed public keys cached).
 */
import { type KeyObject, verify } from 'node:crypto';
import { ed25519PublicKeyFromRaw } from '../auth/server-keys.js';
import { type Role, roleHasPermission } from '../../shared/permissions.js';
import { parseJsonText } from '../../shared/sync/entities/declaration.js';
import { userSigningKeySchema } from '../../shared/sync/entities/user-signing-key.js';
import { batchSigningText } from '../../shared/sync/user-signing.js';
import type { ChangeInput, DirectoryLookup } from '../storage/storage.js';

/** A batch's signature as the device sent it (shared/sync/wire/changes.ts). */
export interface BatchSignature {
  readonly signature?: string | undefined;
  readonly signedBy?: string | undefined;
}

/** A signed batch: what `batchSigningText` covers. */
export interface SignedContent {
  readonly txId: string;
  readonly changes: readonly ChangeInput[];
}

/**
 * Verifies an Ed25519 signature (base64) of a batch's signing text by a raw public key (base64);
 * never throws. Given the batch rather than its text, so a verifier that already checked this very
 * batch (preverify.ts) need not build the text again.
 */
export type SignatureVerifier = (publicKey: string, batch: SignedContent, signature: string) => boolean;

/** Verifies an Ed25519 signature (base64) of a UTF-8 text by a raw public key (base64); never throws. */
export type TextVerifier = (publicKey: string, text: string, signature: string) => boolean;

/** node:crypto's Ed25519 verification of a text, with the parsed public keys of recent signers kept. */
export function ed25519TextVerifier(cacheSize = 1000): TextVerifier {
  const keys = new Map<string, KeyObject>();
  return (publicKey, text, signature) => {
    try {
      let key = keys.get(publicKey);
      if (!key) {
        const raw = Buffer.from(publicKey, 'base64');
        if (raw.length !== 32) return false;
        key = ed25519PublicKeyFromRaw(raw);
        if (keys.size >= cacheSize) keys.delete(keys.keys().next().value!);
        keys.set(publicKey, key);
      }
      const bytes = Buffer.from(signature, 'base64');
      return bytes.length === 64 && verify(null, Buffer.from(text, 'utf8'), key, bytes);
    } catch {
      return false;
    }
  };
}

/** node:crypto's verification of a batch signature (a batch whose text cannot be built does not verify). */
export function ed25519Verifier(cacheSize = 1000): SignatureVerifier {
  const verifyText = ed25519TextVerifier(cacheSize);
  return (publicKey, batch, signature) => {
    let text: string;
    try {
      text = batchSigningText(batch.txId, batch.changes);
    } catch {
      return false;
    }
    return verifyText(publicKey, text, signature);
  };
}

/** The public key a user change sets on its row (its `signing_key` field), or undefined. */
export function signingKeySet(change: ChangeInput): string | undefined {
  if (change.entity !== 'user' || !Object.hasOwn(change.fields, 'signing_key')) return undefined;
  return parseJsonText(userSigningKeySchema, change.fields.signing_key)?.publicKey;
}

/**
 * Why a key a change sets is refused, or null: a user's first key may come from themselves (a
 * clinic's founding Admin, or a user made before signing keys at their next sign-in); replacing a
 * key (a password reset) takes a user whose role manages users. A password change re-wraps the
 * same key, which anyone allowed to write the row may do.
 */
export function keyChangeRefusal(
  change: ChangeInput,
  directoryKey: string | null,
  authorRole: Role | undefined,
): string | null {
  const publicKey = signingKeySet(change);
  if (publicKey === undefined || directoryKey === null || publicKey === directoryKey) return null;
  if (authorRole !== undefined && roleHasPermission(authorRole, 'users.manage')) return null;
  return 'fields.signing_key: only an Admin issues a user a new key';
}

/**
 * Why a batch's signature is refused (a detail naming the rule, never a value), or null.
 *
 * - A batch is signed by `signedBy`, or by its only author when unnamed.
 * - The signer's key is their directory key; a signer without one may be registering their first
 *   key in this very batch (an insert or update of their own row), which then verifies it.
 * - An unsigned batch is accepted only when none of its authors has a key: users made before
 *   signing keys, until they get one (docs/sync-protocol.md, "Existing clinics").
 * - A batch signed by someone other than its authors is accepted only from a user who manages
 *   users, and only of inserts: the rows an Admin uploads when connecting a clinic, kept under
 *   the users who wrote them.
 */
export function signatureRefusal(
  txId: string,
  changes: readonly ChangeInput[],
  signed: BatchSignature,
  directory: DirectoryLookup,
  roles: ReadonlyMap<string, Role>,
  verifySignature: SignatureVerifier,
): string | null {
  const keyOf = (userId: string) => directory.users.find((user) => user.userId === userId)?.signingKey ?? null;
  const authors = [...new Set(changes.map((change) => change.userId))];
  if (signed.signature === undefined) {
    return authors.some((author) => keyOf(author) !== null) ? 'signature: missing' : null;
  }
  const signer = signed.signedBy ?? (authors.length === 1 ? authors[0]! : undefined);
  if (signer === undefined) return 'signature: no signer named';
  const firstKey = changes.find(
    (change) => change.entity === 'user' && change.rowId === signer && change.userId === signer,
  );
  const key = keyOf(signer) ?? (firstKey ? signingKeySet(firstKey) : undefined) ?? null;
  if (key === null) return 'signature: the signer has no signing key';
  if (authors.some((author) => author !== signer)) {
    const role = roles.get(signer);
    const uploads = changes.every((change) => change.op === 'insert');
    if (role === undefined || !roleHasPermission(role, 'users.manage') || !uploads) {
      return 'signature: signed by another user';
    }
  }
  return verifySignature(key, { txId, changes }, signed.signature) ? null : 'signature: does not verify';
}
