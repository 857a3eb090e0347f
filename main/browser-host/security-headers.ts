/**
 * Response headers every reply of the browser host carries, errors and 404s included. The host
 * serves a clinic's patient records to a browser on this machine, so the page may run only its
 * own code, may not be framed or opened by another site, and nothing is cached.
 */
import { CONTENT_SECURITY_POLICY } from '../../shared/web-content.js';

export { CONTENT_SECURITY_POLICY };

/** The headers, by name. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Every /api answer can hold patient data. The UI's files get it too: they are small, served
  // from loopback, and a stale cached UI after an update would be worse than a reload.
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Something headers can be set on: a Fastify reply. */
interface HeaderTarget {
  header(name: string, value: string): unknown;
}

/** Sets every security header on a reply. */
export function applySecurityHeaders(reply: HeaderTarget): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
}
