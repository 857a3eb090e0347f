/**
 * Liveness, readiness and the machine-readable API description. These are for probes and
 * tools: they need no token and no protocol header.
 */
import { z } from 'zod';
import { defineSyncRoute } from './route.js';

export const healthLive = defineSyncRoute({
  name: 'health.live',
  method: 'GET',
  path: '/health',
  summary: 'Answers while the process runs.',
  protocolHeader: false,
  auth: 'none',
  answer: z.strictObject({ status: z.literal('ok') }),
});

export const healthReady = defineSyncRoute({
  name: 'health.ready',
  method: 'GET',
  path: '/ready',
  summary: 'Answers when the storage answers too (503 NOT_READY otherwise).',
  protocolHeader: false,
  auth: 'none',
  answer: z.strictObject({ status: z.literal('ready') }),
});

/** One route as `GET /v1/api` describes it, with JSON Schemas of its inputs. */
const describedRouteSchema = z.strictObject({
  method: z.enum(['GET', 'POST']),
  url: z.string(),
  summary: z.string(),
  authenticated: z.boolean(),
  acceptsOutdatedClients: z.boolean(),
  query: z.unknown(),
  body: z.unknown(),
});

export const healthApi = defineSyncRoute({
  name: 'health.api',
  method: 'GET',
  path: '/v1/api',
  summary: 'Describes every /v1 route with JSON Schemas of its query and body, and the error codes.',
  protocolHeader: false,
  auth: 'none',
  answer: z.strictObject({
    protocolVersion: z.number().int().min(1),
    oldestAcceptedProtocolVersion: z.number().int().min(1),
    protocolHeader: z.string(),
    errorCodes: z.record(z.string(), z.number().int()),
    routes: z.array(describedRouteSchema),
  }),
});

/** The health routes, in registration order. */
export const HEALTH_ROUTES = [healthLive, healthReady, healthApi] as const;
