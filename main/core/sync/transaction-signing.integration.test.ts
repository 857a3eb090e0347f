/**
 * User-signed changes on the device (docs/sync-protocol.md, "User-signed changes"): every user
 * gets a signing key wrapped under their password; sign-in opens it; each local transaction is
 * signed once by the user whose session made it; a password change re-wraps the same key, an
 * Admin's reset issues a new one; a user made before keys gets one at their next sign-in.
 */
import { verify } from 'node:crypto';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changeRecordSchema } from '../../../shared/sync/change.js';
import { batchSigningText } from '../../../shared/sync/user-signing.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
} from '../../../test/support/clinic-fixture.js';
import { openRawDatabase } from '../../../test/support/raw-database.js';
import { MINIMUM_USER_KEY_SCRYPT, UserKeys, parseSigningKey, userPublicKey } from '../auth/user-keys.js';
import type { OutboxRow } from './sync-engine.js';

let clinic: TestClinic;
let raw: Database.Database;
const keys = new UserKeys({ bytes: (length) => Buffer.alloc(length, 1) }, MINIMUM_USER_KEY_SCRYPT);

beforeEach(async () => {
  clinic = await createTestClinic();
  raw = await openRawDatabase(clinic.dataDir);
});
afterEach(async () => {
  raw.close();
  await clinic.close();
});

const signingKeyOf = (userId: string) =>
  (raw.prepare('SELECT signing_key FROM users WHERE id = ?').get(userId) as { signing_key: string | null }).signing_key;

/** Each signed transaction of the outbox: its signer, and whether the signature verifies with that user's key now. */
function signedTransactions(): Array<{ txId: string; signedBy: string; verifies: boolean; authors: string[] }> {
  const rows = raw
    .prepare('SELECT tx_id, user_id, signature FROM sync_outbox_signatures ORDER BY tx_id')
    .all() as Array<{
    tx_id: string;
    user_id: string;
    signature: string;
  }>;
  return rows.map((row) => {
    const changes = (raw.prepare('SELECT * FROM sync_outbox WHERE tx_id = ?').all(row.tx_id) as OutboxRow[]).map(
      (change) =>
        changeRecordSchema.parse({
          changeId: change.change_id,
          txId: change.tx_id,
          deviceId: change.device_id,
          userId: change.user_id,
          entity: change.entity,
          rowId: change.row_id,
          op: change.op,
          fields: JSON.parse(change.fields) as unknown,
          hlc: change.hlc,
          schemaVersion: change.schema_version,
        }),
    );
    const publicKey = parseSigningKey(signingKeyOf(row.user_id))!.publicKey;
    const verifies = verify(
      null,
      Buffer.from(batchSigningText(row.tx_id, changes), 'utf8'),
      userPublicKey(publicKey),
      Buffer.from(row.signature, 'base64'),
    );
    return { txId: row.tx_id, signedBy: row.user_id, verifies, authors: [...new Set(changes.map((c) => c.userId))] };
  });
}

describe('users’ signing keys and signed transactions', () => {
  it('gives every user a key only their password opens, and signs each transaction with its author’s key', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    const adminKey = signingKeyOf(clinic.adminUserId)!;
    const dentistKey = signingKeyOf(dentist.userId)!;
    expect(await keys.open(adminKey, ADMIN_PASSWORD)).not.toBeNull();
    expect(await keys.open(dentistKey, USER_PASSWORD)).not.toBeNull();
    expect(await keys.open(dentistKey, ADMIN_PASSWORD)).toBeNull();
    // The stored text holds no private key material in clear: only the public key and the wrap.
    expect(Object.keys(JSON.parse(dentistKey) as object).sort()).toEqual(['publicKey', 'v', 'wrapped']);

    const patient = await dentist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Asha',
      lastName: 'Rao',
    });
    await dentist.ok('patients.updateMedicalHistory', {
      patientId: patient.id,
      allergies: [{ substance: 'Latex', severity: 'mild' }],
      conditions: [],
      medications: [],
    });
    const signed = signedTransactions();
    expect(signed.length).toBeGreaterThanOrEqual(2);
    for (const transaction of signed) {
      expect(transaction).toMatchObject({ signedBy: dentist.userId, verifies: true, authors: [dentist.userId] });
    }
    // Every transaction that recorded changes is signed.
    const transactions = raw.prepare('SELECT count(DISTINCT tx_id) AS n FROM sync_outbox').get() as { n: number };
    expect(signed).toHaveLength(transactions.n);
  });

  it('re-wraps the same key on a password change, and issues a new one on an Admin’s reset', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    const before = parseSigningKey(signingKeyOf(dentist.userId))!;
    await dentist.ok('auth.changePassword', { currentPassword: USER_PASSWORD, newPassword: 'Fresh-Molar-Lantern-9' });
    const changed = signingKeyOf(dentist.userId)!;
    expect(parseSigningKey(changed)!.publicKey).toBe(before.publicKey);
    expect(await keys.open(changed, USER_PASSWORD)).toBeNull();
    expect(await keys.open(changed, 'Fresh-Molar-Lantern-9')).not.toBeNull();
    // The session goes on signing with the same key.
    await dentist.ok('patients.create', { branchId: clinic.branchId, firstName: 'Bina', lastName: 'Shah' });
    expect(signedTransactions().every((transaction) => transaction.verifies)).toBe(true);

    await clinic.asAdmin('users.resetPassword', { userId: dentist.userId, newPassword: 'Reset-Molar-Lantern-7' });
    const reset = signingKeyOf(dentist.userId)!;
    expect(parseSigningKey(reset)!.publicKey).not.toBe(before.publicKey);
    expect(await keys.open(reset, 'Reset-Molar-Lantern-7')).not.toBeNull();
    const again = new TestCaller(clinic.core);
    await again.ok('auth.signIn', { username: 'dentist1', password: 'Reset-Molar-Lantern-7' });
  });

  it('issues a key at sign-in to a user made before keys, and signs their work with it', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    raw.prepare('UPDATE users SET signing_key = NULL WHERE id = ?').run(dentist.userId);
    const later = new TestCaller(clinic.core);
    await later.ok('auth.signIn', { username: 'dentist1', password: USER_PASSWORD });
    const issued = signingKeyOf(dentist.userId);
    expect(issued).not.toBeNull();
    expect(await keys.open(issued!, USER_PASSWORD)).not.toBeNull();
    await later.ok('patients.create', { branchId: clinic.branchId, firstName: 'Chetan', lastName: 'Iyer' });
    const mine = signedTransactions().filter((transaction) => transaction.signedBy === dentist.userId);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((transaction) => transaction.verifies)).toBe(true);
  });

  it('ends a session whose key was replaced elsewhere (a reset pulled from another computer), not one re-wrapped', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    // A password change pulled from another computer: the same key, wrapped anew. The session goes on.
    const rewrapped = await keys.wrap((await keys.open(signingKeyOf(dentist.userId)!, USER_PASSWORD))!.privateKey, 'x');
    raw.prepare('UPDATE users SET signing_key = ? WHERE id = ?').run(rewrapped.field, dentist.userId);
    await dentist.ok('patients.search', { query: 'Rao' });
    // A reset pulled from another computer: a new key. The session ends before it signs anything.
    const issuer = new UserKeys({ bytes: (length) => Buffer.alloc(length, 7) }, MINIMUM_USER_KEY_SCRYPT);
    const replaced = await issuer.issue('Reset-Molar-Lantern-7');
    raw.prepare('UPDATE users SET signing_key = ? WHERE id = ?').run(replaced.field, dentist.userId);
    expect(
      await dentist.errorCode('patients.create', { branchId: clinic.branchId, firstName: 'Dev', lastName: 'Nair' }),
    ).toBe('SESSION_EXPIRED');
    expect(await dentist.errorCode('patients.search', { query: 'Rao' })).toBe('UNAUTHENTICATED');
  });
});
