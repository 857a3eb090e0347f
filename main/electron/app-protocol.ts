/**
 * The `app:` protocol that serves every page of the desktop app: the built renderer
 * (dist/renderer) at `app://chairside/`, and the unlock prompt from memory at `app://unlock/`.
 * Nothing else is ever loaded: no http(s), no file:, no remote content. Every response carries
 * the same strict Content-Security-Policy as the browser host, so a page can run only its own
 * scripts. The handler takes plain Request/Response objects, so it runs under test in Node.
 */
import { lstat, readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { APP_HOST, APP_SCHEME, parseAppUrl } from './app-origin.js';
import { CONTENT_SECURITY_POLICY, UI_CONTENT_TYPES } from '../../shared/web-content.js';

/**
 * How Chromium treats the scheme. `standard` gives it real origins (relative URLs, storage per
 * origin), `secure` makes it a secure context like https, `supportFetchAPI` lets the page fetch
 * its own assets. Deliberately not set: `bypassCSP` (the CSP must apply), `corsEnabled` (it would
 * let other origins read our responses), `allowServiceWorkers`, `stream`.
 */
export const APP_SCHEME_PRIVILEGES = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true },
} as const;

export { CONTENT_SECURITY_POLICY };

/** Headers on every response of the protocol, errors included. */
export const APP_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // The renderer is read from the app's own files on every start; nothing needs a cache.
  'cache-control': 'no-store',
};

const CONTENT_TYPES = UI_CONTENT_TYPES;

/** The MIME type served for a file name; unknown kinds are plain bytes (and nosniff keeps them so). */
export function contentTypeOf(fileName: string): string {
  return CONTENT_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

/** A page held in memory (the unlock prompt). */
export interface InMemoryFile {
  readonly contentType: string;
  readonly body: string;
}

export interface AppProtocolOptions {
  /** The built renderer (dist/renderer), served at app://chairside/. */
  readonly rendererDir: string;
  /** Other hosts served from memory, by host and then by path ("/" is the page itself). */
  readonly inMemoryHosts?: Readonly<Record<string, Readonly<Record<string, InMemoryFile>>>>;
}

function respond(
  status: number,
  body: ConstructorParameters<typeof Response>[0],
  contentType = 'text/plain; charset=utf-8',
): Response {
  return new Response(body, { status, headers: { ...APP_RESPONSE_HEADERS, 'content-type': contentType } });
}

const notFound = () => respond(404, 'Not found');

/**
 * The file segments of a request path, or null when any segment could leave the directory or
 * name something a build never holds: `..`, `.`, dotfiles, encoded slashes or backslashes, NUL,
 * drive letters (`C:`), or malformed percent-encoding.
 */
export function safePathSegments(pathname: string): string[] | null {
  const segments: string[] = [];
  for (const raw of pathname.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment.startsWith('.') || /[/\\:\0]/.test(segment)) return null;
    segments.push(segment);
  }
  return segments;
}

/** The path of a regular file inside root for the segments, or null. Symbolic links are not followed. */
async function fileInside(root: string, segments: readonly string[]): Promise<string | null> {
  const file = resolve(root, ...(segments.length > 0 ? segments : ['index.html']));
  if (!file.startsWith(root + sep)) return null;
  try {
    // lstat, so a link planted in the build cannot point outside it.
    return (await lstat(file)).isFile() ? file : null;
  } catch {
    return null;
  }
}

/** The handler to pass to `protocol.handle('app', ...)`. */
export function createAppProtocolHandler(options: AppProtocolOptions): (request: Request) => Promise<Response> {
  const root = resolve(options.rendererDir);
  const inMemory = options.inMemoryHosts ?? {};
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return respond(405, 'Method not allowed');
    const url = parseAppUrl(request.url);
    if (url === null) return notFound();
    const segments = safePathSegments(url.pathname);
    if (segments === null) return notFound();
    if (url.host !== APP_HOST) {
      const files = Object.hasOwn(inMemory, url.host) ? inMemory[url.host]! : {};
      const path = `/${segments.join('/')}`;
      const file = Object.hasOwn(files, path) ? files[path] : undefined;
      return file ? respond(200, request.method === 'HEAD' ? null : file.body, file.contentType) : notFound();
    }
    const file = await fileInside(root, segments);
    if (file === null) return notFound();
    const body = request.method === 'HEAD' ? null : new Uint8Array(await readFile(file));
    return respond(200, body, contentTypeOf(file));
  };
}
