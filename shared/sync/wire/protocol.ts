/**
 * The protocol version of the sync wire and the header that carries it. Every `/v1` request names
 * the version its client speaks; the server serves its own version and the one before, and tells
 * an older client to update (426 CLIENT_OUTDATED) except on the routes declared
 * `allowOutdated` (authentication and pushes), so nothing recorded offline is stranded.
 *
 * Bump SYNC_PROTOCOL_VERSION when a declaration in this folder changes incompatibly (a field
 * removed or renamed, a route gone, an answer a device of the previous version cannot parse).
 */

/** The protocol version device and server speak. */
export const SYNC_PROTOCOL_VERSION = 1;

/** The request header that carries the client's protocol version. */
export const PROTOCOL_HEADER = 'chairside-protocol';

/** The request header that carries a device's access token, as `Bearer <token>`. */
export const AUTHORIZATION_HEADER = 'authorization';

/** The oldest client version a server of `serverVersion` still calls current: the one before its own. */
export function oldestCurrentProtocolVersion(serverVersion: number): number {
  return Math.max(1, serverVersion - 1);
}

/** How a client's protocol version compares with a server's. */
export type ProtocolStanding = 'current' | 'outdated' | 'newer' | 'malformed';

/** Classifies a protocol header's value against the server's version (the rules in the file header). */
export function protocolStanding(header: unknown, serverVersion: number): ProtocolStanding {
  if (typeof header !== 'string' || !/^[1-9][0-9]{0,5}$/.test(header)) return 'malformed';
  const version = Number(header);
  if (version > serverVersion) return 'newer';
  return version >= oldestCurrentProtocolVersion(serverVersion) ? 'current' : 'outdated';
}
