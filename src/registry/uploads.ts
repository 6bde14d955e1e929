// Blob upload sessions: monolithic, POST + PUT, and chunked PATCH. A
// session is a database row (id, repository, accepted size) plus staged
// bytes in the blob store, so any process can continue it, also after a
// restart. The blob is linked only once its digest is verified.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Metadata, UploadRow } from '../db/metadata.js';
import type { Digest } from '../formats/digest.js';
import type { ByteRange } from '../formats/http-range.js';
import type { RepositoryName } from '../formats/reference.js';
import { DigestMismatchError, UPLOAD_ID_PATTERN, UploadOffsetError, type BlobStore } from '../storage/blob-store.js';
import { RegistryError } from './errors.js';

/** How long a chunk waits for the previous request on the same session. */
const LOCK_WAIT_MS = 10_000;
/** Open sessions one principal may hold, unless the registry is told otherwise. */
export const DEFAULT_MAX_SESSIONS_PER_OWNER = 1000;
/** Sessions are freed by completing, cancelling, or the idle purge: not within seconds. */
const SESSIONS_RETRY_AFTER_SECONDS = 60;

export interface UploadState {
  id: string;
  /** Bytes accepted so far. */
  size: number;
}

export class Uploads {
  // Requests on one session are serialised in this process: a chunk that
  // arrives while the previous one is still being written (or rolled back
  // after a dropped connection) waits for it, then sees the settled offset.
  private readonly busy = new Map<string, Promise<void>>();

  constructor(
    private readonly meta: Metadata,
    private readonly store: BlobStore,
    private readonly maxSessionsPerOwner = DEFAULT_MAX_SESSIONS_PER_OWNER,
    private readonly onComplete?: (seconds: number) => void,
  ) {}

  /** Opens a session for `owner` (a principal's name); 429 when they hold too many already. */
  async start(name: RepositoryName, owner: string): Promise<UploadState> {
    const repositoryId = await this.meta.ensureRepository(name);
    const id = randomUUID();
    if (!(await this.meta.createUpload(id, repositoryId, owner, this.maxSessionsPerOwner))) {
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `${owner} has ${this.maxSessionsPerOwner} upload sessions open; complete or cancel some, or wait until idle ones expire`,
        undefined,
        429,
        { 'Retry-After': String(SESSIONS_RETRY_AFTER_SECONDS) },
      );
    }
    return { id, size: 0 };
  }

  async status(name: RepositoryName, id: string): Promise<UploadState> {
    const row = await this.find(name, id);
    return { id, size: row.size };
  }

  /** Appends a chunk. `range`, when the client sent one, must start at the current size. */
  async append(name: RepositoryName, id: string, body: Readable, range?: ByteRange): Promise<UploadState> {
    return this.exclusive(name, id, async (row) => {
      if (range && range.start !== row.size) throw outOfOrder(row, `chunk starts at ${range.start}, but the upload holds ${row.size} bytes`);
      const size = await this.appendStaged(row, body);
      return { id, size };
    });
  }

  /** Completes the upload (with an optional last chunk) and links the blob. */
  async complete(name: RepositoryName, id: string, digest: Digest, lastChunk?: { body: Readable; range?: ByteRange }): Promise<number> {
    return this.exclusive(name, id, async (row) => {
      if (lastChunk) {
        if (lastChunk.range && lastChunk.range.start !== row.size) {
          throw outOfOrder(row, `chunk starts at ${lastChunk.range.start}, but the upload holds ${row.size} bytes`);
        }
        await this.appendStaged(row, lastChunk.body);
      }
      return this.publish(row, digest);
    });
  }

  /** POST ?digest= with the whole blob as the body: no session row is needed. */
  async monolithic(name: RepositoryName, digest: Digest, body: Readable): Promise<number> {
    const startedAt = Date.now();
    const repositoryId = await this.meta.ensureRepository(name);
    const id = randomUUID();
    try {
      await this.store.append(id, 0, body);
      const info = await this.store.commit(id, digest);
      await this.meta.linkBlob(repositoryId, digest, info.size);
      this.onComplete?.((Date.now() - startedAt) / 1000);
      return info.size;
    } catch (err) {
      await this.store.abort(id).catch(() => {});
      throw translate(err, digest);
    }
  }

  async cancel(name: RepositoryName, id: string): Promise<void> {
    const row = await this.find(name, id);
    await this.meta.deleteUpload(row.id);
    await this.store.abort(row.id);
  }

  /** Drops sessions idle for longer than `maxIdleMs` (abandoned pushes). */
  async purgeIdle(maxIdleMs: number): Promise<number> {
    const stale = await this.meta.idleUploads(Date.now() - maxIdleMs);
    for (const id of stale) {
      await this.meta.deleteUpload(id);
      await this.store.abort(id);
    }
    return stale.length;
  }

  private async find(name: RepositoryName, id: string): Promise<UploadRow> {
    const repositoryId = UPLOAD_ID_PATTERN.test(id) ? await this.meta.findRepository(name) : undefined;
    const row = repositoryId === undefined ? undefined : await this.meta.findUpload(id);
    if (!row || row.repository_id !== repositoryId) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is not known in repository ${name}; start a new upload`, { id: id.slice(0, 64) });
    }
    return row;
  }

  private async exclusive<T>(name: RepositoryName, id: string, work: (row: UploadRow) => Promise<T>): Promise<T> {
    await this.find(name, id); // unknown sessions fail fast, before waiting
    const previous = this.busy.get(id);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = (previous ?? Promise.resolve()).then(() => mine);
    this.busy.set(id, chained);
    try {
      if (previous) {
        let timer: NodeJS.Timeout | undefined;
        const waited = await Promise.race([previous.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LOCK_WAIT_MS)))]);
        clearTimeout(timer);
        if (!waited) {
          const row = await this.find(name, id);
          throw outOfOrder(row, 'another chunk of this upload is still being received');
        }
      }
      // Read the row only now: the previous holder may have moved the offset.
      return await work(await this.find(name, id));
    } finally {
      release();
      if (this.busy.get(id) === chained) this.busy.delete(id);
    }
  }

  private async appendStaged(row: UploadRow, body: Readable): Promise<number> {
    let size: number;
    try {
      size = await this.store.append(row.id, row.size, body);
    } catch (err) {
      if (err instanceof UploadOffsetError) {
        // The staged bytes and the row disagree (a crash between the two
        // writes): trust the row, the client resumes from there.
        throw outOfOrder(row, err.message);
      }
      throw err;
    }
    if (!(await this.meta.advanceUpload(row.id, row.size, size))) throw outOfOrder(row, 'the upload was changed concurrently');
    row.size = size;
    return size;
  }

  private async publish(row: UploadRow, digest: Digest): Promise<number> {
    try {
      const info = await this.store.commit(row.id, digest);
      await this.meta.linkBlob(row.repository_id, digest, info.size);
      await this.meta.deleteUpload(row.id);
      this.onComplete?.((Date.now() - row.started_at) / 1000);
      return info.size;
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        // The content is not what the client meant to send; the session
        // cannot be completed any more, so free it.
        await this.meta.deleteUpload(row.id);
        await this.store.abort(row.id);
      }
      throw translate(err, digest);
    }
  }
}

function outOfOrder(row: UploadRow, message: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', message, { id: row.id }, 416, {
    Range: `0-${Math.max(0, row.size - 1)}`,
  });
}

function translate(err: unknown, digest: Digest): unknown {
  if (err instanceof DigestMismatchError) {
    return new RegistryError('DIGEST_INVALID', `uploaded content has digest ${err.actual}, not ${digest}`, { digest });
  }
  return err;
}
