/**
 * The join's pull (`pullEverything`, main/core/sync/sync-engine.ts) over real HTTP against a
 * listening sync server: a log longer than one page arrives whole, in server order, with the
 * last cursor, although each next page is asked for (from the page headers) before the current
 * one is read; without the headers too; and headers that contradict the body are refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newestFollowableClock, pullEverything } from '../../main/core/sync/sync-engine.js';
import { ClockDriftError, compareHlc, encodeHlc, initialHlc, parseHlc, receive } from '../../shared/sync/hlc.js';
import { SyncRequestError, enrollDevice, generateDeviceKeys, requestToken } from '../../main/core/sync/sync-http.js';
import { PAGE_CURSOR_HEADER, PAGE_HAS_MORE_HEADER } from '../../shared/sync/page-headers.js';
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

/** A clinic whose log holds 12,500 changes (two full pages of 5,000 and one of 2,500), and a device token. */
async function clinicOfThreePages(): Promise<{ token: string; written: string[] }> {
  const { clinicId, code } = await operatorClinic(server.storage);
  const ids = benchIds('join-pull-pages');
  const keys = generateDeviceKeys();
  const deviceId = ids.next();
  await enrollDevice(fetchFn, server.url, { code, deviceId, deviceName: 'Writer', publicKey: keys.publicKey });
  const store = await server.storage.clinic(clinicId);
  const factory = new ChangeFactory(deviceId, ids);
  const userId = ids.next();
  const written: string[] = [];
  for (let batch = 0; batch < 25; batch++) {
    const txId = factory.transaction();
    const changes = Array.from({ length: 500 }, () =>
      factory.change(txId, userId, 'patient', factory.rowId(), 'update', { phone: '98450 11111' }),
    );
    await store.appendChanges({ deviceId, txId, changes });
    written.push(...changes.map((change) => change.changeId));
  }
  const { token } = await requestToken(fetchFn, server.url, { clinicId, deviceId, privateKey: keys.privateKey });
  return { token, written };
}

/** The answer with its page headers changed by `edit` (the body as the server sent it). */
function withHeaders(response: Response, edit: (headers: Headers) => void): Response {
  const headers = new Headers(response.headers);
  edit(headers);
  return new Response(response.body, { status: response.status, headers });
}

describe('pullEverything', () => {
  it('pulls a log of several pages whole and in server order, asking for each next page before reading this one', async () => {
    const { token, written } = await clinicOfThreePages();
    // What the device did, in order: each request, and each answer's body being read.
    const events: string[] = [];
    const watching = async (url: string, init: RequestInit) => {
      const after = new URL(url).searchParams.get('after');
      events.push(`ask ${after}`);
      const response = await fetchFn(url, init);
      const text = response.text.bind(response);
      Object.defineProperty(response, 'text', {
        value: () => {
          events.push(`read ${after}`);
          return text();
        },
      });
      return response;
    };

    const received: string[] = [];
    const pulled = await pullEverything(watching, server.url, token, (change) => received.push(change.changeId));

    expect(pulled.pulled).toBe(12_500);
    expect(pulled.cursor).toBe(12_500);
    expect(received).toEqual(written);
    // The headers announce each page's end, so the next page is asked for first.
    expect(events).toEqual(['ask 0', 'ask 5000', 'read 0', 'ask 10000', 'read 5000', 'read 10000']);
  });

  it('pulls the whole log from a server that sends no page headers, asking once each page is parsed', async () => {
    const { token, written } = await clinicOfThreePages();
    const withoutHeaders = async (url: string, init: RequestInit) =>
      withHeaders(await fetchFn(url, init), (headers) => {
        headers.delete(PAGE_CURSOR_HEADER);
        headers.delete(PAGE_HAS_MORE_HEADER);
      });
    const received: string[] = [];
    const pulled = await pullEverything(withoutHeaders, server.url, token, (change) => received.push(change.changeId));
    expect(pulled).toEqual({ pulled: 12_500, cursor: 12_500 });
    expect(received).toEqual(written);
  });

  it('falls back to pages of 1,000 from the start when the server refuses 5,000 (servers before 2026-11-22)', async () => {
    const { token, written } = await clinicOfThreePages();
    // Stands in for an earlier server: its route refused a limit above 1,000 with its 400 envelope.
    const limits: string[] = [];
    const earlierServer = async (url: string, init: RequestInit) => {
      const limit = new URL(url).searchParams.get('limit')!;
      limits.push(limit);
      if (Number(limit) > 1000) {
        const error = { error: { code: 'VALIDATION_FAILED', message: 'limit: Too big' } };
        return new Response(JSON.stringify(error), { status: 400, headers: { 'content-type': 'application/json' } });
      }
      return fetchFn(url, init);
    };
    const received: string[] = [];
    const pulled = await pullEverything(earlierServer, server.url, token, (change) => received.push(change.changeId));
    expect(pulled).toEqual({ pulled: 12_500, cursor: 12_500 });
    expect(received).toEqual(written);
    expect(limits).toEqual(['5000', ...Array<string>(13).fill('1000')]);
  });

  it('refuses an answer whose headers announce another end than its body (BAD_ANSWER)', async () => {
    const { token } = await clinicOfThreePages();
    const lying = async (url: string, init: RequestInit) =>
      withHeaders(await fetchFn(url, init), (headers) => headers.set(PAGE_CURSOR_HEADER, '7500'));
    const failure = await pullEverything(lying, server.url, token, () => undefined).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SyncRequestError);
    expect((failure as SyncRequestError).code).toBe('BAD_ANSWER');
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
