// Stream plumbing for blob transfers: a source of known digest and size that
// can be opened again, counting bytes for progress, cutting one source stream
// into upload chunks without holding more than the bytes in flight, and a
// small promise pool for parallel transfers.
import { Readable } from 'node:stream';
import { DigestMismatchError } from './registry-errors.js';

/** A blob to push: its digest and size are known, its bytes come from a stream that can be opened again. */
export interface BlobSource {
  digest: string;
  size: number;
  mediaType?: string;
  /** Opens the bytes from the start; called again to resume or retry. */
  open(): Readable | Promise<Readable>;
}

export type BlobTransferState =
  /** asking whether the destination has it */
  | 'checking'
  /** the destination already had it */
  | 'exists'
  /** linked from another repository on the same registry */
  | 'mounted'
  | 'uploading'
  | 'downloading'
  | 'done';

export interface BlobProgress {
  digest: string;
  /** Repository the blob goes to (push) or comes from (pull). */
  repository: string;
  state: BlobTransferState;
  /** Bytes moved so far (equal to total once done, skipped or mounted). */
  bytes: number;
  total: number;
}

export type ProgressListener = (event: BlobProgress) => void;

/** A blob source from bytes in memory (tests, small configs). */
export function bufferSource(data: Buffer | Uint8Array | string, digest: string, mediaType?: string): BlobSource {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { digest, size: bytes.length, mediaType, open: () => Readable.from([bytes], { objectMode: false }) };
}

/**
 * Reads consecutive pieces of one stream: each `next(n)` is a Readable of
 * exactly `n` bytes (an error if the source ends sooner). Only the chunk the
 * consumer is reading is in memory, never the blob.
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<unknown>;
  private pending: Buffer | undefined;
  private ended = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(
    source: Readable,
    private readonly onBytes?: (n: number) => void,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<Buffer | undefined> {
    while (!this.pending || this.pending.length === 0) {
      if (this.ended) return undefined;
      const r = await this.iterator.next();
      if (r.done) {
        this.ended = true;
        return undefined;
      }
      this.pending = toBuffer(r.value);
    }
    return this.pending;
  }

  /** Whether bytes remain after the current position. */
  async more(): Promise<boolean> {
    return (await this.pull()) !== undefined;
  }

  /** Skips `n` bytes (resuming an upload the registry already has a prefix of). */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const buf = await this.pull();
      if (!buf) throw new Error(`the source ended ${left} bytes before the resume offset ${n}`);
      const take = Math.min(left, buf.length);
      this.pending = buf.subarray(take);
      left -= take;
      this.position += take;
    }
  }

  next(length: number): Readable {
    const self = this;
    async function* piece() {
      let left = length;
      while (left > 0) {
        const buf = await self.pull();
        if (!buf) throw new Error(`the source ended at byte ${self.position}, ${left} bytes short of this chunk`);
        const take = Math.min(left, buf.length);
        const out = buf.subarray(0, take);
        self.pending = buf.subarray(take);
        left -= take;
        self.position += take;
        self.onBytes?.(take);
        yield out;
      }
    }
    return Readable.from(piece(), { objectMode: false });
  }

  /** Stops reading the source. */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** Passes a stream through, counting bytes and checking that exactly `size` arrive. */
export function countingStream(source: Readable, size: number, what: string, onBytes: (n: number) => void): Readable {
  async function* counted() {
    let seen = 0;
    for await (const chunk of source) {
      const buf = toBuffer(chunk);
      seen += buf.length;
      if (seen > size) throw new DigestMismatchError('', '', what, size, seen);
      onBytes(buf.length);
      yield buf;
    }
    if (seen !== size) throw new DigestMismatchError('', '', what, size, seen);
  }
  return Readable.from(counted(), { objectMode: false });
}

export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError('a blob stream must yield bytes');
}

/** Runs tasks with at most `limit` at a time; the first failure stops new ones and is thrown. */
export function pool(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const max = Math.max(1, Math.floor(limit));
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
