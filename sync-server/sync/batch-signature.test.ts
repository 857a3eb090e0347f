import { describe, expect, it } from 'vitest';
import type { Role } from '../../shared/permissions.js';
import { batchSigningText } from '../../shared/sync/user-signing.js';
import { TEST_ADMIN_ID, testUlid, validChange } from '../../test/support/sync-server/test-support.js';
import type { DirectoryLookup } from '../storage/storage.js';
import { keyChangeRefusal, signatureRefusal } from './batch-signature.js';

const DENTIST = testUlid();
const KEY_A = 'A'.repeat(43) + '=';
const KEY_D = 'D'.repeat(43) + '=';
const directory = (keys: Record<string, string | null>): DirectoryLookup => ({
  users: Object.entries(keys).map(([userId, signingKey]) => ({
    userId,
    role: userId === TEST_ADMIN_ID ? 'Admin' : 'Dentist',
    roleHlc: 'a',
    allBranches: true,
    branchIds: null,
    signingKey,
    updatedAt: 0,
  })),
  size: Object.keys(keys).length,
});
const roles = new Map<string, Role>([
  [TEST_ADMIN_ID, 'Admin'],
  [DENTIST, 'Dentist'],
]);
/** A verifier that accepts exactly `signature` over the batch text by `key`: the rules, not Ed25519, are under test. */
const accepts = (key: string, signature: string) => (k: string, _batch: unknown, s: string) =>
  k === key && s === signature;

describe('the user-signature rules of a batch', () => {
  const txId = testUlid();
  const byDentist = [validChange('dev', txId, { userId: DENTIST })];

  it('requires a signature once an author has a key, and takes an unsigned batch only from users made before keys', () => {
    const keyed = directory({ [DENTIST]: KEY_D });
    expect(signatureRefusal(txId, byDentist, {}, keyed, roles, () => true)).toBe('signature: missing');
    expect(signatureRefusal(txId, byDentist, {}, directory({ [DENTIST]: null }), roles, () => false)).toBeNull();
  });

  it("verifies with the signer's directory key, and names who must sign", () => {
    const keyed = directory({ [DENTIST]: KEY_D, [TEST_ADMIN_ID]: KEY_A });
    expect(signatureRefusal(txId, byDentist, { signature: 'sig' }, keyed, roles, accepts(KEY_D, 'sig'))).toBeNull();
    expect(signatureRefusal(txId, byDentist, { signature: 'bad' }, keyed, roles, accepts(KEY_D, 'sig'))).toBe(
      'signature: does not verify',
    );
    const twoAuthors = [...byDentist, validChange('dev', txId, { userId: TEST_ADMIN_ID })];
    expect(signatureRefusal(txId, twoAuthors, { signature: 'sig' }, keyed, roles, () => true)).toBe(
      'signature: no signer named',
    );
    const noKey = directory({ [DENTIST]: null });
    expect(signatureRefusal(txId, byDentist, { signature: 'sig' }, noKey, roles, () => true)).toBe(
      'signature: the signer has no signing key',
    );
  });

  it("accepts another user's signature only from an Admin, and only on inserts (a clinic's first upload)", () => {
    const keyed = directory({ [DENTIST]: KEY_D, [TEST_ADMIN_ID]: KEY_A });
    const adminSigned = { signature: 'sig', signedBy: TEST_ADMIN_ID };
    const verify = accepts(KEY_A, 'sig');
    expect(signatureRefusal(txId, byDentist, adminSigned, keyed, roles, verify)).toBe(
      'signature: signed by another user',
    );
    const inserts = [validChange('dev', txId, { userId: DENTIST, op: 'insert', entity: 'patient_medical' })];
    expect(signatureRefusal(txId, inserts, adminSigned, keyed, roles, verify)).toBeNull();
    const dentistSigned = { signature: 'sig', signedBy: DENTIST };
    const byAdmin = [validChange('dev', txId, { userId: TEST_ADMIN_ID, op: 'insert' })];
    expect(signatureRefusal(txId, byAdmin, dentistSigned, keyed, roles, accepts(KEY_D, 'sig'))).toBe(
      'signature: signed by another user',
    );
  });

  it('covers every field of every change, whatever their order', () => {
    const [a, b] = [validChange('dev', txId), validChange('dev', txId)];
    expect(batchSigningText(txId, [a!, b!])).toBe(batchSigningText(txId, [b!, a!]));
    expect(batchSigningText(txId, [a!])).not.toBe(batchSigningText(txId, [{ ...a!, fields: { first_name: 'X' } }]));
    expect(batchSigningText(txId, [a!])).not.toBe(batchSigningText(txId, [{ ...a!, userId: DENTIST }]));
  });

  it('lets a user re-wrap their key, and only a user who manages users replace one', () => {
    const change = (publicKey: string) =>
      validChange('dev', txId, {
        userId: DENTIST,
        entity: 'user',
        rowId: DENTIST,
        fields: {
          signing_key: JSON.stringify({
            publicKey,
            v: 1,
            wrapped: {
              ciphertext: 'A'.repeat(64),
              iv: 'A'.repeat(16),
              kdf: 'scrypt',
              params: { N: 1024, p: 1, r: 1 },
              salt: 'A'.repeat(22) + '==',
              tag: 'A'.repeat(22) + '==',
            },
          }),
        },
      });
    expect(keyChangeRefusal(change(KEY_D), KEY_D, 'Dentist')).toBeNull();
    expect(keyChangeRefusal(change(KEY_A), KEY_D, 'Dentist')).toBe(
      'fields.signing_key: only an Admin issues a user a new key',
    );
    expect(keyChangeRefusal(change(KEY_A), KEY_D, 'Admin')).toBeNull();
    expect(keyChangeRefusal(change(KEY_A), null, 'Dentist')).toBeNull();
  });
});
