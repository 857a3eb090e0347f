import { describe, expect, it } from 'vitest';
import { type LiveEvent, SseParser, openLiveStream, parseLiveEvent } from './live-client.js';
import { type FetchLike, SyncRequestError, generateDeviceKeys } from './sync-http.js';

const identity = {
  serverUrl: 'http://127.0.0.1:1',
  clinicId: 'clinic',
  deviceId: 'device',
  privateKey: generateDeviceKeys().privateKey,
};

/** A server stand-in: tokens for anyone, and a live answer the test chooses. */
function fakeServer(live: (signal: AbortSignal) => Response): FetchLike {
  return async (url, init) => {
    const path = new URL(url).pathname;
    if (path === '/v1/auth/challenge') return Response.json({ challenge: 'challenge' });
    if (path === '/v1/auth/token') return Response.json({ token: 'token', expiresAt: 1 });
    return live(init.signal!);
  };
}

/** An event stream that sends `text` and then stays open, silent, until aborted. */
function silentAfter(text: string, signal: AbortSignal): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      signal.addEventListener('abort', () => controller.error(new Error('aborted')));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

function parseAll(chunks: string[]): Array<[string, string]> {
  const events: Array<[string, string]> = [];
  const parser = new SseParser((name, data) => events.push([name, data]));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe('SseParser', () => {
  it('splits events at blank lines, across chunk boundaries', () => {
    expect(
      parseAll(['event: res', 'ync\ndata: {"latestSeq":3}\n', '\nevent: changes\ndata: {"latestSeq":4}\n\n']),
    ).toEqual([
      ['resync', '{"latestSeq":3}'],
      ['changes', '{"latestSeq":4}'],
    ]);
  });

  it('ignores comment lines (heartbeats) and accepts CRLF and CR line ends', () => {
    expect(parseAll([': heartbeat\r\n\r\nevent: expired\rdata: {}\r\r'])).toEqual([['expired', '{}']]);
  });

  it('joins multi-line data and names an unnamed event "message"', () => {
    expect(parseAll(['data: a\ndata: b\n\n'])).toEqual([['message', 'a\nb']]);
  });
});

describe('parseLiveEvent', () => {
  it('reads the events a device acts on', () => {
    expect(parseLiveEvent('resync', '{"latestSeq":0}')).toEqual({ kind: 'resync', latestSeq: 0 });
    expect(parseLiveEvent('changes', '{"latestSeq":12}')).toEqual({ kind: 'changes', latestSeq: 12 });
    expect(parseLiveEvent('revoked', '{"code":"DEVICE_REVOKED"}')).toEqual({ kind: 'revoked' });
    expect(parseLiveEvent('expired', '{"reason":"token-expired"}')).toEqual({ kind: 'expired' });
  });

  it('ignores events of another shape or name', () => {
    expect(parseLiveEvent('changes', '{"latestSeq":-1}')).toBeNull();
    expect(parseLiveEvent('changes', '{"latestSeq":"9"}')).toBeNull();
    expect(parseLiveEvent('changes', '{"latestSeq":9,"patient":"x"}')).toBeNull();
    expect(parseLiveEvent('changes', 'not json')).toBeNull();
    expect(parseLiveEvent('other', '{}')).toBeNull();
  });
});

describe('openLiveStream', () => {
  it('delivers parsed events and gives up on a stream that falls silent', async () => {
    const events: LiveEvent[] = [];
    const fetchFn = fakeServer((signal) => silentAfter('event: resync\ndata: {"latestSeq":2}\n\n', signal));
    const end = await openLiveStream(
      fetchFn,
      identity,
      (event) => events.push(event),
      new AbortController().signal,
      50,
    );
    expect(events).toEqual([{ kind: 'resync', latestSeq: 2 }]);
    expect(end).toEqual({ kind: 'closed', events: 1 });
  });

  it('reports the caller aborting as aborted', async () => {
    const abort = new AbortController();
    const fetchFn = fakeServer((signal) => silentAfter(': heartbeat\n\n', signal));
    const ended = openLiveStream(fetchFn, identity, () => undefined, abort.signal, 60_000);
    setTimeout(() => abort.abort(), 20);
    expect(await ended).toEqual({ kind: 'aborted', events: 0 });
  });

  it("throws the server's code when the stream is refused", async () => {
    const fetchFn = fakeServer(() =>
      Response.json({ error: { code: 'DEVICE_REVOKED', message: 'revoked' } }, { status: 403 }),
    );
    const refused = openLiveStream(fetchFn, identity, () => undefined, new AbortController().signal);
    await expect(refused).rejects.toBeInstanceOf(SyncRequestError);
    await expect(refused).rejects.toMatchObject({ status: 403, code: 'DEVICE_REVOKED' });
  });
});
