import { type AddressInfo, connect } from 'node:net';
import { expect, it } from 'vitest';
import { TOKEN_TTL_MS } from '../auth/tokens.js';
import {
  type TestServer,
  describeEachStorage,
  enrolledDevice,
  seedDirectoryUser,
  TestDevice,
  validBatch,
} from '../http/test-support.js';
import { openLiveStream } from './sse-test-reader.js';

async function listen(server: TestServer): Promise<string> {
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
}

async function push(server: TestServer, token: string, deviceId: string, count = 1): Promise<number[]> {
  const batch = validBatch(deviceId, count);
  const response = await server.call('POST', '/v1/changes', { token, body: { protocolVersion: 1, batches: [batch] } });
  expect(response.statusCode).toBe(200);
  const answer = response.json() as { batches: Array<{ changes: Array<{ serverSeq: number }> }> };
  return answer.batches[0]!.changes.map((change) => change.serverSeq);
}

/** A clinic with two enrolled devices and the test Admin in its user directory. */
async function clinicWithTwoDevices(server: TestServer) {
  const first = await enrolledDevice(server, 'Smile Dental', 'device-a');
  await seedDirectoryUser(server, first.clinicId);
  const store = await server.storage.clinic(first.clinicId);
  const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
  const second = new TestDevice(server, 'device-b');
  expect((await second.enroll(code)).statusCode).toBe(200);
  return { clinicId: first.clinicId, a: first, b: { device: second, token: await second.token() }, store };
}

describeEachStorage('live channel', (setup) => {
  it('sends resync with the latest sequence number first, then changes as the log grows', async () => {
    const server = await setup();
    const { a, b } = await clinicWithTwoDevices(server);
    await push(server, a.token, a.device.deviceId, 2);
    const url = await listen(server);
    const stream = await openLiveStream(url, b.token);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await stream.next('resync')).toEqual({ event: 'resync', data: { latestSeq: 2 } });
    const seqs = await push(server, a.token, a.device.deviceId, 3);
    expect(await stream.next('changes')).toEqual({ event: 'changes', data: { latestSeq: Math.max(...seqs) } });
    stream.close();
  });

  it('carries sequence numbers only, never a pushed value', async () => {
    const server = await setup();
    const { a, b } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    const stream = await openLiveStream(url, b.token);
    await stream.next('resync');
    await push(server, a.token, a.device.deviceId, 1);
    await stream.next('changes');
    expect(JSON.stringify(stream.events)).not.toMatch(/Name \d+|first_name/);
    stream.close();
  });

  it('runs the same checks as every route: token, protocol header, no clinic header', async () => {
    const server = await setup();
    const { b } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    expect((await openLiveStream(url, null)).errorCode).toBe('UNAUTHENTICATED');
    expect((await openLiveStream(url, b.token, { 'x-clinic-id': 'other' })).errorCode).toBe('FORBIDDEN');
    expect((await openLiveStream(url, b.token, { 'chairside-protocol': '99' })).status).toBe(400);
  });

  it('refuses a revoked device and ends its open stream', async () => {
    const server = await setup({ liveTimings: { revocationCheckMs: 50 } });
    const { b, store } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    const stream = await openLiveStream(url, b.token);
    await stream.next('resync');
    await store.revokeDevice({ deviceId: 'device-b', reason: 'Stolen laptop' });
    expect(await stream.next('revoked')).toEqual({ event: 'revoked', data: { code: 'DEVICE_REVOKED' } });
    await stream.ended;
    expect((await openLiveStream(url, b.token)).errorCode).toBe('DEVICE_REVOKED');
  });

  it('ends the stream when its token expires, so the device reconnects with a new one', async () => {
    const server = await setup();
    const { b } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    server.clock.advance(TOKEN_TTL_MS - 100);
    const stream = await openLiveStream(url, b.token);
    await stream.next('resync');
    expect(await stream.next('expired')).toEqual({ event: 'expired', data: { reason: 'token-expired' } });
    await stream.ended;
  });

  it('sends heartbeat comments while nothing changes', async () => {
    const server = await setup({ liveTimings: { heartbeatMs: 20 } });
    const { b } = await clinicWithTwoDevices(server);
    const stream = await openLiveStream(await listen(server), b.token);
    await stream.next('resync');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(stream.comments()).toBeGreaterThanOrEqual(2);
    stream.close();
  });

  it("does not tell a clinic's devices about another clinic's changes", async () => {
    const server = await setup();
    const { b } = await clinicWithTwoDevices(server);
    const other = await enrolledDevice(server, 'Other Clinic', 'other-device');
    await seedDirectoryUser(server, other.clinicId);
    const stream = await openLiveStream(await listen(server), b.token);
    await stream.next('resync');
    await push(server, other.token, 'other-device', 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stream.events.map((event) => event.event)).toEqual(['resync']);
    stream.close();
  });

  it('ends open streams when the server closes, and close finishes', async () => {
    const server = await setup();
    const { b } = await clinicWithTwoDevices(server);
    const stream = await openLiveStream(await listen(server), b.token);
    await stream.next('resync');
    await server.app.close();
    await stream.ended;
    expect(stream.events.map((event) => event.event)).toEqual(['resync']);
  });

  it('closes even while a client holds a connection it never sent a request on', async () => {
    const server = await setup();
    await listen(server);
    const { port } = server.app.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const started = Date.now();
    await server.app.close();
    await closed;
    // Node alone would wait for its headers timeout (a minute) on this socket.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
