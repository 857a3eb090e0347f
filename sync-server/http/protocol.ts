/**
 * The server's check of a request's protocol version (the rules in shared/sync/wire/protocol.ts):
 * current or previous → 'current'; older → 'outdated' where the route allows outdated clients
 * (authentication and pushes), else CLIENT_OUTDATED; newer or malformed → PROTOCOL_UNSUPPORTED.
 */
import type { FastifyRequest } from 'fastify';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION, protocolStanding } from '../../shared/sync/wire/protocol.js';
import { SyncHttpError } from './errors.js';

// Re-exported for the server's callers and tests; declared once, in shared/sync/wire/protocol.ts.
export { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION };

/** How a served request's protocol version compares with the server's. */
export type ProtocolStanding = 'current' | 'outdated';

/** Reads and checks the client's protocol version (see the file header). */
export function checkProtocolVersion(
  request: FastifyRequest,
  serverVersion: number,
  allowOutdated: boolean,
): ProtocolStanding {
  const standing = protocolStanding(request.headers[PROTOCOL_HEADER], serverVersion);
  switch (standing) {
    case 'malformed':
      throw new SyncHttpError('PROTOCOL_UNSUPPORTED', `Send the protocol version in the ${PROTOCOL_HEADER} header.`);
    case 'newer':
      throw new SyncHttpError('PROTOCOL_UNSUPPORTED', 'This server is older than the client; update the server.');
    case 'current':
      return 'current';
    case 'outdated':
      if (allowOutdated) return 'outdated';
      throw new SyncHttpError('CLIENT_OUTDATED', 'This app is too old for the sync server; update it.');
  }
}
