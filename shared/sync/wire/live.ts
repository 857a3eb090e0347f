/**
 * The live channel: one held-open Server-Sent Events stream per device. Events carry sequence
 * numbers only, never changes: a device that hears of new changes pulls them (changes.pull).
 * The server also writes comment lines as heartbeats, which carry no event.
 */
import { z } from 'zod';
import { defineSyncRoute } from './route.js';

/** The change log's latest sequence number. */
const latestSeqSchema = z.strictObject({ latestSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });

/** Every event of the stream, as `{ event, data }` with data its parsed JSON line. */
export const liveEventSchema = z.discriminatedUnion('event', [
  /** First event: where the log is now; the device pulls if it is behind. */
  z.strictObject({ event: z.literal('resync'), data: latestSeqSchema }),
  /** The log grew. */
  z.strictObject({ event: z.literal('changes'), data: latestSeqSchema }),
  /** The device was revoked; the stream ends. */
  z.strictObject({ event: z.literal('revoked'), data: z.strictObject({ code: z.literal('DEVICE_REVOKED') }) }),
  /** The access token expired; the stream ends and the device reconnects with a new one. */
  z.strictObject({ event: z.literal('expired'), data: z.strictObject({ reason: z.literal('token-expired') }) }),
]);
export type LiveEventMessage = z.infer<typeof liveEventSchema>;

/** How often the server writes a heartbeat comment; a device takes a stream silent three times as long for dead. */
export const LIVE_HEARTBEAT_MS = 15_000;

export const changesLive = defineSyncRoute({
  name: 'changes.live',
  method: 'GET',
  path: '/v1/changes/live',
  summary:
    'Streams Server-Sent Events: resync {latestSeq} first, then changes {latestSeq} as the change log grows; ends at token expiry or revocation.',
  auth: 'device-token',
  answerKind: 'event-stream',
  answer: liveEventSchema,
  limits: [{ name: 'LIVE_HEARTBEAT_MS', value: LIVE_HEARTBEAT_MS, what: 'heartbeat period (ms)' }],
});

/** The live routes, in registration order. */
export const LIVE_ROUTES = [changesLive] as const;
