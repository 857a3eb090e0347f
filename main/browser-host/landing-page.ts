/**
 * `GET /` until a renderer is built: a plain page saying the API runs. No inline script or
 * style, so it passes the host's strict Content-Security-Policy as is.
 */
import type { FastifyInstance } from 'fastify';

const LANDING_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Chairside</title>
  </head>
  <body>
    <h1>Chairside</h1>
    <p>Chairside's API is running on this computer.</p>
    <p>This host serves the API only: the user interface is not built here. Run <code>npm run build:renderer</code> and start Chairside with <code>npm start</code> to use it.</p>
  </body>
</html>
`;

/** Serves the placeholder page at `/`. */
export function registerLandingPage(app: FastifyInstance): void {
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(LANDING_PAGE));
}
