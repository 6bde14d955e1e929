// The one storage contract every blob driver implements (filesystem today,
// S3 next). Blobs are content addressed; uploads are staged under an id and
// become visible only through commit(), after their digest is verified and
// their bytes are durable.
import type { Readable } from 'node:stream';
import type { Digest } from '../formats/digest.js';
import type { ByteRange } from '../formats/http-range.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /** Throws BlobNotFoundError when the blob is absent. */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path for stores that keep blobs in local files: the open
   * file, for the server to send with positioned reads into buffers it
   * reuses (a stream costs a new buffer per chunk, and the collector's time
   * to free it). Throws BlobNotFoundError when the blob is absent.
   */
  openFile?(digest: Digest): Promise<BlobFile>;
  /**
   * Appends `body` to the staged upload at `offset`, the session's accepted
   * size. Staged bytes past `offset` (left by a writer that died before the
   * session moved) are dropped; fewer than `offset` is an UploadOffsetError.
   * Returns the new size. On a failed or aborted body the staged bytes are
   * rolled back to `offset`. The caller holds the session (one writer).
   */
  append(uploadId: string, offset: number, body: Readable): Promise<number>;
  /** Size of what is staged now (0 when nothing was appended). */
  stagedSize(uploadId: string): Promise<number>;
  /** Verifies the staged bytes against `expected` and publishes them. Throws DigestMismatchError. */
  commit(uploadId: string, expected: Digest): Promise<BlobInfo>;
  abort(uploadId: string): Promise<void>;
  delete(digest: Digest): Promise<void>;
  /**
   * Present when blob GETs are to be redirected (S3 with redirect=true): a
   * URL the client may GET the blob from for a while, without credentials
   * of its own. Only ever handed out after the request was authorized.
   */
  presignedUrl?(digest: Digest): Promise<string>;
  /** Resolves when the store can serve requests (for /readyz); rejects with why not. */
  ready?(): Promise<void>;
  /** Releases descriptors and buffers the store holds. */
  close?(): void | Promise<void>;
  /**
   * Resolves when the store can serve (for /readyz): cheap, no blob is
   * read or written. Rejects with the reason when it cannot.
   */
  ready?(): Promise<void>;
}

/** A blob held open in a local file (see BlobStore.openFile). */
export interface BlobFile {
  /** Reads `length` bytes at `position` into `buffer`; resolves with the count, which is less only at the end of the file. */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  /** Releases the file; a second call does nothing. */
  close(): void;
}

export class BlobNotFoundError extends Error {
  constructor(readonly digest: Digest) {
    super(`blob ${digest} not found in storage`);
  }
}

export class UploadOffsetError extends Error {
  constructor(readonly actual: number, readonly requested: number) {
    super(`upload holds ${actual} bytes; a chunk starting at ${requested} is out of order`);
  }
}

export class DigestMismatchError extends Error {
  constructor(readonly expected: Digest, readonly actual: Digest) {
    super(`content digest is ${actual}, not ${expected}`);
  }
}

/** Upload ids become file / object names: only ever allow this shape. */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

export function assertUploadId(id: string): void {
  if (!UPLOAD_ID_PATTERN.test(id)) throw new Error(`invalid upload id ${JSON.stringify(id.slice(0, 40))}`);
}
