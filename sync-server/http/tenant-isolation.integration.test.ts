/**
 * The tenant isolation attack suite over HTTP: a device of clinic A holds a valid token and
 * tries every endpoint against clinic B. Every attempt is refused, and no byte of B's seeded,
 * distinctive data appears in any response body or in any log line the server wrote.
 */
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { deriveServerKeys } from '../auth/server-keys.js';
import { issueToken } from '../auth/tokens.js';
import { makeBatch } from '../../test/support/sync-server/conformance-fixtures.js';
import {
  TestDevice,
  describeEachStorage,
  enrolledDevice,
  seedClinic,
  seedDirectoryUser,
  testUlid,
  validBatch,
} from '../../test/support/sync-server/test-support.js';

describeEachStorage('tenant isolation over HTTP', (setup) => {
  it('refuses every attempt of a clinic A device on clinic B and leaks none of B', async () => {
    const server = await setup();

    // Clinic B, with distinctive values in every kind of record.
    const bravo = {
      clinicName: 'Bravo Dental Qx7Zt',
      deviceName: 'Bravo Laptop Wv9Kp',
      deviceId: 'bravo-device-Hq3Lm',
      patientName: 'Bravinia Yzq8Rk',
      auditMark: 'bravo-audit-Jt5Nx',
    };
    const b = await seedClinic(server, bravo.clinicName);
    const bDevice = new TestDevice(server, bravo.deviceId);
    expect((await bDevice.enroll(b.code, bravo.deviceName)).statusCode).toBe(200);
    const bToken = await bDevice.token();
    await seedDirectoryUser(server, b.clinicId);
    // An Admin only clinic B's directory knows: A's device may not make codes in that name.
    const bravoAdminId = 'bravo-admin-Rk4Tq';
    await seedDirectoryUser(server, b.clinicId, bravoAdminId);
    const bBatch = validBatch(bravo.deviceId, 3, { fields: { first_name: bravo.patientName } });
    const bPush = await server.call('POST', '/v1/changes', {
      token: bToken,
      body: { protocolVersion: 1, batches: [{ txId: bBatch.txId, changes: bBatch.changes }] },
    });
    expect(bPush.statusCode).toBe(200);
    // And a quarantined batch (an unknown user), which B's device may list and A's may not.
    const bQuarantined = validBatch(bravo.deviceId, 1, { userId: testUlid() });
    const bHeld = await server.call('POST', '/v1/changes', {
      token: bToken,
      body: { protocolVersion: 1, batches: [bQuarantined] },
    });
    expect(bHeld.json().batches[0].status).toBe('quarantined');
    const bEntries = bDevice.chain.next(5, { mark: bravo.auditMark });
    expect(
      (await server.call('POST', '/v1/audit', { token: bToken, body: bDevice.auditPush(bEntries) })).statusCode,
    ).toBe(200);

    // Clinic A: one valid device, one that will be revoked.
    const { device: a, token, clinicId: aClinicId } = await enrolledDevice(server, 'Alpha Dental', 'alpha-device-1');
    await seedDirectoryUser(server, aClinicId);
    const aBatch = validBatch(a.deviceId, 1);
    const aChanges = aBatch.changes;
    await server.call('POST', '/v1/changes', { token, body: { protocolVersion: 1, batches: [aBatch] } });
    await server.call('POST', '/v1/audit', { token, body: a.auditPush(a.chain.next(1)) });
    const revoked = new TestDevice(server, 'alpha-device-2');
    const aStore = await server.storage.clinic(aClinicId);
    const { code: aCode } = await aStore.createEnrollmentCode({ ttlMs: 60_000, createdBy: 'admin-1' });
    await revoked.enroll(aCode);
    const revokedToken = await revoked.token();
    await aStore.revokeDevice({ deviceId: revoked.deviceId, reason: 'lost' });

    const markers = [
      ...Object.values(bravo),
      b.clinicId,
      bBatch.txId,
      bQuarantined.txId,
      ...bEntries.map((entry) => entry.hash),
      bravoAdminId,
    ];
    const responses: Array<[string, LightMyRequestResponse]> = [];
    const attempt = async (name: string, response: Promise<LightMyRequestResponse>) => {
      responses.push([name, await response]);
    };
    const forgedHeader = { 'x-clinic-id': b.clinicId };
    const pushOf = (changes: unknown, extra: Record<string, unknown> = {}) => ({
      protocolVersion: 1,
      batches: [{ txId: 'alpha-tx-2', changes }],
      ...extra,
    });

    // The clinic named in headers, query and body.
    for (const url of [
      '/v1/changes?after=0',
      '/v1/changes/quarantine?after=0',
      '/v1/audit/checkpoint',
      '/v1/audit/proof/inclusion?index=0&size=1',
      '/v1/audit/proof/consistency?from=1&to=1',
    ]) {
      await attempt(`header ${url}`, server.call('GET', url, { token, headers: forgedHeader }));
      await attempt(
        `query ${url}`,
        server.call('GET', `${url}&clinicId=${b.clinicId}`.replace('checkpoint&', 'checkpoint?'), { token }),
      );
      await attempt(
        `chairside header ${url}`,
        server.call('GET', url, { token, headers: { 'chairside-clinic': b.clinicId } }),
      );
    }
    await attempt(
      'push header',
      server.call('POST', '/v1/changes', { token, headers: forgedHeader, body: pushOf(aChanges) }),
    );
    await attempt(
      'push body clinic',
      server.call('POST', '/v1/changes', { token, body: pushOf(aChanges, { clinicId: b.clinicId }) }),
    );
    await attempt(
      'push batch clinic',
      server.call('POST', '/v1/changes', {
        token,
        body: { protocolVersion: 1, batches: [{ txId: 'alpha-tx-2', changes: aChanges, clinicId: b.clinicId }] },
      }),
    );
    // B's ids in the body: B's device's changes, B's audit chain.
    await attempt('push as B device', server.call('POST', '/v1/changes', { token, body: pushOf(bBatch.changes) }));
    await attempt('audit as B device', server.call('POST', '/v1/audit', { token, body: bDevice.auditPush(bEntries) }));
    await attempt(
      'audit body clinic',
      server.call('POST', '/v1/audit', { token, body: { ...a.auditPush(a.chain.next(1)), clinicId: b.clinicId } }),
    );
    // The live change stream and enrollment codes, with B named in headers, query and body.
    await attempt('live header', server.call('GET', '/v1/changes/live', { token, headers: forgedHeader }));
    await attempt('live query', server.call('GET', `/v1/changes/live?clinicId=${b.clinicId}`, { token }));
    for (const [name, body, headers] of [
      ['code header', { userId: bravoAdminId }, forgedHeader],
      ['code body clinic', { userId: bravoAdminId, clinicId: b.clinicId }, {}],
      ['code as B admin', { userId: bravoAdminId }, {}],
    ] as const) {
      await attempt(name, server.call('POST', '/v1/devices/enrollment-codes', { token, headers, body }));
    }
    // Proofs past A's log (B's log is larger).
    await attempt('inclusion past A', server.call('GET', '/v1/audit/proof/inclusion?index=4&size=5', { token }));
    await attempt('consistency past A', server.call('GET', '/v1/audit/proof/consistency?from=1&to=5', { token }));

    // Tokens for B: A's key answering a challenge for B's device, or for A's device id in B.
    await attempt(
      'token for B device',
      a.requestToken(await a.challenge(b.clinicId, bravo.deviceId), b.clinicId, bravo.deviceId),
    );
    await attempt(
      'token for A device in B',
      a.requestToken(await a.challenge(b.clinicId, a.deviceId), b.clinicId, a.deviceId),
    );
    await attempt('A challenge, B clinic', a.requestToken(await a.challenge(), b.clinicId, a.deviceId));
    const used = await a.challenge();
    await a.requestToken(used);
    await attempt('replayed answer', a.requestToken(used));
    // Tampered token: the payload rewritten to name B, the MAC kept.
    const [prefix, payload, mac] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tampered = `${prefix}.${Buffer.from(JSON.stringify({ ...claims, clinicId: b.clinicId, deviceId: bravo.deviceId })).toString('base64url')}.${mac}`;
    // A token for B minted under another server key, and one with this key's id but another key.
    const otherKeys = deriveServerKeys(randomBytes(32));
    const foreign = issueToken(otherKeys, b.clinicId, bravo.deviceId, server.clock.now()).token;
    const sameKid = issueToken(
      { ...otherKeys, keyId: server.keys.keyId },
      b.clinicId,
      bravo.deviceId,
      server.clock.now(),
    ).token;
    for (const [name, bad] of [
      ['tampered', tampered],
      ['other server key', foreign],
      ['other key, same id', sameKid],
      ['revoked device', revokedToken],
      ['no token', undefined],
    ] as const) {
      await attempt(`${name} pull`, server.call('GET', '/v1/changes?after=0', { ...(bad ? { token: bad } : {}) }));
      await attempt(`${name} live`, server.call('GET', '/v1/changes/live', { ...(bad ? { token: bad } : {}) }));
      await attempt(
        `${name} checkpoint`,
        server.call('GET', '/v1/audit/checkpoint', { ...(bad ? { token: bad } : {}) }),
      );
      await attempt(
        `${name} push`,
        server.call('POST', '/v1/changes', {
          ...(bad ? { token: bad } : {}),
          body: pushOf(makeBatch(bravo.deviceId, 'x-tx', 1).changes),
        }),
      );
    }
    // An expired token, last: it moves the clock.
    server.clock.advance(11 * 60_000);
    await attempt('expired pull', server.call('GET', '/v1/changes?after=0', { token }));
    await attempt('expired proof', server.call('GET', '/v1/audit/proof/inclusion?index=0&size=1', { token }));

    for (const [name, response] of responses) {
      expect(response.statusCode, name).toBeGreaterThanOrEqual(400);
      expect(response.json(), name).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
      for (const marker of markers) expect(response.body, `${name} leaks ${marker}`).not.toContain(marker);
    }
    expect(responses.length).toBeGreaterThan(40);

    // Positive control: A's own reads work and hold nothing of B.
    const fresh = await a.token();
    const own = [
      await server.call('GET', '/v1/changes?after=0', { token: fresh }),
      await server.call('GET', '/v1/audit/checkpoint', { token: fresh }),
      await server.call('GET', '/v1/changes/quarantine', { token: fresh }),
      await server.call('GET', '/v1/audit/proof/inclusion?index=0&size=1', { token: fresh }),
    ];
    for (const response of own) {
      expect(response.statusCode).toBe(200);
      for (const marker of markers) expect(response.body).not.toContain(marker);
    }
    expect(own[0]!.json().changes).toHaveLength(1);
    expect(own[2]!.json().changes).toEqual([]);

    // B is unchanged and no log line carries B's data.
    const bStore = await server.storage.clinic(b.clinicId);
    expect((await bStore.pullChanges({ after: 0, limit: 100 })).changes).toHaveLength(3);
    expect(
      (await bStore.listQuarantinedChanges({ deviceId: bravo.deviceId, after: 0, limit: 10 })).changes,
    ).toHaveLength(1);
    expect(await bStore.auditLogSize()).toBe(5);
    const logText = server.logs.join('');
    expect(server.logs.length).toBeGreaterThan(40);
    for (const marker of [
      ...Object.values(bravo).filter((value) => value !== bravo.deviceId),
      bBatch.txId,
      bQuarantined.txId,
    ]) {
      expect(logText).not.toContain(marker);
    }
    // B's own requests logged B's ids; no line about an attack names B's clinic.
    const attackLines = server.logs.filter((line) => !line.includes(`"clinicId":"${b.clinicId}"`));
    for (const line of attackLines) expect(line).not.toContain(b.clinicId);
  });
});
