// Reading small request bodies (manifests) with a hard size limit, and
// telling whether a request carries a body at all.
import type { IncomingMessage } from 'node:http';
import { streamOf } from './http2.js';

export class BodyTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
  }
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  // HTTP/2 has no chunked encoding: a body of unknown length is DATA
  // frames after a HEADERS frame that did not end the stream.
  const stream = streamOf(req);
  if (stream) return !stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole body, refusing (before reading, when it can) anything over `limit`. */
export async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new BodyTooLargeError(declared, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(size, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
