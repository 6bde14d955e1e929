// Sends a blob that the store keeps in a local file (BlobStore.openFile)
// without a stream: positioned reads into a buffer taken from a small pool,
// each chunk written to the socket, the buffer reused as soon as the kernel
// has taken the bytes, and given back to the pool at the end.
//
// Measured on 2 cores, 4 clients pulling a 512 MiB file over loopback, in
// server CPU-s per GiB: a file read stream piped to the response 0.54-0.82
// (256 KiB to 4 MiB chunks), this loop 0.41-0.49 with 1 MiB chunks. The
// stream allocates a new buffer for every chunk; the external memory that
// adds up makes V8 run full collections, whose cost grows with the heap (in
// the real server it went up to 1.5 CPU-s per GiB), and the fresh pages
// fault in and are unmapped again. What remains is the kernel's: the copy
// from the page cache, the copy into the socket, and loopback TCP.
//
// sendfile(2) is not reachable from Node without a native addon; tried
// through one (koffi), it cut the server to 0.04-0.11 CPU-s per GiB but
// moved as much work to the receiving client on loopback, and its socket
// handling (descriptor reuse, waiting for writability outside libuv) would
// be hard to make safe.
//
// Under HTTP/2 `res` is the stream's response: a write's callback comes
// once the session has written the chunk out, so the same loop is the
// stream's backpressure, and each chunk counts against the session's
// memory until then (see MAX_SESSION_MEMORY_MB in http2.ts).
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlobFile } from '../storage/blob-store.js';

/**
 * A transfer reads and writes 1 MiB at a time (256 KiB cost ~20 % more CPU
 * per byte, 2-4 MiB no less) while few run at once; past that, 256 KiB: a
 * pod storm has hundreds of transfers waiting on their sockets, each
 * holding its buffer (measured, 600 at once: the same CPU, peak RSS 240-270
 * MiB instead of 525-618). Idle buffers kept: 8 MiB of each size.
 */
const LARGE = { bytes: 1024 * 1024, keep: 8, free: [] as Buffer[] };
const SMALL = { bytes: 256 * 1024, keep: 32, free: [] as Buffer[] };
const LARGE_WHILE_AT_MOST = 16;

let active = 0;

type SizeClass = typeof LARGE;

function takeBuffer(length: number): { buffer: Buffer; size: SizeClass } {
  const size = length > SMALL.bytes && active <= LARGE_WHILE_AT_MOST ? LARGE : SMALL;
  return { buffer: size.free.pop() ?? Buffer.allocUnsafeSlow(size.bytes), size };
}

function giveBuffer(buffer: Buffer, size: SizeClass): void {
  if (size.free.length < size.keep) size.free.push(buffer);
}

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECANCELED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** The client closed the connection before it had the whole body. */
export class ClientGoneError extends Error {
  readonly code = 'ERR_STREAM_PREMATURE_CLOSE';
  constructor() {
    super('the client closed the connection during the transfer');
  }
}

/**
 * Answers the request with `length` bytes of `file` from `position`, with
 * the status and headers already set on `reply`, and closes the file. The
 * reply is taken over from fastify (its onResponse hook still runs when
 * the response finishes). A client that goes away, or a file that cannot
 * be read to the end, ends the connection; nothing is thrown.
 */
export async function sendBlobFile(req: FastifyRequest, reply: FastifyReply, file: BlobFile, position: number, length: number): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  try {
    const headers = reply.getHeaders();
    for (const name in headers) if (headers[name] === undefined) delete headers[name];
    res.writeHead(reply.statusCode, headers as Record<string, string | number | string[]>);
    if (length === 0) res.end();
    else await sendBytes(res, file, position, length);
  } catch (err) {
    // A socket that is already gone, or a write it refused, is the client
    // leaving; a read that failed is the server's problem.
    if (err instanceof ClientGoneError || res.destroyed || CLIENT_GONE.has((err as NodeJS.ErrnoException).code ?? '')) {
      req.log.debug({ err }, 'client disconnected during a blob transfer');
    } else {
      req.log.error({ err }, 'blob transfer failed');
    }
    res.destroy();
  } finally {
    file.close();
  }
  return reply;
}

async function sendBytes(res: ServerResponse, file: BlobFile, position: number, length: number): Promise<void> {
  const end = position + length;
  active++;
  try {
    const { buffer, size } = takeBuffer(length);
    // Strictly read, write, read: the socket's send buffer (several MiB on
    // loopback) keeps the connection busy while the next chunk is read, and
    // a transfer holds one buffer, not two.
    while (position < end) {
      const n = Math.min(buffer.length, end - position);
      await readFully(file, buffer, n, position);
      position += n;
      // A failed write drops the buffer rather than reuse it: the socket
      // may still have held it when it went away.
      await write(res, n === buffer.length ? buffer : buffer.subarray(0, n), position === end);
    }
    giveBuffer(buffer, size);
  } finally {
    active--;
  }
}

async function readFully(file: BlobFile, buffer: Buffer, length: number, position: number): Promise<void> {
  const n = await file.read(buffer, length, position);
  if (n !== length) throw new Error(`blob file ended early: ${n} of ${length} bytes at offset ${position}`);
}

/** Resolves once the socket has handed `chunk` to the kernel (the whole response, for the last one). */
function write(res: ServerResponse, chunk: Buffer, last: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) {
      reject(new ClientGoneError());
      return;
    }
    const onClose = () => {
      if (!res.writableFinished) reject(new ClientGoneError());
    };
    res.once('close', onClose);
    const done = (err?: Error | null) => {
      res.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    if (last) res.end(chunk, done);
    else res.write(chunk, done);
  });
}
