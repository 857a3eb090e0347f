/**
 * The browser host: the core's API over HTTP on loopback (Fastify), for machines without the
 * desktop shell. Same channels, same pipeline; the transport adds the session cookie, CSRF
 * checks, request guards and security headers.
 */
import type { AddressInfo } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { ClinicCore } from '../core/clinic-core.js';
import { createLogger } from '../core/logger.js';
import { registerApiRoutes } from './api-routes.js';
import { envelopeForFrameworkError, sendEnvelope, sendHostError } from './error-envelope.js';
import { registerLandingPage } from './landing-page.js';
import { isAllowedHost, isJsonContentType, isLoopbackAddress, isSameOrigin } from './request-guards.js';
import { SECURITY_HEADERS, applySecurityHeaders } from './security-headers.js';
import { registerStaticFiles } from './static-files.js';

const log = createLogger('browser-host');

/** The only address the host binds: the API is for this computer's browser, not the network. */
export const LOOPBACK_HOST = '127.0.0.1';

/** Largest request body: channel inputs are small forms; attachments will have their own route. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface BrowserHostOptions {
  /** Largest accepted request body in bytes (1 MiB by default). */
  readonly bodyLimit?: number;
  /** A built renderer to serve instead of the placeholder page; the desktop-app work provides it. */
  readonly staticDir?: string;
}

/** The port the server listens on, or null before it listens. */
function listeningPort(app: FastifyInstance): number | null {
  const address = app.server.address();
  return address !== null && typeof address === 'object' ? address.port : null;
}

/** A raw HTTP/1.1 error response for sockets Fastify cannot answer (malformed requests). */
function rawErrorResponse(): string {
  const body = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: 'The request is not valid.' } });
  const headers = Object.entries(SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}`);
  return [
    'HTTP/1.1 400 Bad Request',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...headers,
    '',
    body,
  ].join('\r\n');
}

/** Builds the host for a core; call `listenOnLoopback` to serve it. */
export function createBrowserHost(core: ClinicCore, options: BrowserHostOptions = {}): FastifyInstance {
  const app = Fastify({
    // Fastify's logger would record URLs and could be pointed at bodies; the host logs events itself.
    logger: false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // The peer address is the rate-limit key; no proxy sits in front of a loopback server.
    trustProxy: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors Fastify raises before routing (an undecodable URL) skip the hooks below.
    frameworkErrors: (error, _request, reply) => {
      applySecurityHeaders(reply);
      const { status, body } = envelopeForFrameworkError(error);
      void sendEnvelope(reply, status, body);
    },
    clientErrorHandler: (_error, socket) => {
      if (socket.writable) socket.end(rawErrorResponse());
      else socket.destroy();
    },
  });
  // A text/plain POST is what a cross-site form or a no-preflight fetch can send; JSON only.
  app.removeContentTypeParser('text/plain');
  void app.register(fastifyCookie);

  app.addHook('onSend', async (_request, reply, payload) => {
    applySecurityHeaders(reply);
    return payload;
  });

  app.addHook('onRequest', async (request, reply) => {
    // Defence in depth for a host that someone binds more widely than listenOnLoopback allows.
    if (!isLoopbackAddress(request.socket.remoteAddress)) {
      return sendHostError(reply, 'FORBIDDEN', 'This server only answers this computer.');
    }
    if (!isAllowedHost(request.headers.host, listeningPort(app))) {
      return sendHostError(
        reply,
        'FORBIDDEN',
        'This server only answers requests addressed to it by 127.0.0.1 or localhost.',
      );
    }
    if (!isSameOrigin(request.headers.origin, request.headers.host)) {
      return sendHostError(reply, 'FORBIDDEN', 'Requests from other sites are refused.');
    }
    if (request.method === 'POST' && !isJsonContentType(request.headers['content-type'])) {
      const { status, body } = envelopeForFrameworkError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' });
      return sendEnvelope(reply, status, body);
    }
    return undefined;
  });

  app.setErrorHandler<FastifyError>((error, _request, reply) => {
    const { status, body } = envelopeForFrameworkError(error);
    // The kind of failure only: messages can quote the request.
    if (status >= 500) log.error('request failed', { error: error.name, code: error.code ?? null });
    return sendEnvelope(reply, status, body);
  });

  app.setNotFoundHandler((_request, reply) => sendHostError(reply, 'NOT_FOUND', 'There is no such page.'));

  registerApiRoutes(app, core);
  if (options.staticDir !== undefined) registerStaticFiles(app, options.staticDir);
  else registerLandingPage(app);
  return app;
}

/** Listens on 127.0.0.1 only; any other host is refused. Resolves to the real port (useful with port 0). */
export async function listenOnLoopback(
  app: FastifyInstance,
  options: { readonly port: number; readonly host?: string },
): Promise<{ port: number; url: string }> {
  const host = options.host ?? LOOPBACK_HOST;
  if (host !== LOOPBACK_HOST) {
    throw new Error(`The browser host only listens on ${LOOPBACK_HOST}, not on ${host}: it serves patient data.`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new Error(`The port must be a whole number from 0 to 65535, not ${options.port}.`);
  }
  await app.listen({ host, port: options.port });
  const port = (app.server.address() as AddressInfo).port;
  return { port, url: `http://${LOOPBACK_HOST}:${port}` };
}
