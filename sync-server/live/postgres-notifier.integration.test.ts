import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deriveServerKeys } from '../auth/server-keys.js';
import {
  type TestServer,
  TestDevice,
  seedClinic,
  seedDirectoryUser,
  startTestServer,
  validBatch,
} from '../../test/support/sync-server/test-support.js';
import { TestClock } from '../../test/support/sync-server/conformance-fixtures.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import { PostgresChangeNotifier, announceRevocation } from './postgres-change-notifier.js';
import { openLiveStream } from '../../test/support/sync-server/sse-test-reader.js';

/** One server process: its own pg pool, its own notifier with its own listening connection, its own port. */
interface Process {
  readonly server: TestServer;
  readonly notifier: PostgresChangeNotifier;
  readonly url: string;
}

describe('live updates across server processes sharing PostgreSQL', () => {
  let db: TestDatabase;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function startProcess(keys: ReturnType<typeof deriveServerKeys>, clock: TestClock): Promise<Process> {
    const storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey });
    cleanup.push(() => storage.close());
    // Reconnects after about 400 ms (jitter pinned), so a push can commit while nobody listens.
    const notifier = new PostgresChangeNotifier({
      connection: db.app,
      log: pino({ level: 'silent' }),
      reconnect: { baseDelayMs: 400, maxDelayMs: 400 },
      random: () => 0.999,
    });
    await notifier.start();
    cleanup.push(() => notifier.close());
    // Revocations reach a process by notification: the sweep is a minute away in these tests.
    const server = await startTestServer(storage, clock, {
      serverKeys: keys,
      notifier,
      liveTimings: { revocationCheckMs: 60_000 },
    });
    cleanup.push(() => server.app.close());
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    return { server, notifier, url: `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}` };
  }

  /** Two processes, a clinic, device A talking to process A and device B to process B. */
  async function twoProcesses() {
    const keys = deriveServerKeys(randomBytes(32));
    const clock = new TestClock();
    const first = await startProcess(keys, clock);
    const second = await startProcess(keys, clock);
    const { clinicId, code } = await seedClinic(first.server, 'Smile Dental');
    await seedDirectoryUser(first.server, clinicId);
    const deviceA = new TestDevice(first.server, 'device-a');
    expect((await deviceA.enroll(code)).statusCode).toBe(200);
    const store = await first.server.storage.clinic(clinicId);
    const deviceB = new TestDevice(second.server, 'device-b');
    expect(
      (await deviceB.enroll((await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null })).code)).statusCode,
    ).toBe(200);
    const push = async (count: number) => {
      const response = await first.server.call('POST', '/v1/changes', {
        token: await deviceA.token(),
        body: { protocolVersion: 1, batches: [validBatch('device-a', count)] },
      });
      expect(response.statusCode).toBe(200);
      return Math.max(
        ...(response.json() as { batches: Array<{ changes: Array<{ serverSeq: number }> }> }).batches[0]!.changes.map(
          (c) => c.serverSeq,
        ),
      );
    };
    return { clinicId, first, second, deviceB, push };
  }

  it('brings a change pushed to process A to a device streaming from process B', async () => {
    const { second, deviceB, push } = await twoProcesses();
    const stream = await openLiveStream(second.url, await deviceB.token());
    expect(await stream.next('resync')).toEqual({ event: 'resync', data: { latestSeq: 0 } });
    const latestSeq = await push(3);
    expect(await stream.next('changes')).toEqual({ event: 'changes', data: { latestSeq } });
    stream.close();
  });

  it('catches up after its listening connection was lost: what committed meanwhile still arrives', async () => {
    const { second, deviceB, push } = await twoProcesses();
    const stream = await openLiveStream(second.url, await deviceB.token());
    await stream.next('resync');
    await second.notifier.dropListeningConnectionForTest();
    expect(second.notifier.listening).toBe(false);
    // Committed while process B hears nothing: the NOTIFY is lost for B.
    const missed = await push(2);
    expect(second.notifier.listening).toBe(false);
    expect(await stream.next('changes')).toEqual({ event: 'changes', data: { latestSeq: missed } });
    expect(second.notifier.listening).toBe(true);
    const later = await push(1);
    expect(await stream.next('changes', 1)).toEqual({ event: 'changes', data: { latestSeq: later } });
    stream.close();
  });

  it("ends a device's stream on process B when a third process revokes it and announces it", async () => {
    const { clinicId, first, second, deviceB } = await twoProcesses();
    const stream = await openLiveStream(second.url, await deviceB.token());
    await stream.next('resync');
    // As `device revoke` does: its own connection revokes, then one NOTIFY on a short-lived one.
    const started = Date.now();
    await (await first.server.storage.clinic(clinicId)).revokeDevice({ deviceId: 'device-b', reason: 'Stolen' });
    await announceRevocation(db.app, clinicId);
    expect(await stream.next('revoked')).toEqual({ event: 'revoked', data: { code: 'DEVICE_REVOKED' } });
    await stream.ended;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('publishes only a clinic id on the revocation channel', async () => {
    const { clinicId } = await twoProcesses();
    const payloads: string[] = [];
    const { default: pg } = await import('pg');
    const listener = new pg.Client(db.app);
    await listener.connect();
    cleanup.push(() => listener.end());
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query('LISTEN chairside_revocations');
    await announceRevocation(db.app, clinicId);
    await expect.poll(() => payloads.length).toBeGreaterThan(0);
    expect(JSON.parse(payloads[0]!)).toEqual({ clinicId });
  });

  it('publishes only a clinic id and a number on the shared channel', async () => {
    const { first, push } = await twoProcesses();
    const payloads: string[] = [];
    const { default: pg } = await import('pg');
    const listener = new pg.Client(db.app);
    await listener.connect();
    cleanup.push(() => listener.end());
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query('LISTEN chairside_changes');
    const latestSeq = await push(1);
    await expect.poll(() => payloads.length).toBeGreaterThan(0);
    expect(JSON.parse(payloads[0]!)).toEqual({ clinicId: expect.any(String), latestSeq });
    expect(Object.keys(JSON.parse(payloads[0]!) as object).sort()).toEqual(['clinicId', 'latestSeq']);
    expect(first.notifier.listening).toBe(true);
  });
});
