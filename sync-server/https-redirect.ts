/**
 * The optional plain-HTTP listener beside a TLS server (`--redirect-http PORT`): it answers every
 * request with 308 Permanent Redirect to the same path on the HTTPS origin, with an empty body,
 * and never serves the API. 308, unlike 301, keeps the method and body, so a device that was
 * configured with an http:// URL still reaches the API, over TLS, with its POST intact; the HTTPS
 * answer then carries HSTS, so a browser stops trying plain HTTP at all.
 *
 * The redirect names the host the client asked for (its Host header, so it works behind a
 * name or an address) only when that header is a plain host name or address; anything else gets
 * the configured fallback host, so a forged header cannot inject text into the Location header.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';

/** Where the redirect points. */
export interface HttpsRedirectOptions {
  /** The port the HTTPS server listens on (omitted from the URL when 443). */
  readonly httpsPort: number;
  /** The host named when the request's Host header is missing or not a plain host. */
  readonly fallbackHost: string;
}

// A DNS name or IPv4 address, or a bracketed IPv6 address, optionally with a port (dropped).
const HOST_HEADER =
  /^(?<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** The https URL a plain-HTTP request is redirected to. */
export function httpsLocation(
  request: Pick<IncomingMessage, 'headers' | 'url'>,
  options: HttpsRedirectOptions,
): string {
  const header = request.headers.host;
  const match = typeof header === 'string' ? HOST_HEADER.exec(header) : null;
  const fallback = options.fallbackHost.includes(':') ? `[${options.fallbackHost}]` : options.fallbackHost;
  const host = match?.groups?.host ?? fallback;
  const port = options.httpsPort === 443 ? '' : `:${options.httpsPort}`;
  // Only an origin-form target ("/path?query") is kept; an absolute or asterisk form becomes "/".
  const path = request.url?.startsWith('/') ? request.url : '/';
  return `https://${host}${port}${path}`;
}

/** A plain-HTTP server that redirects every request to HTTPS; the caller listens and closes it. */
export function createHttpsRedirectServer(options: HttpsRedirectOptions): Server {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    // The request body is never read: the connection closes after the answer, discarding it.
    response.writeHead(308, {
      location: httpsLocation(request, options),
      'content-length': '0',
      'cache-control': 'no-store',
      connection: 'close',
    });
    response.end();
  });
  // Slow or idle clients must not hold sockets on a listener that only ever sends a header.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 1_000;
  return server;
}
