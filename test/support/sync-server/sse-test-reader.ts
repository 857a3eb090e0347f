/**
 * Test support: opens `GET /v1/changes/live` with fetch and collects its Server-Sent Events, so
 * tests wait for the next event by name. Test support only; the server never imports it.
 */
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../../../sync-server/http/protocol.js';

/** One received event; comments are counted, not kept. */
export interface ReceivedEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** An open live stream as a test sees it. */
export interface LiveStreamReader {
  readonly status: number;
  readonly headers: Headers;
  /** The error envelope's code when the stream was refused. */
  readonly errorCode: string | null;
  readonly events: ReceivedEvent[];
  /** Heartbeat comments received so far. */
  readonly comments: () => number;
  /** Resolves with the first event named `name` after the `skip` first ones of that name. */
  next(name: string, skip?: number): Promise<ReceivedEvent>;
  /** Resolves when the server ended the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens the live stream of a token at a listening server. */
export async function openLiveStream(
  baseUrl: string,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<LiveStreamReader> {
  const abort = new AbortController();
  const response = await fetch(`${baseUrl}/v1/changes/live`, {
    headers: {
      [PROTOCOL_HEADER]: String(SYNC_PROTOCOL_VERSION),
      accept: 'text/event-stream',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    signal: abort.signal,
  });
  const errorCode = response.ok
    ? null
    : ((JSON.parse(await response.text()) as { error?: { code?: string } }).error?.code ?? 'unknown');
  const events: ReceivedEvent[] = [];
  let comments = 0;
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const ended = (async () => {
    if (!response.ok || !response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) comments++;
          else {
            const name = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(block)?.[1] ?? '{}';
            events.push({ event: name, data: JSON.parse(data) as Record<string, unknown> });
          }
          wake();
        }
      }
    } catch {
      // Aborted by the test.
    }
    wake();
  })();
  let done = false;
  void ended.then(() => (done = true));
  return {
    status: response.status,
    headers: response.headers,
    errorCode,
    events,
    comments: () => comments,
    ended,
    async next(name, skip = 0) {
      for (;;) {
        const found = events.filter((event) => event.event === name)[skip];
        if (found) return found;
        if (done) throw new Error(`stream ended without a ${name} event`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    close: () => abort.abort(),
  };
}
