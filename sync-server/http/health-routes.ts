/**
 * Liveness and readiness (`/health` answers while the process runs, `/ready` when storage answers
 * too) and the machine-readable API description (`/v1/api`): every route with JSON Schemas of
 * its query and body, generated from the same zod schemas the routes parse with.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { SyncHttpError, syncErrorStatus } from './errors.js';
import { PROTOCOL_HEADER } from './protocol.js';
import type { SyncServerContext } from './route-context.js';

// A well-formed id no clinic has: looking it up makes storage run a real query.
const PROBE_CLINIC_ID = '00000000-0000-4000-8000-000000000000';

/** JSON Schema of an input schema, as a client sends it. */
function inputJsonSchema(schema: z.ZodType | null): unknown {
  return schema === null ? null : z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** The health plugin, with the machine-readable API description at `GET /v1/api`. */
export function healthRoutes(context: SyncServerContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/health', async () => ({ status: 'ok' }));
    app.get('/ready', async (request) => {
      try {
        // TODO(storage): replace with SyncStorage.ping() once the storage offers one.
        await context.storage.getClinic(PROBE_CLINIC_ID);
      } catch (error) {
        request.log.error({ event: 'ready.storage_unreachable', error: (error as Error).name }, 'not ready');
        throw new SyncHttpError('NOT_READY', 'The storage is not reachable.');
      }
      return { status: 'ready' };
    });
    let description: unknown = null;
    app.get('/v1/api', async () => {
      description ??= {
        protocolVersion: context.protocolVersion,
        oldestAcceptedProtocolVersion: Math.max(1, context.protocolVersion - 1),
        protocolHeader: PROTOCOL_HEADER,
        errorCodes: syncErrorStatus,
        routes: context.routes.map((route) => ({
          method: route.method,
          url: route.url,
          summary: route.summary,
          authenticated: route.authenticated,
          acceptsOutdatedClients: route.allowOutdated,
          query: inputJsonSchema(route.query),
          body: inputJsonSchema(route.body),
        })),
      };
      return description;
    });
  };
}
