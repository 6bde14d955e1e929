// Reading, linking and unlinking blobs in a repository. A blob is stored
// once, but a repository can only see the blobs linked to it (pushed or
// mounted there): anything else is BLOB_UNKNOWN, never a cross-tenant read.
import type { Readable } from 'node:stream';
import type { Metadata } from '../db/metadata.js';
import type { Digest } from '../formats/digest.js';
import { resolveRange, type ByteRange } from '../formats/http-range.js';
import type { RepositoryName } from '../formats/reference.js';
import { BlobNotFoundError, type BlobFile, type BlobStore } from '../storage/blob-store.js';
import { RegistryError } from '../formats/error-codes.js';
import { SmallBlobCache } from './small-blob-cache.js';

export interface BlobRead {
  size: number;
  /** Set when a single satisfiable range was asked for. */
  range?: ByteRange;
  content: BlobContent;
}

/**
 * The bytes to send (of the range, when there is one): nothing for an empty
 * blob; the bytes themselves for a small one; the open file where the
 * store has one (the caller reads it and must close it); else a stream.
 */
export type BlobContent =
  | { kind: 'empty' }
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'file'; file: BlobFile }
  | { kind: 'stream'; body: Readable };

/** Blobs up to this size are served from memory (see small-blob-cache.ts). */
const SMALL_BLOB_BYTES = 64 * 1024;
const SMALL_BLOB_CACHE_BYTES = 16 * 1024 * 1024;

export class Blobs {
  private readonly small = new SmallBlobCache(SMALL_BLOB_BYTES, SMALL_BLOB_CACHE_BYTES);

  constructor(
    private readonly meta: Metadata,
    private readonly store: BlobStore,
  ) {}

  /** Size of a blob linked to the repository, or BLOB_UNKNOWN. */
  async size(name: RepositoryName, digest: Digest): Promise<number> {
    const size = await this.meta.linkedBlobSizeByName(name, digest);
    if (size === undefined) throw blobUnknown(name, digest);
    return size;
  }

  async open(name: RepositoryName, digest: Digest, rangeHeader?: string): Promise<BlobRead> {
    const size = await this.size(name, digest);
    const wanted = resolveRange(rangeHeader, size);
    if (wanted.kind === 'unsatisfiable') {
      throw new RegistryError('SIZE_INVALID', `range ${rangeHeader} is outside the blob's ${size} bytes`, { size }, 416, {
        'Content-Range': `bytes */${size}`,
      });
    }
    const range = wanted.kind === 'partial' ? wanted.range : undefined;
    // An empty blob has no bytes to read (and no range: resolveRange gives none).
    if (size === 0) return { size, range, content: { kind: 'empty' } };
    try {
      if (size <= SMALL_BLOB_BYTES) {
        const data = await this.small.get(digest, () => this.readWhole(digest, size));
        return { size, range, content: { kind: 'bytes', data: range ? data.subarray(range.start, range.end + 1) : data } };
      }
      if (this.store.openFile) return { size, range, content: { kind: 'file', file: await this.store.openFile(digest) } };
      return { size, range, content: { kind: 'stream', body: await this.store.read(digest, range) } };
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw blobUnknown(name, digest);
      throw err;
    }
  }

  /**
   * Where to send the client instead of streaming the blob (a presigned
   * object store URL), when the store redirects; BLOB_UNKNOWN as open().
   * The caller has authorized the pull.
   */
  async redirectUrl(name: RepositoryName, digest: Digest): Promise<string | undefined> {
    if (!this.store.presignedUrl) return undefined;
    await this.size(name, digest);
    return this.store.presignedUrl(digest);
  }

  /** A small blob's bytes, in memory of their own (they are kept). */
  private async readWhole(digest: Digest, size: number): Promise<Buffer> {
    let data: Buffer;
    if (this.store.openFile) {
      const file = await this.store.openFile(digest);
      try {
        data = Buffer.allocUnsafeSlow(size);
        data = data.subarray(0, await file.read(data, size, 0));
      } finally {
        file.close();
      }
    } else {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.store.read(digest)) chunks.push(chunk as Buffer);
      data = Buffer.concat(chunks);
    }
    if (data.length !== size) throw new Error(`blob ${digest} has ${data.length} bytes in storage, not the ${size} recorded`);
    return data;
  }

  /** Unlinks the blob from the repository; its bytes stay until garbage collection. */
  async unlink(name: RepositoryName, digest: Digest): Promise<void> {
    const repositoryId = await this.meta.findRepository(name);
    if (repositoryId === undefined || !(await this.meta.unlinkBlob(repositoryId, digest))) throw blobUnknown(name, digest);
  }

  /**
   * Cross-repository mount: links a blob of `from` into `name` when `from`
   * has it. Returns the size, or undefined when the client must upload.
   */
  async mount(name: RepositoryName, digest: Digest, from: RepositoryName): Promise<number | undefined> {
    const fromId = await this.meta.findRepository(from);
    if (fromId === undefined) return undefined;
    const size = await this.meta.linkedBlobSize(fromId, digest);
    if (size === undefined) return undefined;
    const repositoryId = await this.meta.ensureRepository(name);
    await this.meta.linkBlob(repositoryId, digest, size);
    return size;
  }
}

export function blobUnknown(name: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${name}`, { digest });
}
