/**
 * What every route of the sync server shares: the server's dependencies, the authenticated
 * device of a request, and `defineRoute`, which runs the same checks in the same order for
 * every route so none can skip one:
 *
 * 1. refuse any header that tries to name a clinic (the clinic comes from the token only);
 * 2. check the protocol version (outdated clients may still authenticate and push);
 * 3. authenticate the bearer token and load the device, refusing a revoked one;
 * 4. parse query and body with strict zod schemas (unknown keys refused);
 * 5. run the handler.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { Base64Error, decodeBase64 } from '../../shared/merkle/base64.js';
import type { AuthRateLimits } from '../auth/rate-limits.js';
import type { ServerKeys } from '../auth/server-keys.js';
import { type TokenClaims, type UsedChallenges, verifyToken } from '../auth/tokens.js';
import { type ClinicStore, type Device, type SyncStorage, UnknownClinicError } from '../storage/storage.js';
import { SyncHttpError } from './errors.js';
import { type ProtocolStanding, checkProtocolVersion } from './protocol.js';
import type { ClinicAuditLogs } from './audit-log.js';

/** The dependencies routes are given. */
export interface SyncServerContext {
  readonly storage: SyncStorage;
  readonly keys: ServerKeys;
  readonly clock: Clock;
  readonly log: Logger;
  readonly protocolVersion: number;
  readonly rateLimits: AuthRateLimits;
  readonly usedChallenges: UsedChallenges;
  readonly auditLogs: ClinicAuditLogs;
  /** Every route defined with defineRoute, for the machine-readable API description. */
  readonly routes: RouteDescription[];
  /** How far a pushed change's clock may run ahead of the server's (sync/validate-batch.ts default otherwise). */
  readonly maxClockAheadMs?: number;
}

/** One route as the API description lists it. */
export interface RouteDescription {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly summary: string;
  readonly authenticated: boolean;
  readonly allowOutdated: boolean;
  readonly body: z.ZodType | null;
  readonly query: z.ZodType | null;
}

/** The device a request authenticated as, and the handle of its clinic (the only one it may reach). */
export interface AuthenticatedDevice {
  readonly claims: TokenClaims;
  readonly store: ClinicStore;
  readonly device: Device;
}

/** What a handler receives. */
export interface RouteCall<Body, Query> {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly body: Body;
  readonly query: Query;
  readonly protocol: ProtocolStanding;
  /** The authenticated device; reading it on an unauthenticated route throws. */
  readonly auth: AuthenticatedDevice;
}

/** A route's declaration. */
export interface RouteDefinition<BodySchema extends z.ZodType, QuerySchema extends z.ZodType> {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  /** One line for the API description. */
  readonly summary: string;
  /** True for routes a device must hold a token for. */
  readonly authenticated: boolean;
  /** True when an outdated client is still served (authentication and pushes). */
  readonly allowOutdated?: boolean;
  readonly body?: BodySchema;
  readonly query?: QuerySchema;
  handler(call: RouteCall<z.output<BodySchema>, z.output<QuerySchema>>): Promise<unknown>;
}

const NO_INPUT = z.strictObject({});

/** Headers that try to choose a clinic; refused outright so no code path is ever tempted to read one. */
const CLINIC_HEADER = /clinic/i;

/** Parses input with a strict schema; a failure names the kind of problem, never the values sent. */
export function parseRequestInput<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new SyncHttpError('VALIDATION_FAILED', `The request is not valid (${issue?.code ?? 'invalid'}).`);
}

/** Canonical standard base64 (RFC 4648) of exactly `length` bytes, decoded. */
export function base64BytesSchema(length: number) {
  return z
    .string()
    .max(4 * Math.ceil(length / 3))
    .transform((text, context) => {
      try {
        const bytes = decodeBase64(text);
        if (bytes.length === length) return bytes;
      } catch (error) {
        if (!(error instanceof Base64Error)) throw error;
      }
      context.addIssue({ code: 'custom', message: `must be base64 of ${length} bytes` });
      return z.NEVER;
    });
}

/** A decimal non-negative integer in a query string. */
export const queryCountSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .transform(Number)
  .refine(Number.isSafeInteger);

/** Registers a route that runs the shared checks before its handler (see the file header). */
export function defineRoute<
  BodySchema extends z.ZodType = typeof NO_INPUT,
  QuerySchema extends z.ZodType = typeof NO_INPUT,
>(app: FastifyInstance, context: SyncServerContext, route: RouteDefinition<BodySchema, QuerySchema>): void {
  context.routes.push({
    method: route.method,
    url: route.url,
    summary: route.summary,
    authenticated: route.authenticated,
    allowOutdated: route.allowOutdated ?? false,
    body: route.body ?? null,
    query: route.query ?? null,
  });
  app.route({
    method: route.method,
    url: route.url,
    handler: async (request, reply) => {
      for (const name of Object.keys(request.headers)) {
        if (CLINIC_HEADER.test(name)) {
          throw new SyncHttpError('FORBIDDEN', 'The clinic comes from the access token, never from a header.');
        }
      }
      const protocol = checkProtocolVersion(request, context.protocolVersion, route.allowOutdated ?? false);
      // Authenticate before parsing: a caller without a valid token learns nothing about the schemas.
      const auth = route.authenticated ? await authenticate(context, request) : null;
      const query = parseRequestInput(route.query ?? NO_INPUT, request.query);
      const body = route.method === 'GET' ? {} : parseRequestInput(route.body ?? NO_INPUT, request.body);
      const result = await route.handler({
        request,
        reply,
        body: body as z.output<BodySchema>,
        query: query as z.output<QuerySchema>,
        protocol,
        get auth(): AuthenticatedDevice {
          // A handler of an unauthenticated route reading the device is a bug, not a refusal.
          if (auth === null) throw new Error(`${route.url} is not an authenticated route`);
          return auth;
        },
      });
      return result;
    },
  });
}

/**
 * The device a bearer token names, checked against storage on every request: a token outlives
 * a revocation by up to its lifetime otherwise. Every failure before the device is known is one
 * undistinguished 401.
 */
async function authenticate(context: SyncServerContext, request: FastifyRequest): Promise<AuthenticatedDevice> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{1,2048})$/.exec(header) : null;
  const claims = match ? verifyToken(context.keys, match[1]!, context.clock.now()) : null;
  if (!claims) throw new SyncHttpError('UNAUTHENTICATED', 'Sign in again: the access token is missing or invalid.');
  let store: ClinicStore;
  try {
    store = await context.storage.clinic(claims.clinicId);
  } catch (error) {
    if (error instanceof UnknownClinicError) {
      throw new SyncHttpError('UNAUTHENTICATED', 'Sign in again: the access token is missing or invalid.');
    }
    throw error;
  }
  const device = await store.getDevice(claims.deviceId);
  if (!device || device.revokedAt !== null) {
    request.log.warn({ event: 'auth.revoked_device', clinicId: claims.clinicId, deviceId: claims.deviceId }, 'refused');
    await store.appendSecurityEvent({
      kind: 'device.revoked_request',
      deviceId: claims.deviceId,
      userId: null,
      details: { route: request.routeOptions.url ?? 'unknown' },
    });
    throw new SyncHttpError('DEVICE_REVOKED', 'This device was revoked; it must be enrolled again.');
  }
  request.clinicId = claims.clinicId;
  request.deviceId = claims.deviceId;
  return { claims, store, device };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated clinic, for logs; null before authentication. */
    clinicId: string | null;
    /** The authenticated device, for logs; null before authentication. */
    deviceId: string | null;
  }
}
