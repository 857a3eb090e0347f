/**
 * What every route of the sync server shares: the server's dependencies, the authenticated
 * device of a request, and `defineRoute`, which registers a handler against its declaration in
 * shared/sync/wire/ (method, path, schemas, headers, protocol rule) and runs the same checks in
 * the same order for every route so none can skip one:
 *
 * 1. refuse any header that tries to name a clinic (the clinic comes from the token only);
 * 2. check the protocol version when the route needs one (outdated clients may still
 *    authenticate and push);
 * 3. authenticate the bearer token and load the device, refusing a revoked one;
 * 4. parse params, query and body with the declared strict zod schemas (unknown keys refused);
 * 5. run the handler, whose answer the compiler holds to the declared answer schema.
 */
import type { SignatureVerifierPool } from '../sync/signature-pool.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { type AnySyncRoute, NO_INPUT } from '../../shared/sync/wire/route.js';
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
  /** Verifies pushed batches' user signatures off the event loop (sync/signature-pool.ts). */
  readonly signatures: SignatureVerifierPool;
  /** How far a pushed change's clock may run ahead of the server's (sync/validate-batch.ts default otherwise). */
  readonly maxClockAheadMs?: number;
}

/** The device a request authenticated as, and the handle of its clinic (the only one it may reach). */
export interface AuthenticatedDevice {
  readonly claims: TokenClaims;
  readonly store: ClinicStore;
  readonly device: Device;
}

/** The parsed value of a declared input, or an empty object where the route declares none. */
type Parsed<Schema> = Schema extends z.ZodType ? z.output<Schema> : Record<string, never>;

/** What a handler receives. */
export interface RouteCall<Route extends AnySyncRoute> {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly params: Parsed<Route['params']>;
  readonly query: Parsed<Route['query']>;
  readonly body: Parsed<Route['body']>;
  readonly protocol: ProtocolStanding;
  /** The authenticated device; reading it on an unauthenticated route throws. */
  readonly auth: AuthenticatedDevice;
}

/** A value as JSON will carry it, read-only at every level: what a handler may answer. */
export type WireValue<T> =
  T extends ReadonlyArray<infer Item>
    ? readonly WireValue<Item>[]
    : T extends object
      ? { readonly [K in keyof T]: WireValue<T[K]> }
      : T;

/** The answer a JSON route's handler returns: the declared answer schema's input. */
export type RouteAnswer<Route extends AnySyncRoute> = WireValue<z.input<Route['answer']>>;

/** A handler of a JSON route. */
export type RouteHandler<Route extends AnySyncRoute> = (call: RouteCall<Route>) => Promise<RouteAnswer<Route>>;

/** A handler of an event-stream route: it takes the reply over and answers nothing itself. */
export type StreamRouteHandler<Route extends AnySyncRoute> = (call: RouteCall<Route>) => Promise<void>;

/** Server-side choices a declaration leaves open. */
export interface RouteOptions<Route extends AnySyncRoute> {
  /**
   * Parses the body instead of the declared schema: the same schema with a server-only transform
   * (the push route remembers the changes it parsed, storage/parsed-changes.ts). Its output type
   * must be the declared one, and it must accept exactly what the declared schema accepts.
   */
  readonly body?: Route['body'] extends z.ZodType ? z.ZodType<z.output<Route['body']>> : never;
}

/** Headers that try to choose a clinic; refused outright so no code path is ever tempted to read one. */
const CLINIC_HEADER = /clinic/i;

/** Parses input with a strict schema; a failure names the kind of problem, never the values sent. */
export function parseRequestInput<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new SyncHttpError('VALIDATION_FAILED', `The request is not valid (${issue?.code ?? 'invalid'}).`);
}

/** Registers a JSON route's handler against its declaration (see the file header). */
export function defineRoute<Route extends AnySyncRoute>(
  app: FastifyInstance,
  context: SyncServerContext,
  route: Route,
  handler: RouteHandler<Route>,
  options: RouteOptions<Route> = {},
): void {
  if (route.answerKind !== 'json') throw new Error(`${route.name} is not a JSON route: use defineStreamRoute`);
  register(app, context, route, handler, options);
}

/** Registers an event-stream route's handler against its declaration; the handler takes the reply over. */
export function defineStreamRoute<Route extends AnySyncRoute>(
  app: FastifyInstance,
  context: SyncServerContext,
  route: Route,
  handler: StreamRouteHandler<Route>,
): void {
  if (route.answerKind !== 'event-stream') throw new Error(`${route.name} is not an event-stream route`);
  register(app, context, route, handler, {});
}

function register<Route extends AnySyncRoute>(
  app: FastifyInstance,
  context: SyncServerContext,
  route: Route,
  handler: (call: RouteCall<Route>) => Promise<unknown>,
  options: RouteOptions<Route>,
): void {
  const bodySchema: z.ZodType = options.body ?? route.body ?? NO_INPUT;
  app.route({
    method: route.method,
    url: route.path,
    handler: async (request, reply) => {
      for (const name of Object.keys(request.headers)) {
        if (CLINIC_HEADER.test(name)) {
          throw new SyncHttpError('FORBIDDEN', 'The clinic comes from the access token, never from a header.');
        }
      }
      const protocol: ProtocolStanding = route.protocolHeader
        ? checkProtocolVersion(request, context.protocolVersion, route.allowOutdated)
        : 'current';
      // Authenticate before parsing: a caller without a valid token learns nothing about the schemas.
      const auth = route.auth === 'device-token' ? await authenticate(context, request) : null;
      const params = parseRequestInput(route.params ?? NO_INPUT, request.params);
      const query = parseRequestInput(route.query ?? NO_INPUT, request.query);
      const body = route.method === 'GET' ? {} : parseRequestInput(bodySchema, request.body);
      return handler({
        request,
        reply,
        params: params as Parsed<Route['params']>,
        query: query as Parsed<Route['query']>,
        body: body as Parsed<Route['body']>,
        protocol,
        get auth(): AuthenticatedDevice {
          // A handler of an unauthenticated route reading the device is a bug, not a refusal.
          if (auth === null) throw new Error(`${route.path} is not an authenticated route`);
          return auth;
        },
      });
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
