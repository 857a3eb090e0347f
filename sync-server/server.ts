/**
 * The sync server's Fastify app: `createSyncServer` wires the storage, the server keys and a
 * clock into one plugin per area (health, devices, sync, audit), behind one error envelope,
 * security headers on every answer, a body limit and structured logs that never carry a request
 * body (pulled and pushed changes hold patient data). The caller listens and closes; closing
 * waits for requests in flight, so no write a device was told succeeded is lost.
 */
import { SignatureVerifierPool } from './sync/signature-pool.js';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import { AuthRateLimits, type RateLimitSettings, type RateLimitStore } from './auth/rate-limits.js';
import type { ServerKeys } from './auth/server-keys.js';
import { UsedChallenges } from './auth/tokens.js';
import { ClinicAuditLogs } from './http/audit-log.js';
import { auditRoutes } from './http/audit-routes.js';
import { changeRoutes } from './http/change-routes.js';
import { deviceRoutes } from './http/device-routes.js';
import { SyncHttpError, envelopeForFrameworkError, sendSyncError } from './http/errors.js';
import { healthRoutes } from './http/health-routes.js';
import { liveRoutes } from './http/live-routes.js';
import { snapshotRoutes } from './http/snapshot-routes.js';
import { SnapshotCache, type SnapshotCacheOptions } from './snapshot/snapshot-cache.js';
import { SYNC_PROTOCOL_VERSION } from './http/protocol.js';
import type { SyncServerContext } from './http/route-context.js';
import { applySecurityHeaders } from './http/security-headers.js';
import { type ChangeNotifier, InProcessChangeNotifier } from './live/change-notifier.js';
import { LiveChannel } from './live/live-channel.js';
import { DEFAULT_LIVE_TIMINGS, type LiveTimings } from './live/live-stream.js';
import { trackUnusedConnections } from './live/unused-connections.js';
import { nonBlockingLogDestination } from './log-destination.js';
import { nodeSha256 } from './storage/node-crypto.js';
import { DeviceRevokedError, InvalidInputError, type SyncStorage, UnknownDeviceError } from './storage/storage.js';

/** Largest request body: a push of 100 transactions fits; attachments will have their own route. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

/** What the server is built from. */
export interface SyncServerOptions {
  readonly storage: SyncStorage;
  readonly serverKeys: ServerKeys;
  readonly clock: Clock;
  /** Where logs go (pino); by default a JSON logger on stdout that never blocks (log-destination.ts). */
  readonly logger?: Logger;
  readonly bodyLimit?: number;
  readonly rateLimits?: RateLimitSettings;
  /** Where brute-force counts live: memory (default, one process) or PostgreSQL shared by every process. */
  readonly rateLimitStore?: RateLimitStore;
  /** The protocol version this server speaks (tests override it). */
  readonly protocolVersion?: number;
  /** TLS certificate and key; with them the server speaks HTTPS only and sends HSTS. */
  readonly tls?: Pick<HttpsServerOptions, 'cert' | 'key'>;
  /**
   * Addresses or CIDR ranges of the reverse proxies in front of the server (`10.0.0.5`,
   * `10.0.0.0/24`, `::1`). A request from one of them is taken to come from the client its
   * X-Forwarded-For names (the brute-force limits key on that address); from any other peer, and
   * always when this is absent or empty, forwarded headers are ignored and the peer counts.
   */
  readonly trustedProxies?: readonly string[];
  /** How far a pushed change's clock may run ahead of the server's before it is held back (default 5 min). */
  readonly maxClockAheadMs?: number;
  /**
   * Where committed appends are announced and heard (live/): in-process by default, which is
   * right for one process (SQLite); processes sharing PostgreSQL pass a PostgresChangeNotifier.
   * The caller closes a notifier it passed.
   */
  readonly notifier?: ChangeNotifier;
  /** Heartbeat and revocation-check periods of live streams (tests shorten them). */
  readonly liveTimings?: Partial<LiveTimings>;
  /** How the clinic snapshots are held and refreshed (snapshot/snapshot-cache.ts; tests cut chunks small). */
  readonly snapshots?: SnapshotCacheOptions;
}

/** Builds the server; call `listen` on it. Closing it does not close the storage. */
export function createSyncServer(options: SyncServerOptions): FastifyInstance {
  const log = options.logger ?? pino({ level: 'info', base: { service: 'sync-server' } }, nonBlockingLogDestination());
  const tls = options.tls !== undefined;
  const app = Fastify({
    loggerInstance: log,
    // Fastify's request logs would record URLs; the onResponse hook logs the route pattern instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Never `true`: that believes X-Forwarded-For from any peer, so every client could name its
    // own address and escape the per-address limits. A list trusts only those peers (proxy-addr).
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    ...(tls ? { https: { ...options.tls, minVersion: 'TLSv1.2' as const } } : {}),
    frameworkErrors: (error, _request, reply) => {
      applySecurityHeaders(reply, tls);
      const { code, message } = envelopeForFrameworkError(error);
      void sendSyncError(reply, code, message);
    },
  }) as unknown as FastifyInstance;

  const context: SyncServerContext = {
    storage: options.storage,
    keys: options.serverKeys,
    clock: options.clock,
    log,
    protocolVersion: options.protocolVersion ?? SYNC_PROTOCOL_VERSION,
    rateLimits: new AuthRateLimits(options.rateLimits, options.rateLimitStore),
    usedChallenges: new UsedChallenges(options.storage),
    auditLogs: new ClinicAuditLogs(nodeSha256, options.serverKeys),
    signatures: new SignatureVerifierPool(),
    ...(options.maxClockAheadMs === undefined ? {} : { maxClockAheadMs: options.maxClockAheadMs }),
  };

  const notifier = options.notifier ?? new InProcessChangeNotifier();
  const live = new LiveChannel(notifier, options.storage, log, {
    ...DEFAULT_LIVE_TIMINGS,
    ...options.liveTimings,
  });

  // Devices speak JSON only; a text/plain body is what a cross-site form could send.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('clinicId', null);
  app.decorateRequest('deviceId', null);

  // Closing waits for requests in flight. A keep-alive connection whose request ends after close
  // began would hold the server open, so answers given while closing also close their connection.
  let closing = false;
  const connections = trackUnusedConnections(app.server, tls);
  app.addHook('onClose', async () => {
    await context.signatures.close();
  });
  app.addHook('preClose', async () => {
    closing = true;
    // Live streams never end on their own; ending them lets close finish. Devices reconnect.
    live.hub.closeAll();
    connections.closeUnused();
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    applySecurityHeaders(reply, tls);
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the URL (its query can hold ids), and never a body.
    request.log.info(
      {
        event: 'request',
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        clinicId: request.clinicId,
        deviceId: request.deviceId,
      },
      'request',
    );
  });

  app.setErrorHandler<FastifyError | SyncHttpError>((error, request, reply) => {
    if (error instanceof SyncHttpError) return sendSyncError(reply, error.code, error.message, error.retryAfterMs);
    // A storage refusal no route translated: its class says what happened; its message stays here.
    if (error instanceof InvalidInputError)
      return sendSyncError(reply, 'VALIDATION_FAILED', 'The request is not valid.');
    if (error instanceof DeviceRevokedError || error instanceof UnknownDeviceError) {
      return sendSyncError(reply, 'DEVICE_REVOKED', 'This device was revoked; it must be enrolled again.');
    }
    const { code, message } = envelopeForFrameworkError(error);
    // The kind of failure only: messages can quote the request or stored values.
    if (code === 'INTERNAL') {
      request.log.error({ event: 'request.failed', error: error.name, code: error.code ?? null }, 'request failed');
    }
    return sendSyncError(reply, code, message);
  });

  app.setNotFoundHandler((_request, reply) => sendSyncError(reply, 'NOT_FOUND', 'There is no such route.'));

  void app.register(healthRoutes(context));
  void app.register(deviceRoutes(context));
  void app.register(changeRoutes(context, live));
  void app.register(liveRoutes(context, live, tls));
  void app.register(auditRoutes(context));
  // Snapshots of the clinics held are rebuilt in the background after their logs grow, so a
  // joining device does not wait for a build (snapshot/snapshot-cache.ts).
  const snapshots = new SnapshotCache(
    {
      clock: options.clock,
      sign: options.serverKeys.signCheckpoint,
      openStore: (clinicId) => options.storage.clinic(clinicId),
      onRefreshFailed: (clinicId, error) =>
        log.warn(
          { event: 'sync.snapshot_refresh_failed', clinicId, error: error instanceof Error ? error.name : 'unknown' },
          'snapshot refresh failed',
        ),
    },
    options.snapshots,
  );
  const stopRefreshing = notifier.subscribe((clinicId, latestSeq) => snapshots.logGrew(clinicId, latestSeq));
  app.addHook('onClose', async () => {
    stopRefreshing();
    await snapshots.close();
  });
  void app.register(snapshotRoutes(context, snapshots));
  return app;
}
