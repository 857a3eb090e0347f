/**
 * `GET /v1/snapshot` and `GET /v1/snapshot/chunk` (snapshot-routes.ts), and the pull's
 * `behindHorizon` flag (snapshot/behind-horizon.ts), over HTTP on each storage.
 */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { decodeBase64 } from '../../shared/merkle/base64.js';
import {
  SNAPSHOT_SIGNATURE_DOMAIN,
  signedSnapshotManifestSchema,
  snapshotChunkSchema,
  snapshotManifestSchema,
} from '../../shared/sync/snapshot.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import {
  describeEachStorage,
  enrolledDevice,
  seedDirectoryUser,
  validBatch,
} from '../../test/support/sync-server/test-support.js';

describeEachStorage('snapshot routes', (setup) => {
  it("serves a snapshot of the token's clinic, signed by the checkpoint key, whose chunks hash as its manifest says", async () => {
    const server = await setup();
    const { device, token, clinicId } = await enrolledDevice(server, 'Alpha Dental', 'alpha-device-1');
    await seedDirectoryUser(server, clinicId);
    const pushed = await server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [validBatch(device.deviceId, 3, { op: 'insert' })] },
    });
    expect(pushed.statusCode).toBe(200);

    const answer = await server.call('GET', '/v1/snapshot', { token });
    expect(answer.statusCode).toBe(200);
    const signed = signedSnapshotManifestSchema.parse(answer.json());
    const message = new TextEncoder().encode(SNAPSHOT_SIGNATURE_DOMAIN + signed.manifest);
    expect(verifyEd25519(server.keys.checkpointPublicKey, message, decodeBase64(signed.signature))).toBe(true);
    const manifest = snapshotManifestSchema.parse(JSON.parse(signed.manifest));
    expect(manifest).toMatchObject({ clinicId, cursor: 3, rows: { patient: 3 } });

    for (const entry of manifest.chunks) {
      const chunk = await server.call(
        'GET',
        `/v1/snapshot/chunk?snapshotId=${manifest.snapshotId}&index=${entry.index}`,
        { token },
      );
      expect(chunk.statusCode).toBe(200);
      expect(createHash('sha256').update(chunk.rawPayload).digest('hex')).toBe(entry.sha256);
      expect(snapshotChunkSchema.parse(chunk.json()).rows).toHaveLength(entry.rows);
    }
  });

  it("refuses another clinic's chunk, a request without a token and a revoked device", async () => {
    const server = await setup();
    const alpha = await enrolledDevice(server, 'Alpha Dental', 'alpha-device-1');
    await seedDirectoryUser(server, alpha.clinicId);
    await server.call('POST', '/v1/changes', {
      token: alpha.token,
      body: { protocolVersion: 1, batches: [validBatch(alpha.device.deviceId, 2, { op: 'insert' })] },
    });
    const bravo = await enrolledDevice(server, 'Bravo Dental', 'bravo-device-1');
    const signed = signedSnapshotManifestSchema.parse(
      (await server.call('GET', '/v1/snapshot', { token: alpha.token })).json(),
    );
    const { snapshotId } = snapshotManifestSchema.parse(JSON.parse(signed.manifest));
    const chunkUrl = `/v1/snapshot/chunk?snapshotId=${snapshotId}&index=0`;

    expect((await server.call('GET', chunkUrl, { token: alpha.token })).statusCode).toBe(200);
    const foreign = await server.call('GET', chunkUrl, { token: bravo.token });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).not.toContain('Name ');
    expect((await server.call('GET', '/v1/snapshot')).statusCode).toBe(401);

    const store = await server.storage.clinic(alpha.clinicId);
    await store.revokeDevice({ deviceId: alpha.device.deviceId, reason: 'lost laptop' });
    const revoked = await server.call('GET', '/v1/snapshot', { token: alpha.token });
    expect(revoked.statusCode).toBe(403);
    expect(revoked.json()).toMatchObject({ error: { code: 'DEVICE_REVOKED' } });
    expect((await server.call('GET', chunkUrl, { token: alpha.token })).statusCode).toBe(403);
  });

  it('tells a device pulling from below the cursor it had pulled past that it is behind the horizon, and only then', async () => {
    const server = await setup();
    const { device, token, clinicId } = await enrolledDevice(server, 'Alpha Dental', 'alpha-device-1');
    await seedDirectoryUser(server, clinicId);
    await server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [validBatch(device.deviceId, 3, { op: 'insert' })] },
    });
    const pull = async (after: number) =>
      (await server.call('GET', `/v1/changes?after=${after}`, { token })).json() as { behindHorizon?: boolean };

    expect(await pull(0)).not.toHaveProperty('behindHorizon');
    expect(await pull(3)).not.toHaveProperty('behindHorizon');
    // Restored from a backup taken before it pulled to 3.
    expect(await pull(1)).toMatchObject({ behindHorizon: true });
    expect(await pull(3)).not.toHaveProperty('behindHorizon');
  });
});
