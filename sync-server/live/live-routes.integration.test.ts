import { type AddressInfo, connect } from 'node:net';
import { expect, it } from 'vitest';
import { TOKEN_TTL_MS } from '../auth/tokens.js';
import type { SyncStorage } from '../storage/storage.js';
import { InProcessChangeNotifier } from './change-notifier.js';
import {
  type TestServer,
  describeEachStorage,
  enrolledDevice,
  seedDirectoryUser,
  TestDevice,
  validBatch,
} from '../../test/support/sync-server/test-support.js';
import { openLiveStream } from '../../test/support/sync-server/sse-test-reader.js';

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

/** Wraps a storage so that every call on it and on its clinic handles adds one to `counter.calls`. */
function countingStorage(counter: { calls: number }): (storage: SyncStorage) => SyncStorage {
  const counted = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(inner, key) {
        const value: unknown = Reflect.get(inner, key);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counter.calls++;
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(inner, args);
          // A clinic handle's calls are storage work too.
          return key === 'clinic' ? (result as Promise<object>).then((store) => counted(store)) : result;
        };
      },
    });
  return (storage) => counted(storage);
}

/** Rejects when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)),
  ]);
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

  it("ends only the revoked device's stream as soon as the revocation is announced, before any sweep", async () => {
    const notifier = new InProcessChangeNotifier();
    // A sweep a minute away: only the announcement can end the stream within the test.
    const server = await setup({ notifier, liveTimings: { revocationCheckMs: 60_000 } });
    const { clinicId, a, b, store } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    const revokedStream = await openLiveStream(url, b.token);
    const otherStream = await openLiveStream(url, a.token);
    await revokedStream.next('resync');
    await otherStream.next('resync');
    await store.revokeDevice({ deviceId: 'device-b', reason: 'Stolen laptop' });
    await notifier.publishRevocation(clinicId);
    expect(await within(revokedStream.next('revoked'), 2_000)).toEqual({
      event: 'revoked',
      data: { code: 'DEVICE_REVOKED' },
    });
    await within(revokedStream.ended, 2_000);
    // The clinic's other device keeps its stream and still hears changes.
    const seqs = await push(server, a.token, a.device.deviceId, 1);
    expect(await otherStream.next('changes')).toEqual({ event: 'changes', data: { latestSeq: Math.max(...seqs) } });
    expect(otherStream.events.map((event) => event.event)).toEqual(['resync', 'changes']);
    otherStream.close();
  });

  it('does the same storage work for a push with 40 open streams as with one', async () => {
    const counter = { calls: 0 };
    const server = await setup({ wrapStorage: countingStorage(counter) });
    const { a, b } = await clinicWithTwoDevices(server);
    const url = await listen(server);
    const streams = [await openLiveStream(url, b.token)];
    await streams[0]!.next('resync');

    /** Storage calls from a push until every open stream has been told of it. */
    const callsForOnePush = async (): Promise<number> => {
      counter.calls = 0;
      const latestSeq = Math.max(...(await push(server, a.token, a.device.deviceId, 1)));
      for (const stream of streams) {
        await expect.poll(() => stream.events.at(-1)).toEqual({ event: 'changes', data: { latestSeq } });
      }
      // Work a notification started but has not finished is counted too.
      await new Promise((resolve) => setTimeout(resolve, 100));
      return counter.calls;
    };

    const withOne = await callsForOnePush();
    while (streams.length < 40) {
      const stream = await openLiveStream(url, b.token);
      await stream.next('resync');
      streams.push(stream);
    }
    const withForty = await callsForOnePush();
    expect(withOne).toBeGreaterThan(0);
    expect(withForty).toBe(withOne);
    for (const stream of streams) stream.close();
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
