import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MINIMUM_USER_KEY_SCRYPT, UserKeys, signBatch } from '../../main/core/auth/user-keys.js';
import { batchSigningText } from '../../shared/sync/user-signing.js';
import { testUlid, validChange } from '../support/sync-server/test-support.js';
import type { DirectoryLookup } from '../../sync-server/storage/storage.js';
import { preverifyBatches } from '../../sync-server/sync/preverify.js';
import { SignatureVerifierPool } from '../../sync-server/sync/signature-pool.js';

const pool = new SignatureVerifierPool(2);
afterAll(() => pool.close());
const keys = new UserKeys({ bytes: (length) => randomBytes(length) }, MINIMUM_USER_KEY_SCRYPT);

describe('signature verification off the event loop', () => {
  it('gives the same verdicts as inline verification, for valid, altered and foreign signatures', async () => {
    const { signer } = await keys.issue('pool password');
    const { signer: other } = await keys.issue('other password');
    const userId = testUlid();
    const batches = Array.from({ length: 9 }, () => {
      const txId = testUlid();
      return { txId, changes: [validChange('dev', txId, { userId })] };
    });
    const signed = batches.map((batch, i) => ({
      ...batch,
      signature: signBatch(i % 3 === 2 ? other : signer, batch.txId, batch.changes as never),
    }));
    // The pool's own verdicts: a signature by the other key fails.
    const verdicts = await pool.verifyMany(
      signed.map((batch) => ({
        publicKey: signer.publicKey,
        text: batchSigningText(batch.txId, batch.changes),
        signature: batch.signature,
      })),
    );
    expect(verdicts).toEqual(signed.map((_, i) => i % 3 !== 2));

    // The verifier preverify hands validate-batch answers the same, cached or not.
    const directory: DirectoryLookup = {
      users: [
        {
          userId,
          role: 'Dentist',
          roleHlc: 'a',
          allBranches: true,
          branchIds: null,
          signingKey: signer.publicKey,
          updatedAt: 0,
        },
      ],
      size: 1,
    };
    const verify = await preverifyBatches(pool, signed, async () => directory);
    for (const [i, batch] of signed.entries()) {
      expect(verify(signer.publicKey, batch, batch.signature)).toBe(i % 3 !== 2);
      // Other changes under the same signature are not answered from the cache: verified inline.
      const altered = [{ ...batch.changes[0]!, fields: { first_name: 'Someone else' } }];
      expect(verify(signer.publicKey, { txId: batch.txId, changes: altered }, batch.signature)).toBe(false);
      // The same changes copied (not the parsed array) are verified inline, with the same verdict.
      expect(verify(signer.publicKey, { txId: batch.txId, changes: [...batch.changes] }, batch.signature)).toBe(
        i % 3 !== 2,
      );
    }
  });
});
