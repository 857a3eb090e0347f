/**
 * Checks every request passes before it reaches a route. The host listens on loopback, but a
 * web page on the same machine can still aim requests at it: DNS rebinding (evil.example
 * resolving to 127.0.0.1) arrives with a foreign Host header, a cross-site fetch with a foreign
 * Origin, and a form post with a body that is not application/json. All three are refused.
 */
import { isIPv4 } from 'node:net';

/** True for an IPv4 loopback address (127.0.0.0/8), IPv4-mapped or not, or ::1. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** True when the Host header names this server by loopback address or `localhost`, with its port. */
export function isAllowedHost(hostHeader: string | undefined, port: number | null): boolean {
  if (hostHeader === undefined || port === null) return false;
  const host = hostHeader.toLowerCase();
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/** True when there is no Origin header, or it is exactly the origin the Host header names. */
export function isSameOrigin(originHeader: string | undefined, hostHeader: string | undefined): boolean {
  if (originHeader === undefined) return true;
  // `Origin: null` (sandboxed frames, file: pages) is never this origin.
  return hostHeader !== undefined && originHeader.toLowerCase() === `http://${hostHeader.toLowerCase()}`;
}

/** True when the Content-Type is application/json (parameters such as charset allowed). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const mediaType = contentType.split(';', 1)[0] ?? '';
  return mediaType.trim().toLowerCase() === 'application/json';
}
