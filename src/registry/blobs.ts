// Reading, linking and unlinking blobs in a repository. A blob is stored
// once, but a repository can only see the blobs linked to it (pushed or
// mounted there): anything else is BLOB_UNKNOWN, never a cross-tenant read.
import type { Readable } from 'node:stream';
import type { Metadata } from '../db/metadata.js';
import type { Digest } from '../formats/digest.js';
import { resolveRange, type ByteRange } from '../formats/http-range.js';
import type { RepositoryName } from '../formats/reference.js';
import { BlobNotFoundError, type BlobStore } from '../storage/blob-store.js';
import { RegistryError } from './errors.js';

export interface BlobRead {
  size: number;
  /** Set when a single satisfiable range was asked for. */
  range?: ByteRange;
  body: Readable;
}

export class Blobs {
  constructor(
    private readonly meta: Metadata,
    private readonly store: BlobStore,
  ) {}

  /** Size of a blob linked to the repository, or BLOB_UNKNOWN. */
  async size(name: RepositoryName, digest: Digest): Promise<number> {
    const repositoryId = await this.meta.findRepository(name);
    const size = repositoryId === undefined ? undefined : await this.meta.linkedBlobSize(repositoryId, digest);
    if (size === undefined) throw blobUnknown(name, digest);
    return size;
  }

  async open(name: RepositoryName, digest: Digest, rangeHeader?: string): Promise<BlobRead> {
    const size = await this.size(name, digest);
    const wanted = resolveRange(rangeHeader, size);
    if (wanted.kind === 'unsatisfiable') {
      throw new RegistryError('RANGE_INVALID', `range ${rangeHeader} is outside the blob's ${size} bytes`, undefined, 416, {
        'Content-Range': `bytes */${size}`,
      });
    }
    const range = wanted.kind === 'partial' ? wanted.range : undefined;
    try {
      // An empty blob has no byte range to read.
      const body = await this.store.read(digest, size === 0 ? undefined : range);
      return { size, range, body };
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw blobUnknown(name, digest);
      throw err;
    }
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
