// Errors found before any route runs: Node's HTTP parser refuses the
// request's framing (a malformed or duplicate Content-Length,
// Transfer-Encoding beside Content-Length, headers too large, a body that
// ends before its Content-Length) or a timeout fires. The answer is written
// on the raw socket as a complete HTTP/1.1 response with the JSON envelope,
// and the connection is closed: after a framing error nothing more on it
// can be trusted (RFC 9112, section 11.2). HTTP/1.1 only: under HTTP/2,
// nghttp2 answers a broken frame or a DATA length that contradicts
// content-length itself, with RST_STREAM or GOAWAY.
import type { FastifyServerOptions } from 'fastify';
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { envelope, sendError, type EnvelopeEntry } from './errors.js';

interface ParserError extends Error {
  code?: string;
  /** llhttp's short reason, e.g. "Content-Length can't be present with Transfer-Encoding". */
  reason?: string;
}

/** Errors in the request's length or chunking: the spec's code for a length that does not add up. */
const FRAMING = new Set(['HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_INVALID_CHUNK_SIZE', 'HPE_INVALID_EOF_STATE']);

/** The status and envelope entry for a parser or connection error. */
export function describeClientError(err: ParserError): { status: number; entry: EnvelopeEntry } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    return { status: 408, entry: { code: 'UNSUPPORTED', message: 'the request did not arrive in time' } };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Node counts the request line with the headers, so a URI too long lands here too.
    return { status: 431, entry: { code: 'UNSUPPORTED', message: `the request line and headers are larger than ${maxHeaderSize} bytes` } };
  }
  const reason = err.reason ?? 'malformed request';
  if (err.code === 'HPE_INVALID_EOF_STATE') return { status: 400, entry: { code: 'SIZE_INVALID', message: 'the request body ended before its Content-Length' } };
  if (err.code && FRAMING.has(err.code)) return { status: 400, entry: { code: 'SIZE_INVALID', message: `malformed request framing: ${reason}` } };
  return { status: 400, entry: { code: 'UNSUPPORTED', message: `malformed HTTP request: ${reason}` } };
}

function writeClientError(err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Answer only if no response has started on this connection (a handler
  // may already be answering the request whose body broke off).
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (!socket.writable || started) {
    socket.destroy();
    return;
  }
  const { status, entry } = describeClientError(err);
  const body = envelope([entry]);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** fastify options for the errors it meets before routing: framing (above) and URLs it cannot decode. */
export const earlyErrorOptions = {
  clientErrorHandler: writeClientError,
  frameworkErrors: sendError,
} satisfies FastifyServerOptions;
