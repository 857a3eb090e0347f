/**
 * Headers every answer of the sync server carries, errors and 404s included. The server speaks
 * JSON to devices, never HTML to a browser, so nothing may render, frame or cache its answers
 * (pulled changes hold patient data).
 */

/** The headers, by name. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

/** HSTS for a server reached over TLS: two years, subdomains included. */
export const HSTS_HEADER = 'max-age=63072000; includeSubDomains';

/** Something headers can be set on: a Fastify reply. */
interface HeaderTarget {
  header(name: string, value: string): unknown;
}

/** Sets every security header on a reply, and HSTS when the server runs over TLS. */
export function applySecurityHeaders(reply: HeaderTarget, tls: boolean): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  if (tls) reply.header('strict-transport-security', HSTS_HEADER);
}
