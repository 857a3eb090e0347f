/**
 * The join's pull (`pullEverything`, main/core/sync/sync-engine.ts) over real HTTP against a
 * listening sync server: a log longer than one page arrives whole, in server order, with the
 * last cursor, although each next page is asked for before the current one is checked.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newestFollowableClock, pullEverything } from '../../main/core/sync/sync-engine.js';
import { ClockDriftError, compareHlc, encodeHlc, initialHlc, parseHlc, receive } from '../../shared/sync/hlc.js';
import { enrollDevice, generateDeviceKeys, requestToken } from '../../main/core/sync/sync-http.js';
import { ChangeFactory, benchIds } from '../bench/sync-bench-support.js';
import { type ListeningServer, operatorClinic, startListeningServer } from './sync-support.js';

let server: ListeningServer;

beforeEach(async () => {
  server = await startListeningServer();
});
afterEach(async () => {
  await server.close();
});

const fetchFn = (url: string, init: RequestInit) => fetch(url, init);

describe('pullEverything', () => {
  it('pulls a log of several pages whole and in server order, ending at the last cursor', async () => {
    const { clinicId, code } = await operatorClinic(server.storage);
    const ids = benchIds('join-pull-pages');
    const keys = generateDeviceKeys();
    const deviceId = ids.next();
    await enrollDevice(fetchFn, server.url, { code, deviceId, deviceName: 'Writer', publicKey: keys.publicKey });
    const store = await server.storage.clinic(clinicId);
    const factory = new ChangeFactory(deviceId, ids);
    const userId = ids.next();
    const written: string[] = [];
    // 2,500 changes: two full pages of 1,000 and a last page of 500.
    for (let batch = 0; batch < 5; batch++) {
      const txId = factory.transaction();
      const changes = Array.from({ length: 500 }, () =>
        factory.change(txId, userId, 'patient', factory.rowId(), 'update', { phone: '98450 11111' }),
      );
      await store.appendChanges({ deviceId, txId, changes });
      written.push(...changes.map((change) => change.changeId));
    }

    const { token } = await requestToken(fetchFn, server.url, { clinicId, deviceId, privateKey: keys.privateKey });
    const received: string[] = [];
    const pulled = await pullEverything(fetchFn, server.url, token, (change) => received.push(change.changeId));

    expect(pulled.pulled).toBe(2500);
    expect(pulled.cursor).toBe(2500);
    expect(received).toEqual(written);
  });
});

describe('newestFollowableClock', () => {
  it('gives one clock whose receipt passes 70,000 clocks pulled at one instant, where receiving each overflows', () => {
    const ids = benchIds('newest-clock');
    const factory = new ChangeFactory(ids.next(), ids);
    const userId = ids.next();
    const txId = factory.transaction();
    const changes = Array.from({ length: 70_000 }, () =>
      factory.change(txId, userId, 'patient', factory.rowId(), 'update', { phone: '98450 11111' }),
    );
    // The join's one `now`, after every change was made (as on a device joining later).
    const now = Date.now() + 1000;
    // One change from a clock running far ahead: merged, but never followed.
    const ahead = encodeHlc({ wallMs: now + 3_600_000, counter: 0, deviceId: factory.deviceId });
    const pulled = [...changes, { ...changes[0]!, hlc: ahead }];
    const deviceId = ids.next();

    expect(() =>
      pulled.reduce((local, change) => {
        try {
          return receive(local, parseHlc(change.hlc), now);
        } catch (error) {
          if (error instanceof ClockDriftError) return local;
          throw error;
        }
      }, initialHlc(deviceId)),
    ).toThrow();
    const newest = newestFollowableClock(pulled, now);
    expect(newest).toHaveLength(1);
    const local = receive(initialHlc(deviceId), parseHlc(newest[0]!), now);
    for (const change of changes) expect(compareHlc(local, parseHlc(change.hlc))).toBe(1);
    expect(local.wallMs).toBeLessThan(now + 3_600_000);
  });
});
