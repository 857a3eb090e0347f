/**
 * Graceful shutdown needs every connection without a request in flight closed. Node's own
 * `closeIdleConnections` (which Fastify relies on) skips a connection that never carried a
 * request: a client pool that opened a socket it then did not use (fetch opens one per
 * concurrent request, as a device's live stream and its round do) would hold `close` open until
 * the headers timeout. This tracks requests per socket so shutdown can close all the others.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Tracks a server's sockets; `closeUnused` destroys those with no request in flight. Over TLS the
 * sockets requests arrive on are the TLS ones, so those are tracked (a handshake still under way
 * is not, and is left to Node).
 */
export function trackUnusedConnections(server: Server, tls: boolean): { closeUnused(): void } {
  const sockets = new Set<Socket>();
  const inFlight = new WeakMap<Socket, number>();
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    response.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
  });
  return {
    closeUnused() {
      for (const socket of sockets) if ((inFlight.get(socket) ?? 0) === 0) socket.destroy();
    },
  };
}
