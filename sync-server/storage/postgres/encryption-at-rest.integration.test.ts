/**
 * Encryption at rest, on both storages, through the HTTP app as a device uses it: patient data a
 * device pushes (accepted or quarantined) is served back to the clinic's devices but appears
 * nowhere in what the storage keeps: not in the embedded storage's files, not in any column of
 * any PostgreSQL table, not in the database's pg_dump (issue #11, finding 3).
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  describeEachStorage,
  enrolledDevice,
  seedDirectoryUser,
  testUlid,
  validBatch,
  validChange,
} from '../../../test/support/sync-server/test-support.js';

describeEachStorage('encryption at rest', (setup, kind) => {
  it('keeps the patient data a device pushed out of every stored byte, and still serves it', async () => {
    const server = await setup();
    const { device, token, clinicId } = await enrolledDevice(server, 'Canary Dental', 'canary-device-1');
    await seedDirectoryUser(server, clinicId);
    const canary = `Canary${randomBytes(6).toString('hex')}`;

    // An accepted patient, then an update of its address: names, phone-free address, all patient data.
    const accepted = testUlid();
    const patientId = testUlid();
    const insert = validChange(device.deviceId, accepted, {
      op: 'insert',
      rowId: patientId,
      fields: { first_name: `${canary}First`, last_name: `${canary}Last`, address: `1 ${canary} Street` },
    });
    const update = validChange(device.deviceId, accepted, {
      rowId: patientId,
      fields: { address: `2 ${canary} Avenue` },
    });
    const pushed = await server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [{ txId: accepted, changes: [insert, update] }] },
    });
    expect(pushed.statusCode).toBe(200);
    expect(pushed.json().batches[0].status).toBe('accepted');

    // A quarantined batch (a user the directory does not know) carrying patient data too.
    const held = validBatch(device.deviceId, 1, { userId: testUlid(), fields: { last_name: `${canary}Held` } });
    const quarantined = await server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [held] },
    });
    expect(quarantined.json().batches[0].status).toBe('quarantined');

    // The clinic's devices still get the data back.
    const pulled = await server.call('GET', '/v1/changes?after=0', { token });
    expect(pulled.statusCode).toBe(200);
    expect(pulled.body).toContain(`${canary}First`);
    expect(pulled.body).toContain(`2 ${canary} Avenue`);
    const listed = await server.call('GET', '/v1/changes/quarantine', { token });
    expect(listed.statusCode).toBe(200);
    expect(listed.body).toContain(held.txId);

    const stored = await server.rawStoredText();
    expect(stored.length).toBeGreaterThan(10_000);
    // The scan reaches this clinic's rows: ids are stored in clear on PostgreSQL (on SQLite they
    // are inside the encrypted files too, so only the size says the files were read).
    if (kind === 'PostgreSQL') expect(stored).toContain(held.txId);
    // The lines holding it, so a failure names the column or dump line that leaked.
    const leaks = (needle: string) => stored.split('\n').filter((line) => line.toLowerCase().includes(needle));
    expect(leaks(canary.toLowerCase())).toEqual([]);
    expect(leaks(Buffer.from(canary).toString('hex'))).toEqual([]);
  });
});
