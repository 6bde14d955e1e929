// What one client may hold of the server: how long it may take to send its
// headers, how long a request body may stall, how many connections may be
// open, and that a refused request's body is never read to its end.
import type { FastifyInstance } from 'fastify';
import type { ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { RegistryError } from '../formats/error-codes.js';
import { hasBody } from './request-body.js';

export interface ConnectionLimits {
  headerTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  maxConnections: number;
}

/** A client over max_connections is told to come back after this many seconds. */
const CONNECTIONS_RETRY_AFTER_SECONDS = 1;

/**
 * Node's server options. There is no total request timeout: a slow but
 * steady multi-GiB upload must finish. What is bounded is the time to
 * send the headers (checked every second, not Node's default 30 s) and,
 * per request, the silence in a body (applyLimits).
 */
export function serverOptions(limits: ConnectionLimits): { requestTimeout: number; connectionTimeout: number; http: ServerOptions } {
  return {
    requestTimeout: 0,
    connectionTimeout: 0,
    http: { headersTimeout: limits.headerTimeoutMs, requestTimeout: 0, connectionsCheckingInterval: Math.min(1000, limits.headerTimeoutMs) },
  };
}

export function applyLimits(app: FastifyInstance, limits: ConnectionLimits): void {
  // Over the cap, a connection still gets an answer (429, then closed),
  // rather than being dropped without a word as Node's maxConnections does.
  let open = 0;
  const excess = new WeakSet<Socket>();
  app.server.on('connection', (socket: Socket) => {
    open += 1;
    socket.once('close', () => (open -= 1));
    if (open > limits.maxConnections) excess.add(socket);
  });
  // Over TLS a request's socket is the TLS socket wrapped around the TCP one counted above.
  const server: unknown = app.server;
  if (server instanceof TlsServer) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (open > limits.maxConnections) excess.add(socket);
    });
  }

  app.addHook('onRequest', async (req) => {
    const socket = req.raw.socket;
    if (excess.has(socket)) {
      throw new RegistryError('TOOMANYREQUESTS', `the registry has ${limits.maxConnections} connections open; try again shortly`, undefined, 429, {
        'Retry-After': String(CONNECTIONS_RETRY_AFTER_SECONDS),
        Connection: 'close',
      });
    }
    if (hasBody(req.raw)) {
      // Socket inactivity while the body is due: Node destroys the socket
      // when it fires, the body stream fails, and an upload rolls its
      // staged bytes back to the offset its session row holds.
      socket.setTimeout(limits.bodyIdleTimeoutMs);
      req.raw.once('end', () => socket.setTimeout(0));
    }
  });

  // A request refused before its body was read (no or wrong credentials,
  // no right, throttled) is answered and its connection closed: Node would
  // otherwise read and discard the rest of the body, however long it is.
  app.addHook('onSend', async (req, reply) => {
    const status = reply.statusCode;
    if ((status === 401 || status === 403 || status === 429) && hasBody(req.raw) && !req.raw.readableEnded) reply.header('Connection', 'close');
  });
}
