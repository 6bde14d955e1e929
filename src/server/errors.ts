// The one place where errors become HTTP responses: OCI's JSON envelope
// `{"errors":[{"code","message","detail"}]}` with the code's status.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';

interface EnvelopeEntry {
  code: string;
  message: string;
  detail?: unknown;
}

const CLIENT_GONE = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED', 'EPIPE']);

export function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply | void {
  const code = (error as NodeJS.ErrnoException).code;
  if (code && CLIENT_GONE.has(code)) {
    // The client went away mid-request; nobody is left to answer.
    request.log.debug({ err: error }, 'client disconnected');
    if (!reply.sent && !request.raw.destroyed) return reply.code(400).send();
    return;
  }
  if (error instanceof RegistryError) {
    if (error.headers) reply.headers(error.headers);
    const entries = [error, ...error.others].map(entry);
    if (error.status === 413) discardBody(request);
    return reply.code(error.status).type('application/json; charset=utf-8').send({ errors: entries });
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return reply.code(status).type('application/json; charset=utf-8').send({ errors: [{ code: 'UNSUPPORTED', message: error.message }] });
  }
  request.log.error({ err: error }, 'request failed');
  return reply
    .code(500)
    .type('application/json; charset=utf-8')
    .send({ errors: [{ code: 'UNKNOWN', message: 'internal server error; the server log has the details' }] });
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
    if (drained > DRAIN_LIMIT) raw.socket.destroy();
  });
  raw.resume();
}

function entry(error: RegistryError): EnvelopeEntry {
  const e: EnvelopeEntry = { code: error.code, message: error.message };
  if (error.detail !== undefined) e.detail = error.detail;
  return e;
}
