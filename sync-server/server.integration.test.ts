import { verify } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeBase64 } from '../shared/merkle/base64.js';
import { verifyCheckpoint } from '../shared/merkle/checkpoint.js';
import { ed25519NoteVerifier } from '../shared/merkle/signed-note.js';
import { verifyConsistency, verifyInclusion } from '../shared/merkle/verify.js';
import { ed25519PublicKeyFromRaw } from './auth/server-keys.js';
import { forgedEntry, makeBatch } from '../test/support/sync-server/conformance-fixtures.js';
import { nodeSha256 } from './storage/node-crypto.js';
import { clinicLogOrigin } from './http/audit-log.js';
import { PROTOCOL_HEADER } from './http/protocol.js';
import {
  TestDevice,
  describeEachStorage,
  enrolledDevice,
  seedClinic,
  seedDirectoryUser,
  storageWithAppendHook,
  validBatch,
} from '../test/support/sync-server/test-support.js';

describeEachStorage('sync server', (setup) => {
  describe('HTTP basics', () => {
    it('answers health and readiness', async () => {
      const server = await setup();
      expect((await server.call('GET', '/health')).json()).toEqual({ status: 'ok' });
      expect((await server.call('GET', '/ready')).json()).toEqual({ status: 'ready' });
    });

    it('describes every route with JSON Schemas of its inputs', async () => {
      const server = await setup();
      const api = (await server.call('GET', '/v1/api')).json();
      expect(api.routes.map((route: { method: string; url: string }) => `${route.method} ${route.url}`)).toEqual([
        'POST /v1/enroll',
        'POST /v1/auth/challenge',
        'POST /v1/auth/token',
        'POST /v1/devices/enrollment-codes',
        'POST /v1/changes',
        'GET /v1/changes/quarantine',
        'GET /v1/changes',
        'GET /v1/changes/live',
        'POST /v1/audit',
        'GET /v1/audit/checkpoint',
        'GET /v1/audit/proof/inclusion',
        'GET /v1/audit/proof/consistency',
        'POST /v1/audit/pinned',
        'GET /v1/snapshot',
        'GET /v1/snapshot/chunk',
      ]);
      const enroll = api.routes[0];
      expect(enroll.body.additionalProperties).toBe(false);
      expect(Object.keys(enroll.body.properties)).toEqual(['code', 'deviceId', 'deviceName', 'publicKey']);
    });

    it('answers every failure with the one envelope and security headers', async () => {
      const server = await setup();
      const missing = await server.call('GET', '/nowhere');
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
      expect(missing.headers['x-content-type-options']).toBe('nosniff');
      expect(missing.headers['cache-control']).toBe('no-store');

      const badJson = await server.app.inject({
        method: 'POST',
        url: '/v1/enroll',
        headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: '1' },
        payload: '{"code":',
      });
      expect(badJson.statusCode).toBe(400);
      expect(badJson.json()).toEqual({ error: { code: 'VALIDATION_FAILED', message: expect.any(String) } });

      const text = await server.app.inject({
        method: 'POST',
        url: '/v1/enroll',
        headers: { 'content-type': 'text/plain', [PROTOCOL_HEADER]: '1' },
        payload: 'hello',
      });
      expect(text.statusCode).toBe(415);
      expect(text.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('refuses a body over the limit with the envelope', async () => {
      const server = await setup({ bodyLimit: 1024 });
      const response = await server.call('POST', '/v1/enroll', { body: { code: 'x'.repeat(4096) } });
      expect(response.statusCode).toBe(413);
      expect(response.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('refuses unknown keys and never echoes the values sent', async () => {
      const server = await setup();
      const response = await server.call('POST', '/v1/enroll', {
        body: {
          code: 'AAAAA-AAAAA-AAAAA-AAAAA',
          deviceId: 'dev-1',
          deviceName: 'x',
          publicKey: 'AA==',
          secret: 'Zebulon',
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.body).not.toContain('Zebulon');
      expect(server.logs.join('\n')).not.toContain('Zebulon');
    });

    it('requires the protocol header, refuses outdated clients but still takes their pushes', async () => {
      const server = await setup({ protocolVersion: 3 });
      const { device, token } = await enrolledDevice(server, 'Clinic', 'dev-old');
      const headers = { [PROTOCOL_HEADER]: '1' };
      expect((await server.app.inject({ method: 'GET', url: '/v1/changes?after=0' })).statusCode).toBe(400);
      const pull = await server.call('GET', '/v1/changes?after=0', { token, headers });
      expect(pull.statusCode).toBe(426);
      expect(pull.json().error.code).toBe('CLIENT_OUTDATED');
      const push = await server.call('POST', '/v1/changes', {
        token,
        headers,
        body: { protocolVersion: 1, batches: [{ txId: 'tx1', changes: makeBatch(device.deviceId, 'tx1', 1).changes }] },
      });
      expect(push.statusCode).toBe(200);
      expect(push.json().clientOutdated).toBe(true);
      const previous = await server.call('GET', '/v1/changes?after=0', { token, headers: { [PROTOCOL_HEADER]: '2' } });
      expect(previous.statusCode).toBe(200);
    });
  });

  describe('shutdown', () => {
    it('finishes a push in flight before it closes, so an acknowledged write is stored', async () => {
      let arrived!: () => void;
      const entered = new Promise<void>((resolve) => (arrived = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const server = await setup({
        wrapStorage: (storage) =>
          storageWithAppendHook(storage, async () => {
            arrived();
            await gate;
          }),
      });
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      await seedDirectoryUser(server, clinicId);
      await server.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (server.app.server.address() as AddressInfo).port;
      const push = fetch(`http://127.0.0.1:${port}/v1/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, [PROTOCOL_HEADER]: '1' },
        body: JSON.stringify({ protocolVersion: 1, batches: [validBatch(device.deviceId, 1)] }),
      });
      await entered;
      const closed = server.app.close();
      release();
      expect((await push).status).toBe(200);
      await closed;
      const store = await server.storage.clinic(clinicId);
      expect((await store.pullChanges({ after: 0, limit: 10 })).changes).toHaveLength(1);
    });
  });

  describe('enrollment and tokens', () => {
    it('enrolls a device once per code', async () => {
      const server = await setup();
      const { clinicId, code } = await seedClinic(server, 'Clinic');
      const first = await new TestDevice(server, 'dev-1').enroll(code);
      expect(first.statusCode).toBe(200);
      expect(first.json().clinicId).toBe(clinicId);
      const again = await new TestDevice(server, 'dev-2').enroll(code);
      expect(again.statusCode).toBe(403);
      expect(again.json().error.code).toBe('ENROLLMENT_REFUSED');
    });

    it('refuses an expired code with the same answer as an unknown one', async () => {
      const server = await setup();
      const { code } = await seedClinic(server, 'Clinic');
      server.clock.advance(61 * 60_000);
      const expired = await new TestDevice(server, 'dev-1').enroll(code);
      const unknown = await new TestDevice(server, 'dev-2').enroll('AAAAA-AAAAA-AAAAA-AAAAA');
      expect(expired.statusCode).toBe(403);
      expect(expired.json()).toEqual(unknown.json());
    });

    it('issues a token for a signed challenge and refuses expired tokens', async () => {
      const server = await setup();
      const { token } = await enrolledDevice(server, 'Clinic', 'dev-1');
      expect((await server.call('GET', '/v1/changes?after=0', { token })).statusCode).toBe(200);
      server.clock.advance(10 * 60_000);
      const expired = await server.call('GET', '/v1/changes?after=0', { token });
      expect(expired.statusCode).toBe(401);
      expect(expired.json().error.code).toBe('UNAUTHENTICATED');
    });

    it('refuses an expired challenge and a replayed answer', async () => {
      const server = await setup();
      const { device } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const old = await device.challenge();
      server.clock.advance(61_000);
      expect((await device.requestToken(old)).statusCode).toBe(401);
      const challenge = await device.challenge();
      expect((await device.requestToken(challenge)).statusCode).toBe(200);
      expect((await device.requestToken(challenge)).statusCode).toBe(401);
    });

    it('refuses a revoked device on its next request and at the token endpoint', async () => {
      const server = await setup();
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const store = await server.storage.clinic(clinicId);
      await store.revokeDevice({ deviceId: device.deviceId, reason: 'stolen' });
      const refused = await server.call('GET', '/v1/changes?after=0', { token });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('DEVICE_REVOKED');
      expect((await device.requestToken(await device.challenge())).json().error.code).toBe('DEVICE_REVOKED');
      const events = await store.listSecurityEvents({ after: 0, limit: 10 });
      expect(events.events.map((event) => event.kind)).toContain('device.revoked_request');
    });

    it('blocks an address after repeated failed token requests', async () => {
      const budget = { points: 3, durationS: 60, blockS: 60 };
      const server = await setup({
        rateLimits: {
          attemptsPerAddress: { points: 100, durationS: 60, blockS: 60 },
          failuresPerAddress: budget,
          failuresPerAddressLong: { points: 100, durationS: 3600, blockS: 3600 },
          failuresPerDevice: { points: 100, durationS: 60, blockS: 60 },
        },
      });
      const { device } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await device.requestToken('c1.forged.forged')).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429]);
      const blocked = await server.call('POST', '/v1/auth/challenge', {
        body: { clinicId: device.clinicId, deviceId: device.deviceId },
      });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().error.code).toBe('RATE_LIMITED');
      expect(blocked.headers['retry-after']).toBeDefined();
    });
  });

  describe('changes', () => {
    it('assigns server numbers and answers a re-push with the same numbers', async () => {
      const server = await setup();
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      await seedDirectoryUser(server, clinicId);
      const tx1 = validBatch(device.deviceId, 2);
      const body = { protocolVersion: 1, batches: [tx1, validBatch(device.deviceId, 1)] };
      const first = await server.call('POST', '/v1/changes', { token, body });
      expect(first.statusCode).toBe(200);
      const seqs = first
        .json()
        .batches.flatMap((batch: { changes: Array<{ serverSeq: number }> }) =>
          batch.changes.map((change) => change.serverSeq),
        );
      expect(seqs).toEqual([1, 2, 3]);
      const again = await server.call('POST', '/v1/changes', { token, body });
      expect(again.json().batches[0].changes).toEqual([
        { changeId: tx1.changes[0]!.changeId, serverSeq: 1, inserted: false },
        { changeId: tx1.changes[1]!.changeId, serverSeq: 2, inserted: false },
      ]);
    });

    it('pulls in pages with hasMore and a cursor', async () => {
      const server = await setup();
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      await seedDirectoryUser(server, clinicId);
      await server.call('POST', '/v1/changes', {
        token,
        body: { protocolVersion: 1, batches: [validBatch(device.deviceId, 5)] },
      });
      const first = (await server.call('GET', '/v1/changes?after=0&limit=3', { token })).json();
      expect(first.changes.map((change: { serverSeq: number }) => change.serverSeq)).toEqual([1, 2, 3]);
      expect(first.hasMore).toBe(true);
      const second = (await server.call('GET', `/v1/changes?after=${first.cursor}&limit=3`, { token })).json();
      expect(second.changes.map((change: { serverSeq: number }) => change.serverSeq)).toEqual([4, 5]);
      expect(second.hasMore).toBe(false);
      expect((await server.call('GET', '/v1/changes?after=0&limit=0', { token })).statusCode).toBe(400);
    });
  });

  describe('audit log', () => {
    it('accepts a signed chain, signs a checkpoint and proves inclusion and consistency', async () => {
      const server = await setup();
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const first = await server.call('POST', '/v1/audit', { token, body: device.auditPush(device.chain.next(3)) });
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ appended: 3, duplicates: 0, leafIndexes: [0, 1, 2] });
      const second = await server.call('POST', '/v1/audit', { token, body: device.auditPush(device.chain.next(2)) });
      expect(second.json().leafIndexes).toEqual([3, 4]);

      const checkpoint = (await server.call('GET', '/v1/audit/checkpoint', { token })).json();
      const publicKey = ed25519PublicKeyFromRaw(server.keys.checkpointPublicKey);
      const verifier = ed25519NoteVerifier(
        server.keys.checkpointKeyName,
        server.keys.checkpointPublicKey,
        (message, signature) => verify(null, message, publicKey, signature),
        nodeSha256,
      );
      const verified = verifyCheckpoint(checkpoint.note, [verifier], { origin: clinicLogOrigin(clinicId) });
      expect(verified.ok).toBe(true);
      expect(checkpoint.size).toBe(5);
      const root = decodeBase64(checkpoint.rootHash);

      const inclusion = (await server.call('GET', '/v1/audit/proof/inclusion?index=3&size=5', { token })).json();
      const proof = inclusion.proof.map(decodeBase64);
      expect(verifyInclusion(nodeSha256, decodeBase64(inclusion.leafHash), 3, 5, proof, root)).toBe(true);

      const firstRoot = decodeBase64(first.json().checkpoint.rootHash);
      const consistency = (await server.call('GET', '/v1/audit/proof/consistency?from=3&to=5', { token })).json();
      expect(verifyConsistency(nodeSha256, 3, 5, consistency.proof.map(decodeBase64), firstRoot, root)).toBe(true);
      expect((await server.call('GET', '/v1/audit/proof/inclusion?index=5&size=5', { token })).statusCode).toBe(404);
    });

    it('accepts an identical re-push as duplicates', async () => {
      const server = await setup();
      const { device, token } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const body = device.auditPush(device.chain.next(2));
      await server.call('POST', '/v1/audit', { token, body });
      const again = await server.call('POST', '/v1/audit', { token, body });
      expect(again.json()).toMatchObject({ appended: 0, duplicates: 2 });
    });

    const tampers = {
      'an edited entry': (entries: ReturnType<TestDevice['chain']['next']>) => {
        entries[1] = { ...entries[1]!, body: entries[1]!.body.replace('patients.view', 'patients.edit') };
        return entries;
      },
      'a dropped entry': (entries: ReturnType<TestDevice['chain']['next']>) => [entries[0]!, entries[2]!],
    };
    for (const [name, tamper] of Object.entries(tampers)) {
      it(`refuses ${name} and records a security event`, async () => {
        const server = await setup();
        const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
        const response = await server.call('POST', '/v1/audit', {
          token,
          body: device.auditPush(tamper(device.chain.next(3))),
        });
        expect(response.statusCode).toBe(409);
        expect(response.json().error.code).toBe('AUDIT_CHAIN_REJECTED');
        const store = await server.storage.clinic(clinicId);
        expect(await store.auditLogSize()).toBe(0);
        const events = await store.listSecurityEvents({ after: 0, limit: 10 });
        expect(events.events.map((event) => event.kind)).toEqual(['audit.chain_rejected']);
      });
    }

    it('refuses a forked chain and a gap after the stored head, recording both', async () => {
      const server = await setup();
      const { device, token, clinicId } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const stored = device.chain.next(2);
      await server.call('POST', '/v1/audit', { token, body: device.auditPush(stored) });
      // A different second entry linked to the first: the same sequence, another history.
      const fork = forgedEntry(device.deviceId, 1, 2, stored[0]!.hash);
      const forked = await server.call('POST', '/v1/audit', { token, body: device.auditPush([fork]) });
      expect(forked.statusCode).toBe(409);
      expect(forked.json().error.message).toContain('fork');
      device.chain.next(1);
      const gap = await server.call('POST', '/v1/audit', { token, body: device.auditPush(device.chain.next(1)) });
      expect(gap.json().error.message).toContain('gap');
      const store = await server.storage.clinic(clinicId);
      const events = await store.listSecurityEvents({ after: 0, limit: 10 });
      expect(events.events.map((event) => event.details.reason)).toEqual(['fork', 'gap']);
      expect(await store.auditLogSize()).toBe(2);
    });

    it('refuses a head signed by another key', async () => {
      const server = await setup();
      const { device, token } = await enrolledDevice(server, 'Clinic', 'dev-1');
      const other = new TestDevice(server, device.deviceId);
      const body = other.auditPush(device.chain.next(1));
      const response = await server.call('POST', '/v1/audit', { token, body });
      expect(response.statusCode).toBe(422);
      expect(response.json().error.code).toBe('AUDIT_SIGNATURE_INVALID');
    });
  });
});
