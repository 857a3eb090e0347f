/**
 * Protocol versions. Every /v1 request names the protocol its client speaks in the
 * `chairside-protocol` header. The server accepts its current version and the one before; an
 * older client is told to update (426 CLIENT_OUTDATED) except where refusing would strand its
 * offline work: authentication and pushes still work, so nothing recorded offline is lost.
 */
import type { FastifyRequest } from 'fastify';
import { SyncHttpError } from './errors.js';

/** The protocol version this server speaks. */
export const SYNC_PROTOCOL_VERSION = 1;

/** The request header that carries the client's protocol version. */
export const PROTOCOL_HEADER = 'chairside-protocol';

/** How a request's protocol version compares with the server's. */
export type ProtocolStanding = 'current' | 'outdated';

/**
 * Reads and checks the client's protocol version. Current or previous → 'current'; older →
 * 'outdated' when the route allows outdated clients (pushes), else CLIENT_OUTDATED.
 */
export function checkProtocolVersion(
  request: FastifyRequest,
  serverVersion: number,
  allowOutdated: boolean,
): ProtocolStanding {
  const header = request.headers[PROTOCOL_HEADER];
  if (typeof header !== 'string' || !/^[1-9][0-9]{0,5}$/.test(header)) {
    throw new SyncHttpError('PROTOCOL_UNSUPPORTED', `Send the protocol version in the ${PROTOCOL_HEADER} header.`);
  }
  const version = Number(header);
  if (version > serverVersion) {
    throw new SyncHttpError('PROTOCOL_UNSUPPORTED', 'This server is older than the client; update the server.');
  }
  if (version >= serverVersion - 1) return 'current';
  if (allowOutdated) return 'outdated';
  throw new SyncHttpError('CLIENT_OUTDATED', 'This app is too old for the sync server; update it.');
}
