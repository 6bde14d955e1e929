// The one place where errors become HTTP responses: OCI's JSON envelope
// `{"errors":[{"code","message","detail"}]}` with the code's status. Every
// 4xx/5xx goes through here: the domain's RegistryError, bodies over a
// limit, fastify's own errors and its 404; framing errors that Node's HTTP
// parser finds before any route runs are written by client-errors.ts with
// the same envelope. On /v2/ only the spec's 14 codes ever leave.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isOciErrorCode, RegistryError } from '../formats/error-codes.js';
import { abortRequest, endUnreadBodyAfterResponse, streamOf } from './http2.js';
import { BodyTooLargeError } from './request-body.js';

export interface EnvelopeEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** The JSON envelope's text. */
export function envelope(entries: EnvelopeEntry[]): string {
  return JSON.stringify({ errors: entries });
}

const INTERNAL_ERROR = 'internal server error; the server log has the details';
const CLIENT_GONE = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED', 'EPIPE']);
const JSON_TYPE = 'application/json; charset=utf-8';

/** The OCI Distribution API and its token endpoint: answers only the spec's codes. */
export function isDistributionPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

function isApiPath(url: string): boolean {
  return url === '/api/v1' || url.startsWith('/api/v1/') || url.startsWith('/api/v1?');
}

/**
 * The code for an error that brings only a status (fastify's, a 404, a
 * parser's). The spec has no code for a server fault nor for most framing
 * errors: those say UNSUPPORTED, the most general of its 14, with a
 * message that tells what happened. The management API keeps its own.
 */
export function codeForStatus(status: number, url = '/v2/'): string {
  if (isApiPath(url)) {
    if (status === 400) return 'INVALID_ARGUMENT';
    if (status === 404) return 'NOT_FOUND';
    if (status === 409) return 'CONFLICT';
  }
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 413) return 'SIZE_INVALID';
  if (status === 429) return 'TOOMANYREQUESTS';
  return 'UNSUPPORTED';
}

export function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply | void {
  const errno = (error as NodeJS.ErrnoException).code;
  if (errno && CLIENT_GONE.has(errno)) {
    // The client went away or stopped sending mid-request; answer only if
    // it can still read (a half-closed body), and close after.
    request.log.debug({ err: error }, 'client disconnected');
    const stream = streamOf(request.raw);
    if (reply.sent || reply.raw.headersSent || !(stream ? stream.writable : request.raw.socket?.writable)) return;
    endUnreadBodyAfterResponse(request, reply);
    return send(reply, 400, [{ code: 'SIZE_INVALID', message: 'the request body ended before its Content-Length' }]);
  }
  if (error instanceof BodyTooLargeError) {
    discardBody(request);
    return send(reply, 413, [{ code: 'SIZE_INVALID', message: error.message, detail: { limit: error.limit } }]);
  }
  if (error instanceof RegistryError) {
    if (error.headers) reply.headers(error.headers);
    if (error.status === 413) discardBody(request);
    let entries = [error, ...error.others].map(entry);
    if (isDistributionPath(request.url) && entries.some((e) => !isOciErrorCode(e.code))) {
      // A code of the management API's table thrown under /v2/ is a bug:
      // log it, and answer a spec code for the same status.
      request.log.error({ err: error }, `non-OCI error code ${error.code} on /v2/`);
      entries = entries.map((e) => (isOciErrorCode(e.code) ? e : { ...e, code: codeForStatus(error.status) }));
    }
    return send(reply, error.status, entries);
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return send(reply, status, [{ code: codeForStatus(status, request.url), message: error.message }]);
  }
  request.log.error({ err: error }, 'request failed');
  return send(reply, 500, [{ code: 'UNSUPPORTED', message: INTERNAL_ERROR }]);
}

/** fastify's 404: a path no route serves. */
export function sendNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?', 1)[0]!;
  return send(reply, 404, [{ code: codeForStatus(404, request.url), message: `no such endpoint: ${request.method} ${path.slice(0, 200)}` }]);
}

/** The handlers fastify takes after it is built (see client-errors.ts for those it takes as options). */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(sendError);
  app.setNotFoundHandler(sendNotFound);
}

function send(reply: FastifyReply, status: number, entries: EnvelopeEntry[]): FastifyReply {
  return reply.code(status).type(JSON_TYPE).send(envelope(entries));
}

/**
 * A body refused before it was read is drained rather than cut off, so the
 * client, still sending, gets to read the error; past a bound the
 * connection is closed instead.
 */
const DRAIN_LIMIT = 64 * 1024 * 1024;
function discardBody(request: FastifyRequest): void {
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return;
  let drained = 0;
  raw.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) abortRequest(raw);
  });
  raw.resume();
}

function entry(error: RegistryError): EnvelopeEntry {
  const e: EnvelopeEntry = { code: error.code, message: error.message };
  if (error.detail !== undefined) e.detail = error.detail;
  return e;
}
