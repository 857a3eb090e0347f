/**
 * Liveness and readiness (`/health` answers while the process runs, `/ready` when storage answers
 * too) and the machine-readable API description (`/v1/api`): every `/v1` route declared in
 * shared/sync/wire/ with JSON Schemas of its query and body, generated from the same zod schemas
 * the routes parse with.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { healthApi, healthLive, healthReady } from '../../shared/sync/wire/health.js';
import { SYNC_ROUTES } from '../../shared/sync/wire/index.js';
import { PROTOCOL_HEADER, oldestCurrentProtocolVersion } from '../../shared/sync/wire/protocol.js';
import { SyncHttpError, syncErrorStatus } from './errors.js';
import { type RouteAnswer, type SyncServerContext, defineRoute } from './route-context.js';

// A well-formed id no clinic has: looking it up makes storage run a real query.
const PROBE_CLINIC_ID = '00000000-0000-4000-8000-000000000000';

/** JSON Schema of an input schema, as a client sends it. */
function inputJsonSchema(schema: z.ZodType | null): unknown {
  return schema === null ? null : z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** The health plugin, with the machine-readable API description at `GET /v1/api`. */
export function healthRoutes(context: SyncServerContext): FastifyPluginAsync {
  return async (app) => {
    defineRoute(app, context, healthLive, async () => ({ status: 'ok' as const }));
    defineRoute(app, context, healthReady, async ({ request }) => {
      try {
        // TODO(storage): replace with SyncStorage.ping() once the storage offers one.
        await context.storage.getClinic(PROBE_CLINIC_ID);
      } catch (error) {
        request.log.error({ event: 'ready.storage_unreachable', error: (error as Error).name }, 'not ready');
        throw new SyncHttpError('NOT_READY', 'The storage is not reachable.');
      }
      return { status: 'ready' as const };
    });
    let description: RouteAnswer<typeof healthApi> | null = null;
    defineRoute(app, context, healthApi, async () => {
      description ??= {
        protocolVersion: context.protocolVersion,
        oldestAcceptedProtocolVersion: oldestCurrentProtocolVersion(context.protocolVersion),
        protocolHeader: PROTOCOL_HEADER,
        errorCodes: syncErrorStatus,
        // The routes a device calls: those that name their protocol.
        routes: SYNC_ROUTES.list
          .filter((route) => route.protocolHeader)
          .map((route) => ({
            method: route.method,
            url: route.path,
            summary: route.summary,
            authenticated: route.auth === 'device-token',
            acceptsOutdatedClients: route.allowOutdated,
            query: inputJsonSchema(route.query),
            body: inputJsonSchema(route.body),
          })),
      };
      return description;
    });
  };
}
