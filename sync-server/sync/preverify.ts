/**
 * Verifies a push's batch signatures on the worker pool before its batches are decided
 * (signature-pool.ts), and returns the verifier validate-batch.ts uses: the pool's verdict for a
 * signature checked with the same key over the same batch (the same parsed changes array, which
 * nothing changes after parsing: parsed-changes.ts freezes each change), else node:crypto inline. The key each
 * batch is checked with is guessed as batch-signature.ts will choose it (the signer's directory
 * key, else the first key the batch registers for them); a directory that changed in between
 * (an earlier batch of the same push set a new key) just means an inline verification.
 */
import { batchSigningText } from '../../shared/sync/user-signing.js';
import type { ChangeInput, DirectoryLookup } from '../storage/storage.js';
import { type BatchSignature, type SignatureVerifier, ed25519Verifier, signingKeySet } from './batch-signature.js';
import type { SignatureItem, SignatureVerifierPool } from './signature-pool.js';

/** A pushed batch as the push route has it. */
interface SignedBatchInput extends BatchSignature {
  readonly txId: string;
  readonly changes: readonly ChangeInput[];
}

const inline = ed25519Verifier();

/** The signer of a batch as batch-signature.ts names it, or undefined. */
function signerOf(batch: SignedBatchInput): string | undefined {
  if (batch.signedBy !== undefined) return batch.signedBy;
  const authors = new Set(batch.changes.map((change) => change.userId));
  return authors.size === 1 ? [...authors][0] : undefined;
}

/** Verifies what it can of the batches on the pool; the verifier answers from those verdicts first. */
export async function preverifyBatches(
  pool: SignatureVerifierPool,
  batches: readonly SignedBatchInput[],
  directory: (userIds: readonly string[]) => Promise<DirectoryLookup>,
): Promise<SignatureVerifier> {
  const signed = batches.filter((batch) => batch.signature !== undefined);
  if (signed.length === 0) return inline;
  const signers = [...new Set(signed.map(signerOf).filter((signer) => signer !== undefined))];
  const known = await directory(signers);
  const items: SignatureItem[] = [];
  const checked: Array<{ publicKey: string; batch: SignedBatchInput }> = [];
  for (const batch of signed) {
    const signer = signerOf(batch);
    if (signer === undefined) continue;
    const own = batch.changes.find((change) => change.entity === 'user' && change.rowId === signer);
    const publicKey =
      known.users.find((user) => user.userId === signer)?.signingKey ?? (own ? signingKeySet(own) : undefined);
    if (publicKey === undefined || publicKey === null) continue;
    try {
      items.push({ publicKey, text: batchSigningText(batch.txId, batch.changes), signature: batch.signature! });
      checked.push({ publicKey, batch });
    } catch {
      // Not canonicalisable: batch-signature.ts refuses it without a verification.
    }
  }
  let verdicts: boolean[];
  try {
    verdicts = await pool.verifyMany(items);
  } catch {
    return inline; // A failed worker costs time, never a verdict.
  }
  const bySignature = new Map<string, { publicKey: string; batch: SignedBatchInput; ok: boolean }>();
  checked.forEach((entry, i) => bySignature.set(entry.batch.signature!, { ...entry, ok: verdicts[i] === true }));
  return (publicKey, batch, signature) => {
    const cached = bySignature.get(signature);
    const same =
      cached !== undefined &&
      cached.publicKey === publicKey &&
      cached.batch.txId === batch.txId &&
      cached.batch.changes === batch.changes;
    return same ? cached.ok : inline(publicKey, batch, signature);
  };
}
