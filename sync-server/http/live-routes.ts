/**
 * `GET /v1/changes/live`: the live channel as Server-Sent Events (docs/sync-protocol.md, "Live
 * updates"). Declared in shared/sync/wire/live.ts with its events and registered with
 * defineStreamRoute, so the clinic-header refusal, the protocol check,
 * the token and the revocation check run exactly as for every other route; only then is the reply
 * taken over and held open. Events carry sequence numbers only; the device pulls the changes.
 */
import type { FastifyPluginAsync } from 'fastify';
import { changesLive } from '../../shared/sync/wire/live.js';
import { type LiveChannel } from '../live/live-channel.js';
import { LiveStream } from '../live/live-stream.js';
import { SseWriter } from '../live/sse-writer.js';
import { type SyncServerContext, defineStreamRoute } from './route-context.js';
import { HSTS_HEADER, SECURITY_HEADERS } from './security-headers.js';

/** The live plugin. */
export function liveRoutes(context: SyncServerContext, live: LiveChannel, tls: boolean): FastifyPluginAsync {
  return async (app) => {
    defineStreamRoute(app, context, changesLive, async ({ request, reply, auth }) => {
      // Read before taking the reply over: a storage failure is still an ordinary error answer.
      const latestSeq = await auth.store.latestChangeSeq();
      reply.hijack();
      const writer = new SseWriter(reply.raw);
      writer.open({ ...SECURITY_HEADERS, ...(tls ? { 'strict-transport-security': HSTS_HEADER } : {}) });
      const ids = { clinicId: auth.claims.clinicId, deviceId: auth.claims.deviceId };
      const openedAt = context.clock.now();
      let remove = () => {};
      const stream = new LiveStream(writer, {
        store: auth.store,
        deviceId: auth.device.deviceId,
        expiresAt: auth.claims.exp,
        clock: context.clock,
        timings: live.timings,
        onEnd: () => {
          remove();
          request.log.info({ event: 'live.closed', ...ids, ms: context.clock.now() - openedAt }, 'live closed');
        },
      });
      remove = live.hub.add(stream);
      reply.raw.on('close', () => stream.end());
      // The device may have gone while the number was read: its 'close' has already fired.
      if (reply.raw.destroyed || request.raw.socket.destroyed) {
        stream.end();
        return;
      }
      request.log.info({ event: 'live.opened', ...ids }, 'live opened');
      stream.start(latestSeq);
    });
  };
}
