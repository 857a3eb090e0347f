/**
 * The device's end of the live channel (docs/sync-protocol.md, "Live updates"): one
 * `GET /v1/changes/live` stream over fetch (changes.live in shared/sync/wire/live.ts), read as
 * Server-Sent Events. Each event is parsed with the declared event schema; an event of another
 * shape or name is ignored. The stream carries sequence
 * numbers only: the caller decides whether to pull. `openLiveStream` resolves when the stream
 * ends, however it ends; reconnecting is the scheduler's job.
 */
import { LIVE_HEARTBEAT_MS, changesLive, liveEventSchema } from '../../../shared/sync/wire/live.js';
import { type FetchLike, openSyncRoute, refusalOf, requestToken } from './sync-http.js';

/** The events a device acts on. */
export type LiveEvent =
  | { readonly kind: 'resync'; readonly latestSeq: number }
  | { readonly kind: 'changes'; readonly latestSeq: number }
  | { readonly kind: 'revoked' }
  | { readonly kind: 'expired' };

/**
 * A stream silent for three heartbeats is taken for dead: a connection lost without a FIN would
 * otherwise be waited on forever.
 */
export const LIVE_IDLE_TIMEOUT_MS = 3 * LIVE_HEARTBEAT_MS;

/** How a stream ended. */
export type LiveEnd =
  /** The server ended it (token expiry, shutdown), the connection dropped, or it fell silent. */
  | { readonly kind: 'closed'; readonly events: number }
  /** The caller aborted it. */
  | { readonly kind: 'aborted'; readonly events: number };

/** Parses one event block's name and data into a LiveEvent with the declared event schema; null for anything else. */
export function parseLiveEvent(name: string, data: string): LiveEvent | null {
  let json: unknown;
  try {
    json = JSON.parse(data === '' ? '{}' : data);
  } catch {
    return null;
  }
  const parsed = liveEventSchema.safeParse({ event: name, data: json });
  if (!parsed.success) return null;
  const message = parsed.data;
  switch (message.event) {
    case 'resync':
    case 'changes':
      return { kind: message.event, latestSeq: message.data.latestSeq };
    case 'revoked':
    case 'expired':
      return { kind: message.event };
  }
}

/**
 * Splits a Server-Sent Events byte stream into events (WHATWG HTML, "Interpreting an event
 * stream"): lines end with LF, CR or CRLF; a blank line ends an event; `:` lines are comments.
 */
export class SseParser {
  private buffer = '';
  private name = '';
  private data: string[] = [];
  private pendingCr = false;

  constructor(private readonly onEvent: (name: string, data: string) => void) {}

  push(text: string): void {
    for (const char of text) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (char === '\n') continue;
      }
      if (char === '\r' || char === '\n') {
        this.pendingCr = char === '\r';
        this.line(this.buffer);
        this.buffer = '';
      } else this.buffer += char;
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0 || this.name !== '') this.onEvent(this.name || 'message', this.data.join('\n'));
      this.name = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.name = value;
    else if (field === 'data') this.data.push(value);
  }
}

/** Where and as whom to open the stream. */
export interface LiveIdentity {
  readonly serverUrl: string;
  readonly clinicId: string;
  readonly deviceId: string;
  readonly privateKey: Buffer;
}

/**
 * Takes a token and opens the live stream; calls `onEvent` for each event; resolves when the
 * stream ends. Throws SyncRequestError when the stream could not be opened (NETWORK, or the
 * server's code: DEVICE_REVOKED, UNAUTHENTICATED, ...).
 */
export async function openLiveStream(
  fetchFn: FetchLike,
  identity: LiveIdentity,
  onEvent: (event: LiveEvent) => void,
  signal: AbortSignal,
  idleTimeoutMs = LIVE_IDLE_TIMEOUT_MS,
): Promise<LiveEnd> {
  const { token } = await requestToken(fetchFn, identity.serverUrl, identity);
  // Aborted by the caller, or by the watchdog when the stream falls silent.
  const stop = new AbortController();
  const forward = () => stop.abort();
  signal.addEventListener('abort', forward, { once: true });
  // The caller may have aborted while the token was being taken: that abort fired before the listener.
  if (signal.aborted) stop.abort();
  let watchdog: NodeJS.Timeout | undefined;
  const rearm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => stop.abort(), idleTimeoutMs);
  };
  try {
    rearm();
    return await readStream(fetchFn, identity.serverUrl, token, onEvent, signal, stop.signal, rearm);
  } finally {
    clearTimeout(watchdog);
    signal.removeEventListener('abort', forward);
  }
}

async function readStream(
  fetchFn: FetchLike,
  serverUrl: string,
  token: string,
  onEvent: (event: LiveEvent) => void,
  callerSignal: AbortSignal,
  signal: AbortSignal,
  onData: () => void,
): Promise<LiveEnd> {
  let response: Response;
  try {
    response = await openSyncRoute(fetchFn, serverUrl, changesLive, {}, { token, signal });
  } catch (failure) {
    if (callerSignal.aborted) return { kind: 'aborted', events: 0 };
    throw failure;
  }
  if (!response.ok || !response.body) {
    throw refusalOf(response, await response.json().catch(() => undefined));
  }
  let events = 0;
  const parser = new SseParser((name, data) => {
    const event = parseLiveEvent(name, data);
    if (!event) return;
    events++;
    onEvent(event);
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) {
      onData();
      parser.push(decoder.decode(chunk, { stream: true }));
    }
  } catch {
    // A dropped connection, or the watchdog, ends the stream like the server's own end does.
  }
  return callerSignal.aborted ? { kind: 'aborted', events } : { kind: 'closed', events };
}
