// HTTP/2 over TLS (ALPN `h2`, HTTP/1.1 offered beside it), and the few
// places where a request's transport differs between the two versions.
// Under HTTP/1.1 a request owns its socket while it runs; under HTTP/2 it
// is one stream of a session that other requests share, so what would end
// the socket for one request must end only its stream, and a connection
// is a session.
import type { IncomingMessage } from 'node:http';
import { constants, type Http2SecureServer, type Http2ServerRequest, type Http2Session, type SecureServerOptions, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Streams one session may have open at once. Clients queue requests past
 * it; streams opened beyond it before the client acknowledged the setting
 * are refused (RST_STREAM REFUSED_STREAM, which clients retry), and a
 * client that exceeds it after loses the session (nghttp2's rule). RFC
 * 9113 recommends no fewer than 100; Go's server allows 250.
 */
export const MAX_CONCURRENT_STREAMS = 100;

/**
 * What one session may hold in nghttp2's buffers and queued writes, in MB
 * (Node's maxSessionMemory, 10 by default); past it, new streams are
 * refused with ENHANCE_YOUR_CALM. A blob download queues one chunk at a
 * time (blob-send.ts: 1 MiB while few run, else 256 KiB), so 100 streams
 * queue at most 16 x 1 MiB + 84 x 256 KiB = 37 MiB; the default would
 * refuse streams from a client pulling ten layers at once.
 */
export const MAX_SESSION_MEMORY_MB = 64;

/**
 * Flow-control windows for what clients send (uploads): HTTP/2's default
 * of 64 KiB makes a pushing client wait a round trip for every 64 KiB.
 * Go's own server allows 1 MiB per stream and per connection; what a
 * session holds unread while a handler waits on the disk is bounded by
 * the connection's window.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const SESSION_WINDOW_BYTES = 4 * 1024 * 1024;

/** The options of node:http2's secure server beyond the TLS ones. */
export function http2Options(): Pick<SecureServerOptions, 'allowHTTP1' | 'settings' | 'maxSessionMemory'> {
  return {
    allowHTTP1: true,
    settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, initialWindowSize: STREAM_WINDOW_BYTES },
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
  };
}

/** Widens each new session's connection-level receive window (there is no server option for it). */
export function widenSessionWindows(server: object): void {
  (server as Http2SecureServer).on('session', (session: Http2Session) => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
}

/** The HTTP/2 stream a request arrived on; undefined under HTTP/1.1. */
export function streamOf(req: IncomingMessage): ServerHttp2Stream | undefined {
  return (req as unknown as Partial<Http2ServerRequest>).stream;
}

/**
 * What max_connections counts a request against: its session under
 * HTTP/2, its socket under HTTP/1.1. (The session's `socket` is a proxy,
 * never the socket the server's connection events saw.)
 */
export function connectionOf(req: IncomingMessage): Socket | Http2Session {
  return streamOf(req)?.session ?? req.socket;
}

/** Ends a request whose body will not be read on: its stream (RST_STREAM CANCEL) or its socket. */
export function abortRequest(req: IncomingMessage): void {
  const stream = streamOf(req);
  if (stream) stream.close(constants.NGHTTP2_CANCEL);
  else req.socket.destroy();
}

/**
 * Bounds the silence while a request's body is due, until the body ends.
 * Under HTTP/1.1 Node destroys the idle socket; under HTTP/2 the stream
 * is reset, and other streams of the session go on. Either way the body
 * stream fails and an upload rolls back to its last committed offset.
 */
export function limitBodySilence(req: IncomingMessage, ms: number): void {
  const stream = streamOf(req);
  if (stream) {
    stream.setTimeout(ms, () => stream.close(constants.NGHTTP2_CANCEL));
    req.once('end', () => stream.setTimeout(0));
  } else {
    req.socket.setTimeout(ms);
    req.once('end', () => req.socket.setTimeout(0));
  }
}

/**
 * Once the response is out, stops a client from sending the rest of a
 * body nobody will read: HTTP/1.1 closes the connection (there is no
 * other way), HTTP/2 resets only this stream with NO_ERROR, which RFC 9113
 * section 8.1 gives for a response sent before the request was complete.
 */
export function endUnreadBodyAfterResponse(req: FastifyRequest, reply: FastifyReply): void {
  const stream = streamOf(req.raw);
  if (!stream) {
    reply.header('Connection', 'close');
    return;
  }
  reply.raw.once('finish', () => {
    if (!req.raw.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
  });
}

/** Closes the request's connection after the response: `Connection: close`, or GOAWAY for the whole session. */
export function closeConnectionAfterResponse(req: FastifyRequest, reply: FastifyReply): void {
  const stream = streamOf(req.raw);
  if (!stream) {
    reply.header('Connection', 'close');
    return;
  }
  reply.raw.once('finish', () => stream.session?.close());
}
