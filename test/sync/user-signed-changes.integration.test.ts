/**
 * Issue #11, finding 1: the server believed the user id a device put on a change. A device enrolled
 * with an operator's code, with nobody signed in, pushed as the Dentist (a medical-history update,
 * a new password hash) and as the Admin (a new Admin user under the Admin's id), and all of it was
 * accepted. Now every batch of a user who has a signing key must carry that user's signature,
 * made with a key whose private half exists only wrapped under the user's password, and only an
 * Admin issues a user a new key. Raw clients against both storages.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  MINIMUM_USER_KEY_SCRYPT,
  UserKeys,
  type UserSigner,
  signBatch,
  signUserProof,
} from '../../main/core/auth/user-keys.js';
import { enrollmentCodeProofClaims } from '../../shared/sync/wire/devices.js';
import type { ChangeRecord } from '../../shared/sync/change.js';
import type { ChangeInput } from '../../sync-server/storage/storage.js';
import {
  TEST_ADMIN_ID,
  TestDevice,
  type TestServer,
  describeEachStorage,
  seedClinic,
  testUlid,
  validChange,
} from '../support/sync-server/test-support.js';

const keys = new UserKeys({ bytes: (length) => randomBytes(length) }, MINIMUM_USER_KEY_SCRYPT);
const DENTIST = testUlid();

interface PushedBatch {
  txId: string;
  changes: ChangeInput[];
  signature?: string;
  signedBy?: string;
}

/** A batch signed by `signer` as `signedBy` (the device's sealTransaction does the same). */
function signed(batch: { txId: string; changes: ChangeInput[] }, signer: UserSigner, signedBy: string): PushedBatch {
  return { ...batch, signature: signBatch(signer, batch.txId, batch.changes as ChangeRecord[]), signedBy };
}

function userInsert(deviceId: string, author: string, userId: string, role: string, signingKey: string) {
  const txId = testUlid();
  return {
    txId,
    changes: [
      validChange(deviceId, txId, {
        userId: author,
        entity: 'user',
        op: 'insert',
        rowId: userId,
        fields: { username: `user-${role.toLowerCase()}`, role, all_branches: 1, signing_key: signingKey },
      }),
    ],
  };
}

async function push(server: TestServer, token: string, batches: PushedBatch[]) {
  const response = await server.call('POST', '/v1/changes', { token, body: { protocolVersion: 1, batches } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as {
    batches: Array<{ status: string; changes: Array<{ reason?: string; detail?: string }> }>;
  };
}

/** The refusal of a batch's first change, or its status when accepted. */
const outcome = (answer: Awaited<ReturnType<typeof push>>, index = 0) => {
  const batch = answer.batches[index]!;
  return batch.status === 'quarantined' ? `${batch.changes[0]!.reason}: ${batch.changes[0]!.detail}` : batch.status;
};

/**
 * A clinic whose founding Admin and Dentist have signing keys (issued as the app issues them),
 * its genuine device, and an attacker's device enrolled with another operator code.
 */
async function signedClinic(server: TestServer) {
  const { clinicId, code } = await seedClinic(server, 'Smile Dental');
  const genuine = new TestDevice(server, 'dev-genuine');
  expect((await genuine.enroll(code)).statusCode).toBe(200);
  const token = await genuine.token();
  const admin = await keys.issue('admin password 1');
  const dentist = await keys.issue('dentist password 1');
  const founding = userInsert(genuine.deviceId, TEST_ADMIN_ID, TEST_ADMIN_ID, 'Admin', admin.field);
  const staff = userInsert(genuine.deviceId, TEST_ADMIN_ID, DENTIST, 'Dentist', dentist.field);
  const answer = await push(server, token, [
    signed(founding, admin.signer, TEST_ADMIN_ID),
    signed(staff, admin.signer, TEST_ADMIN_ID),
  ]);
  expect(answer.batches.map((batch) => batch.status)).toEqual(['accepted', 'accepted']);

  const store = await server.storage.clinic(clinicId);
  const second = await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: null });
  const attacker = new TestDevice(server, 'dev-attacker');
  expect((await attacker.enroll(second.code)).statusCode).toBe(200);
  return { clinicId, genuine, token, admin, dentist, attacker, attackerToken: await attacker.token() };
}

const medicalUpdate = (deviceId: string, userId: string) => {
  const txId = testUlid();
  return {
    txId,
    changes: [
      validChange(deviceId, txId, {
        userId,
        entity: 'patient_medical',
        fields: { allergies: '[{"substance":"Injected","severity":"severe"}]' },
      }),
    ],
  };
};

describeEachStorage('user-signed changes', (setup) => {
  it("refuses a device acting as a user whose password it was not given, and accepts the user's own signed work", async () => {
    const server = await setup();
    const clinic = await signedClinic(server);
    const evil = await keys.issue('attacker password');
    const { attacker, attackerToken } = clinic;

    // The medical-history update as the Dentist: unsigned, then signed with the attacker's own key.
    const unsigned = await push(server, attackerToken, [medicalUpdate(attacker.deviceId, DENTIST)]);
    expect(outcome(unsigned)).toBe('forbidden: signature: missing');
    const forged = signed(medicalUpdate(attacker.deviceId, DENTIST), evil.signer, DENTIST);
    expect(outcome(await push(server, attackerToken, [forged]))).toBe('forbidden: signature: does not verify');

    // A new password hash for the Dentist, as the Dentist; with a key of the attacker's, too.
    const takeover = (fields: Record<string, string>) => {
      const txId = testUlid();
      return {
        txId,
        changes: [validChange(attacker.deviceId, txId, { userId: DENTIST, entity: 'user', rowId: DENTIST, fields })],
      };
    };
    // (A re-push of a quarantined change id gets its first answer again: each attempt is a new batch.)
    const hashOnly = () => takeover({ password_hash: `$2a$12$${'b'.repeat(53)}` });
    expect(outcome(await push(server, attackerToken, [hashOnly()]))).toBe('forbidden: signature: missing');
    expect(outcome(await push(server, attackerToken, [signed(hashOnly(), evil.signer, DENTIST)]))).toBe(
      'forbidden: signature: does not verify',
    );
    const withKey = signed(
      takeover({ password_hash: `$2a$12$${'b'.repeat(53)}`, signing_key: evil.field }),
      evil.signer,
      DENTIST,
    );
    expect(outcome(await push(server, attackerToken, [withKey]))).toBe(
      'forbidden: fields.signing_key: only an Admin issues a user a new key',
    );

    // A new Admin under the Admin's id.
    const usurper = () => userInsert(attacker.deviceId, TEST_ADMIN_ID, TEST_ADMIN_ID, 'Admin', evil.field);
    expect(outcome(await push(server, attackerToken, [usurper()]))).toBe('forbidden: signature: missing');
    expect(outcome(await push(server, attackerToken, [signed(usurper(), evil.signer, TEST_ADMIN_ID)]))).toBe(
      'forbidden: signature: does not verify',
    );

    // A batch signed by one user and claiming another as author is refused, unless an Admin uploads inserts.
    const claimed = signed(medicalUpdate(attacker.deviceId, DENTIST), clinic.admin.signer, TEST_ADMIN_ID);
    expect(outcome(await push(server, attackerToken, [claimed]))).toBe('forbidden: signature: signed by another user');

    // The Dentist's own signed work is accepted, from any device of the clinic.
    const genuine = signed(medicalUpdate(clinic.genuine.deviceId, DENTIST), clinic.dentist.signer, DENTIST);
    expect(outcome(await push(server, clinic.token, [genuine]))).toBe('accepted');

    // A signature over other content does not verify (a change altered after signing).
    const altered = signed(medicalUpdate(clinic.genuine.deviceId, DENTIST), clinic.dentist.signer, DENTIST);
    altered.changes[0] = { ...altered.changes[0]!, fields: { allergies: '[]' } };
    expect(outcome(await push(server, clinic.token, [altered]))).toBe('forbidden: signature: does not verify');

    // Nothing the attacker pushed reached the change log.
    const store = await server.storage.clinic(clinic.clinicId);
    const log = (await store.pullChanges({ after: 0, limit: 100 })).changes;
    expect(log.filter((change) => change.deviceId === attacker.deviceId)).toEqual([]);
    expect(log).toHaveLength(3);
  });

  it('lets a user re-wrap their own key (a password change) but not replace it; an Admin replaces it (a reset)', async () => {
    const server = await setup();
    const clinic = await signedClinic(server);
    const deviceId = clinic.genuine.deviceId;
    const userUpdate = (author: string, signingKey: string) => {
      const txId = testUlid();
      return {
        txId,
        changes: [
          validChange(deviceId, txId, {
            userId: author,
            entity: 'user',
            rowId: DENTIST,
            fields: { password_hash: `$2a$12$${'c'.repeat(53)}`, signing_key: signingKey },
          }),
        ],
      };
    };
    // A password change: the same key pair, wrapped under the new password, signed by the Dentist.
    const rewrapped = await keys.wrap(clinic.dentist.signer.privateKey, 'dentist password 2');
    const change = signed(userUpdate(DENTIST, rewrapped.field), clinic.dentist.signer, DENTIST);
    expect(outcome(await push(server, clinic.token, [change]))).toBe('accepted');

    // A new key the Dentist made for themselves: refused even with their valid signature.
    const own = await keys.issue('dentist password 3');
    const replaced = signed(userUpdate(DENTIST, own.field), clinic.dentist.signer, DENTIST);
    expect(outcome(await push(server, clinic.token, [replaced]))).toBe(
      'forbidden: fields.signing_key: only an Admin issues a user a new key',
    );

    // An Admin's reset issues a new key; from then on the old one no longer signs for the Dentist.
    const reset = await keys.issue('dentist password 4');
    const byAdmin = signed(userUpdate(TEST_ADMIN_ID, reset.field), clinic.admin.signer, TEST_ADMIN_ID);
    expect(outcome(await push(server, clinic.token, [byAdmin]))).toBe('accepted');
    const stale = signed(medicalUpdate(deviceId, DENTIST), clinic.dentist.signer, DENTIST);
    expect(outcome(await push(server, clinic.token, [stale]))).toBe('forbidden: signature: does not verify');
    const fresh = signed(medicalUpdate(deviceId, DENTIST), reset.signer, DENTIST);
    expect(outcome(await push(server, clinic.token, [fresh]))).toBe('accepted');
  });

  it("makes an enrollment code for an Admin only with the Admin's proof, fresh and for this request", async () => {
    const server = await setup();
    const clinic = await signedClinic(server);
    const ask = (token: string, body: Record<string, unknown>) =>
      server.call('POST', '/v1/devices/enrollment-codes', { token, body: { userId: TEST_ADMIN_ID, ...body } });
    const proof = (signer: UserSigner, deviceId: string, issuedAt: number, ttlMs?: number) => ({
      issuedAt,
      signature: signUserProof(
        signer,
        enrollmentCodeProofClaims(clinic.clinicId, deviceId, TEST_ADMIN_ID, issuedAt, ttlMs),
      ),
    });
    const now = server.clock.now();
    const { attacker, attackerToken } = clinic;
    // The attacker's device names the Admin: without a proof, with its own key, with a stale one.
    expect((await ask(attackerToken, {})).statusCode).toBe(403);
    const evil = await keys.issue('attacker password');
    expect((await ask(attackerToken, { proof: proof(evil.signer, attacker.deviceId, now) })).statusCode).toBe(403);
    // A proof the Admin made for another device or another request does not carry over.
    const forGenuine = proof(clinic.admin.signer, clinic.genuine.deviceId, now);
    expect((await ask(attackerToken, { proof: forGenuine })).statusCode).toBe(403);
    expect((await ask(clinic.token, { proof: forGenuine, ttlMs: 60_000 })).statusCode).toBe(403);
    const stale = proof(clinic.admin.signer, clinic.genuine.deviceId, now - 6 * 60_000);
    expect((await ask(clinic.token, { proof: stale })).statusCode).toBe(403);
    // The Admin's own fresh proof from the genuine device gets a code.
    const answer = await ask(clinic.token, { proof: forGenuine });
    expect(answer.statusCode, answer.body).toBe(200);
    const store = await server.storage.clinic(clinic.clinicId);
    const events = await store.listSecurityEvents({ after: 0, limit: 20 });
    expect(
      events.events.filter((event) => event.kind === 'device.enrollment_code_refused').map((e) => e.details.reason),
    ).toEqual(['proof-missing', 'proof-invalid', 'proof-invalid', 'proof-invalid', 'proof-expired']);
  });
});
