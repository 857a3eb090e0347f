/**
 * Re-validation and quarantine over HTTP, against both storages: pushed changes are checked
 * with the shared change schema and the permission matrix for the user who made them; a
 * permanently invalid batch is acknowledged, quarantined with per-change reasons, kept out of the
 * change log, and never blocks the batches behind it; a clock ahead of the server's is held back.
 */
import { expect, it } from 'vitest';
import {
  TEST_ADMIN_ID,
  TestDevice,
  type TestServer,
  describeEachStorage,
  enrolledDevice,
  seedClinic,
  testUlid,
  validBatch,
  validChange,
} from '../../test/support/sync-server/test-support.js';
import type { ChangeInput } from '../storage/storage.js';

interface Batch {
  txId: string;
  changes: ChangeInput[];
}

const RECEPTIONIST = testUlid();

/** The founding Admin's own insert, then the Admin creating a Receptionist: fills the directory. */
function userBatches(deviceId: string): Batch[] {
  const user = (userId: string, rowId: string, role: string, txId: string) =>
    validChange(deviceId, txId, {
      userId,
      entity: 'user',
      op: 'insert',
      rowId,
      fields: {
        username: `user-${role.toLowerCase()}`,
        display_name: role,
        role,
        all_branches: 1,
        disabled: 0,
        password_hash: `$2a$12$${'a'.repeat(53)}`,
        password_changed_at: 1,
        created_at: 1,
      },
    });
  const founding = testUlid();
  const staff = testUlid();
  return [
    { txId: founding, changes: [user(TEST_ADMIN_ID, TEST_ADMIN_ID, 'Admin', founding)] },
    { txId: staff, changes: [user(TEST_ADMIN_ID, RECEPTIONIST, 'Receptionist', staff)] },
  ];
}

async function push(server: TestServer, token: string, batches: Batch[]) {
  const response = await server.call('POST', '/v1/changes', { token, body: { protocolVersion: 1, batches } });
  expect(response.statusCode, response.body).toBe(200);
  return response;
}

/** A clinic with a device whose directory knows the Admin and the Receptionist. */
async function clinicWithUsers(server: TestServer, name = 'Clinic', deviceId = 'dev-1') {
  const enrolled = await enrolledDevice(server, name, deviceId);
  const answer = (await push(server, enrolled.token, userBatches(deviceId))).json();
  expect(answer.batches.map((batch: { status: string }) => batch.status)).toEqual(['accepted', 'accepted']);
  return enrolled;
}

const statuses = (answer: { batches: Array<{ status: string }> }) => answer.batches.map((batch) => batch.status);

describeEachStorage('re-validation and quarantine', (setup) => {
  it('accepts valid changes and fills the user directory from accepted user changes', async () => {
    const server = await setup();
    const { device, token } = await clinicWithUsers(server);
    const answer = (await push(server, token, [validBatch(device.deviceId, 2, { userId: RECEPTIONIST })])).json();
    expect(answer.batches[0]).toMatchObject({ status: 'accepted', changes: [{ serverSeq: 3 }, { serverSeq: 4 }] });
    // An unknown user before the founding batch, even with a valid change, is refused.
    const { device: other, token: otherToken } = await enrolledDevice(server, 'Other', 'dev-x');
    const refused = (await push(server, otherToken, [validBatch(other.deviceId, 1)])).json();
    expect(refused.batches[0].changes[0].reason).toBe('unknown-user');
  });

  it("quarantines a Receptionist's medical change with its whole batch; the queue behind it goes on", async () => {
    const server = await setup();
    const { device, token, clinicId } = await clinicWithUsers(server);
    const txId = testUlid();
    const forbidden: Batch = {
      txId,
      changes: [
        validChange(device.deviceId, txId, { userId: RECEPTIONIST, fields: { phone: '+91 98765 43210' } }),
        validChange(device.deviceId, txId, {
          userId: RECEPTIONIST,
          entity: 'patient_medical',
          fields: { allergies: '[{"substance":"Penicillin","severity":"severe"}]' },
        }),
      ],
    };
    const behind = validBatch(device.deviceId, 1, { userId: RECEPTIONIST });
    const response = await push(server, token, [forbidden, behind]);
    const answer = response.json();
    expect(statuses(answer)).toEqual(['quarantined', 'accepted']);
    expect(answer.batches[0].changes).toEqual([
      { changeId: forbidden.changes[0]!.changeId, reason: 'with-batch', detail: '' },
      { changeId: forbidden.changes[1]!.changeId, reason: 'forbidden', detail: 'medical.write' },
    ]);
    expect(response.body).not.toContain('Penicillin');
    expect(server.logs.join('\n')).not.toContain('Penicillin');
    // Nothing of the quarantined batch is in the change log; the later batch is.
    const store = await server.storage.clinic(clinicId);
    const log = (await store.pullChanges({ after: 0, limit: 100 })).changes.map((change) => change.txId);
    expect(log).not.toContain(txId);
    expect(log).toContain(behind.txId);
    // A later push from the same device is accepted.
    const later = (await push(server, token, [validBatch(device.deviceId, 1, { userId: RECEPTIONIST })])).json();
    expect(statuses(later)).toEqual(['accepted']);
    const events = await store.listSecurityEvents({ after: 0, limit: 10 });
    expect(events.events.map((event) => [event.kind, event.details.reason])).toEqual([
      ['sync.change_quarantined', 'forbidden'],
    ]);
  });

  it('quarantines an unknown user, a field the schema does not know, and append-only violations', async () => {
    const server = await setup();
    const { device, token } = await clinicWithUsers(server);
    const unknown = validBatch(device.deviceId, 1, { userId: testUlid() });
    const badField = validBatch(device.deviceId, 1, { fields: { favourite_colour: 'Ochre Zq9' } });
    const badRole = validBatch(device.deviceId, 1, { entity: 'user', fields: { role: 'Superuser' } });
    const noteDelete = validBatch(device.deviceId, 1, { entity: 'clinical_note', op: 'delete', fields: {} });
    const paymentUpdate = validBatch(device.deviceId, 1, { entity: 'payment', fields: { amount: 100 } });
    const notUlid = validBatch(device.deviceId, 1);
    notUlid.changes[0]!.rowId = 'row-1';
    const response = await push(server, token, [unknown, badField, badRole, noteDelete, paymentUpdate, notUlid]);
    const answer = response.json();
    expect(statuses(answer)).toEqual(Array(6).fill('quarantined'));
    expect(
      answer.batches.map((batch: { changes: Array<{ reason: string; detail: string }> }) => batch.changes[0]),
    ).toEqual([
      { changeId: unknown.changes[0]!.changeId, reason: 'unknown-user', detail: 'user' },
      {
        changeId: badField.changes[0]!.changeId,
        reason: 'schema',
        detail: 'fields.favourite_colour: not a field of patient',
      },
      { changeId: badRole.changes[0]!.changeId, reason: 'schema', detail: 'fields.role: invalid_value' },
      {
        changeId: noteDelete.changes[0]!.changeId,
        reason: 'append-only',
        detail: 'delete of an append-only clinical_note',
      },
      {
        changeId: paymentUpdate.changes[0]!.changeId,
        reason: 'append-only',
        detail: 'update of an append-only payment',
      },
      { changeId: notUlid.changes[0]!.changeId, reason: 'schema', detail: expect.stringContaining('rowId') },
    ]);
    expect(response.body).not.toContain('Ochre Zq9');
  });

  it("quarantines values that break their entity's domain schemas, naming the field and the rule, never the value", async () => {
    const server = await setup();
    const { device, token, clinicId } = await clinicWithUsers(server);
    // Each passes the wire schema (names and scalar types), as a raw client could push them.
    const badDate = validBatch(device.deviceId, 1, { fields: { date_of_birth: '1990-02-31' } });
    const badAllergies = validBatch(device.deviceId, 1, {
      entity: 'patient_medical',
      fields: { allergies: '[{"substance":"Qx7 dust","severity":"deadly"}]' },
    });
    const notJson = validBatch(device.deviceId, 1, {
      entity: 'patient_medical',
      fields: { medications: 'Warfarin Qx7 5mg' },
    });
    const badEmail = validBatch(device.deviceId, 1, { fields: { email: 'asha-at-Qx7' } });
    const incomplete = validBatch(device.deviceId, 1, { entity: 'branch', op: 'insert', fields: { name: 'North' } });
    delete incomplete.changes[0]!.fields.created_at;
    const valid = validBatch(device.deviceId, 1, { fields: { date_of_birth: '1990-02-28' } });
    const response = await push(server, token, [badDate, badAllergies, notJson, badEmail, incomplete, valid]);
    const answer = response.json();
    expect(statuses(answer)).toEqual([...Array(5).fill('quarantined'), 'accepted']);
    expect(
      answer.batches
        .slice(0, 5)
        .map((batch: { changes: Array<{ reason: string; detail: string }> }) => batch.changes[0]),
    ).toEqual([
      { changeId: badDate.changes[0]!.changeId, reason: 'schema', detail: 'fields.date_of_birth: invalid_format' },
      {
        changeId: badAllergies.changes[0]!.changeId,
        reason: 'schema',
        detail: 'fields.allergies: not valid JSON of the expected shape',
      },
      {
        changeId: notJson.changes[0]!.changeId,
        reason: 'schema',
        detail: 'fields.medications: not valid JSON of the expected shape',
      },
      { changeId: badEmail.changes[0]!.changeId, reason: 'schema', detail: 'fields.email: invalid_format' },
      {
        changeId: incomplete.changes[0]!.changeId,
        reason: 'schema',
        detail: 'fields.created_at: required in an insert',
      },
    ]);
    expect(response.body).not.toContain('Qx7');
    expect(server.logs.join('\n')).not.toContain('Qx7');
    // None of them reaches the log, so no device ever receives them; the device reads why.
    const store = await server.storage.clinic(clinicId);
    const log = (await store.pullChanges({ after: 0, limit: 100 })).changes.map((change) => change.txId);
    for (const refused of [badDate, badAllergies, notJson, badEmail, incomplete])
      expect(log).not.toContain(refused.txId);
    expect(log).toContain(valid.txId);
    const listed = await server.call('GET', '/v1/changes/quarantine?after=0', { token });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.body).toContain('fields.date_of_birth: invalid_format');
  });

  it('holds back a change whose clock is too far ahead, storing nothing, and accepts it later', async () => {
    const server = await setup({ maxClockAheadMs: 60_000 });
    const { device, token, clinicId } = await clinicWithUsers(server);
    const ahead = validBatch(device.deviceId, 2);
    ahead.changes[1] = validChange(device.deviceId, ahead.txId, { wallMs: server.clock.now() + 90_000 });
    const answer = (await push(server, token, [ahead])).json();
    expect(answer.batches[0]).toEqual({
      txId: ahead.txId,
      status: 'retry',
      changes: [
        { changeId: ahead.changes[0]!.changeId, reason: 'with-batch', detail: '' },
        { changeId: ahead.changes[1]!.changeId, reason: 'clock-ahead', detail: 'more than 60000 ms ahead' },
      ],
    });
    const store = await server.storage.clinic(clinicId);
    expect(await store.findQuarantinedChanges(ahead.changes.map((change) => change.changeId))).toEqual([]);
    expect((await store.pullChanges({ after: 0, limit: 100 })).changes).toHaveLength(2);
    server.clock.advance(31_000);
    expect(statuses((await push(server, token, [ahead])).json())).toEqual(['accepted']);
  });

  it('answers a re-push of a quarantined batch the same way, even after the role changed', async () => {
    const server = await setup();
    const { device, token, clinicId } = await clinicWithUsers(server);
    const batch = validBatch(device.deviceId, 2, { userId: RECEPTIONIST, entity: 'branch', fields: { name: 'North' } });
    const first = await push(server, token, [batch]);
    expect(first.json().batches[0].changes[0].reason).toBe('forbidden');
    // The Admin makes the Receptionist an Admin; the stored answer stands.
    const promote = validBatch(device.deviceId, 1, {
      entity: 'user',
      rowId: RECEPTIONIST,
      fields: { role: 'Admin' },
      wallMs: server.clock.now() + 1000,
    });
    expect(statuses((await push(server, token, [promote])).json())).toEqual(['accepted']);
    const again = await push(server, token, [batch]);
    expect(again.body).toBe(first.body);
    // Another content under a quarantined id is a conflict, not a new answer.
    const changed = { ...batch, changes: [{ ...batch.changes[0]!, fields: { name: 'South' } }, batch.changes[1]!] };
    const conflict = await server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [changed] },
    });
    expect(conflict.statusCode).toBe(409);
    const store = await server.storage.clinic(clinicId);
    expect((await store.listSecurityEvents({ after: 0, limit: 10 })).events).toHaveLength(1);
  });

  it("lists only the calling device's quarantine, never another clinic's", async () => {
    const server = await setup();
    const { device, token, clinicId } = await clinicWithUsers(server, 'Alpha', 'alpha-1');
    const store = await server.storage.clinic(clinicId);
    const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
    const second = new TestDevice(server, 'alpha-2');
    expect((await second.enroll(code)).statusCode).toBe(200);
    const secondToken = await second.token();
    const bravo = await seedClinic(server, 'Bravo');
    const bDevice = new TestDevice(server, 'bravo-1');
    expect((await bDevice.enroll(bravo.code)).statusCode).toBe(200);
    const bToken = await bDevice.token();

    const mine = validBatch(device.deviceId, 1, { userId: testUlid() });
    await push(server, token, [mine]);
    await push(server, secondToken, [validBatch(second.deviceId, 2, { userId: testUlid() })]);
    const bBatch = validBatch(bDevice.deviceId, 1, { userId: testUlid() });
    await push(server, bToken, [bBatch]);

    const listed = await server.call('GET', '/v1/changes/quarantine', { token });
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toMatchObject({ hasMore: false, changes: [{ changeId: mine.changes[0]!.changeId }] });
    expect(listed.json().changes).toHaveLength(1);
    expect(listed.body).not.toContain(bBatch.txId);
    const secondList = (await server.call('GET', '/v1/changes/quarantine?limit=1', { token: secondToken })).json();
    expect(secondList.changes).toHaveLength(1);
    expect(secondList.hasMore).toBe(true);
    const bList = (await server.call('GET', '/v1/changes/quarantine', { token: bToken })).json();
    expect(bList.changes.map((change: { changeId: string }) => change.changeId)).toEqual([bBatch.changes[0]!.changeId]);
    // The clinic comes from the token only.
    const forged = await server.call('GET', `/v1/changes/quarantine?clinicId=${bravo.clinicId}`, { token });
    expect(forged.statusCode).toBe(400);
    expect(forged.body).not.toContain(bBatch.txId);
    const header = await server.call('GET', '/v1/changes/quarantine', {
      token,
      headers: { 'x-clinic': bravo.clinicId },
    });
    expect(header.statusCode).toBe(403);
  });

  it('quarantines a medical history inserted without its patient, and waits for a patient registered earlier in the same push', async () => {
    const server = await setup();
    const { device, token } = await clinicWithUsers(server);
    const dentist = testUlid();
    const dentistTx = testUlid();
    const dentistInsert = validChange(device.deviceId, dentistTx, {
      entity: 'user',
      op: 'insert',
      rowId: dentist,
      fields: {
        username: 'user-dentist',
        display_name: 'Dentist',
        role: 'Dentist',
        all_branches: 1,
        disabled: 0,
        password_hash: `$2a$12$${'a'.repeat(53)}`,
        password_changed_at: 1,
        created_at: 1,
      },
    });
    expect(statuses((await push(server, token, [{ txId: dentistTx, changes: [dentistInsert] }])).json())).toEqual([
      'accepted',
    ]);
    const patient = testUlid();
    const registerTx = testUlid();
    const register = validChange(device.deviceId, registerTx, {
      userId: dentist,
      op: 'insert',
      rowId: patient,
      fields: {
        patient_number: 'P000001',
        branch_id: testUlid(),
        first_name: 'Farah',
        last_name: 'Khan',
        date_of_birth: null,
        sex: 'female',
        phone: null,
        email: null,
        address: null,
        archived_at: null,
        archive_reason: null,
        merged_into: null,
        created_at: 1,
        created_by: dentist,
      },
    });
    const history = { allergies: '[]', conditions: '[]', medications: '[]' };
    // The patient's registration and its history are separate transactions of one push: the second
    // batch must see the first, which the server may still be appending (group commit).
    const medical = validBatch(device.deviceId, 1, {
      userId: dentist,
      entity: 'patient_medical',
      op: 'insert',
      rowId: patient,
      fields: history,
    });
    const orphan = validBatch(device.deviceId, 1, {
      userId: dentist,
      entity: 'patient_medical',
      op: 'insert',
      fields: history,
    });
    const answer = (await push(server, token, [{ txId: registerTx, changes: [register] }, medical, orphan])).json();
    expect(statuses(answer)).toEqual(['accepted', 'accepted', 'quarantined']);
    expect(answer.batches[2].changes).toEqual([
      {
        changeId: orphan.changes[0]!.changeId,
        reason: 'schema',
        detail: 'rowId: the patient is not registered in the change log',
      },
    ]);
  });
});
