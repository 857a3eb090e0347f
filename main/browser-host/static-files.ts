/**
 * Serves a built renderer from a directory (the seam the desktop-app work plugs into): `/` is
 * its index.html, other paths are files inside it. Nothing outside the directory, no dotfiles,
 * and /api stays the API's.
 */
import { realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { UI_CONTENT_TYPES } from '../../shared/web-content.js';
import { sendHostError } from './error-envelope.js';

const CONTENT_TYPES = UI_CONTENT_TYPES;

/** The real path of a file inside root, or null when the request points elsewhere or at nothing. */
async function fileInside(root: string, requested: string): Promise<string | null> {
  const segments = requested.split('/').filter((segment) => segment.length > 0);
  // Dotfiles (.env, .git) are never part of a build; `..` never leaves the root.
  if (segments.some((segment) => segment.startsWith('.') || segment.includes('\\') || segment.includes('\0'))) {
    return null;
  }
  try {
    // realpath, so a symlink inside the build cannot point out of it.
    const file = await realpath(resolve(root, ...(segments.length > 0 ? segments : ['index.html'])));
    if (!file.startsWith(root + sep)) return null;
    return (await stat(file)).isFile() ? file : null;
  } catch {
    return null;
  }
}

/** Serves the files of staticDir for GET requests outside /api. */
export function registerStaticFiles(app: FastifyInstance, staticDir: string): void {
  const root = realpathSync(staticDir);
  app.get<{ Params: { '*': string } }>('/*', async (request, reply) => {
    const requested = request.params['*'];
    if (requested === 'api' || requested.startsWith('api/')) {
      return sendHostError(reply, 'NOT_FOUND', 'There is no such page.');
    }
    const file = await fileInside(root, requested);
    if (file === null) return sendHostError(reply, 'NOT_FOUND', 'There is no such page.');
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    return reply.type(type).send(await readFile(file));
  });
}
