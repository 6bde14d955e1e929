// What one client may hold of the server: how long it may take to send its
// headers, how long a request body may stall, how many connections may be
// open, and that a refused request's body is never read to its end.
import type { FastifyInstance } from 'fastify';
import type { ServerOptions } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { RegistryError } from '../formats/error-codes.js';
import { closeConnectionAfterResponse, connectionOf, endUnreadBodyAfterResponse, limitBodySilence } from './http2.js';
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

/**
 * The HTTP/2 server's HTTP/1.1 side does not take `http` options: it has
 * its own defaults (60 s for headers, a 5-minute total request limit that
 * would cut a large upload), set here to the same values as above.
 */
function limitHttp1Fallback(server: object, limits: ConnectionLimits, keepAliveTimeoutMs: number): void {
  const { http } = serverOptions(limits);
  Object.assign(server, { headersTimeout: http.headersTimeout, requestTimeout: http.requestTimeout, connectionsCheckingInterval: http.connectionsCheckingInterval, keepAliveTimeout: keepAliveTimeoutMs });
}

export function applyLimits(app: FastifyInstance, limits: ConnectionLimits): void {
  if (app.initialConfig.http2) limitHttp1Fallback(app.server, limits, app.initialConfig.keepAliveTimeout ?? 0);
  // Over the cap, a connection still gets an answer (429, then closed),
  // rather than being dropped without a word as Node's maxConnections does.
  let open = 0;
  const excess = new WeakSet<Socket | Http2Session>();
  app.server.on('connection', (socket: Socket) => {
    open += 1;
    socket.once('close', () => (open -= 1));
    if (open > limits.maxConnections) excess.add(socket);
  });
  // Over TLS a request's socket is the TLS socket wrapped around the TCP
  // one counted above; over HTTP/2 its connection is the session made on
  // that TLS socket (before this listener runs).
  const server: unknown = app.server;
  if (server instanceof TlsServer) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (open > limits.maxConnections) excess.add(socket);
    });
    server.on('session', (session: Http2Session) => {
      if (open > limits.maxConnections) excess.add(session);
    });
  }

  app.addHook('onRequest', async (req, reply) => {
    if (excess.has(connectionOf(req.raw))) {
      closeConnectionAfterResponse(req, reply);
      throw new RegistryError('TOOMANYREQUESTS', `the registry has ${limits.maxConnections} connections open; try again shortly`, undefined, 429, {
        'Retry-After': String(CONNECTIONS_RETRY_AFTER_SECONDS),
      });
    }
    if (hasBody(req.raw)) limitBodySilence(req.raw, limits.bodyIdleTimeoutMs);
  });

  // A request refused before its body was read (no or wrong credentials,
  // no right, throttled) is answered and the body cut off: Node would
  // otherwise read and discard the rest of it, however long it is.
  app.addHook('onSend', async (req, reply) => {
    const status = reply.statusCode;
    if ((status === 401 || status === 403 || status === 429) && hasBody(req.raw) && !req.raw.readableEnded) endUnreadBodyAfterResponse(req, reply);
  });
}
