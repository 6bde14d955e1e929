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
import { RegistryError } from '../formats/error-codes.js';

/** How long a chunk waits for the previous request on the same session. */
const LOCK_WAIT_MS = 10_000;
/** A session's lease lasts this long unless renewed: how long a crashed holder blocks the session. */
const LEASE_MS = 6_000;
const LEASE_RENEW_MS = 2_000;

/** One request's hold on an upload session (see Uploads.exclusive). */
interface Lease {
  holder: string;
  /** Set once the lease is freed by a write that also did other work (advance, delete). */
  released: boolean;
}
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
    return this.exclusive(
      name,
      id,
      async (row, lease) => {
        if (range && range.start !== row.size) throw outOfOrder(row, `chunk starts at ${range.start}, but the upload holds ${row.size} bytes`);
        const size = await this.appendStaged(row, body, lease);
        return { id, size };
      },
      (err) => body.destroy(err),
    );
  }

  /** Completes the upload (with an optional last chunk) and links the blob. */
  async complete(name: RepositoryName, id: string, digest: Digest, lastChunk?: { body: Readable; range?: ByteRange }): Promise<number> {
    return this.exclusive(
      name,
      id,
      async (row, lease) => {
        if (lastChunk) {
          if (lastChunk.range && lastChunk.range.start !== row.size) {
            throw outOfOrder(row, `chunk starts at ${lastChunk.range.start}, but the upload holds ${row.size} bytes`);
          }
          await this.appendStaged(row, lastChunk.body);
        }
        return this.publish(row, digest, lease);
      },
      (err) => lastChunk?.body.destroy(err),
    );
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

  /**
   * Runs `work` holding the session: first in this process (a chunk that
   * arrives while the previous one is still being written or rolled back
   * waits for it), then across processes and nodes through the lease in the
   * session's row. The lease is renewed while a long body streams; if it is
   * lost anyway (this process stalled past its expiry), `onLost` stops the
   * work, so two holders never write the staged bytes at once.
   */
  private async exclusive<T>(name: RepositoryName, id: string, work: (row: UploadRow, lease: Lease) => Promise<T>, onLost?: (err: Error) => void): Promise<T> {
    await this.find(name, id); // unknown sessions fail fast, before waiting
    const previous = this.busy.get(id);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = (previous ?? Promise.resolve()).then(() => mine);
    this.busy.set(id, chained);
    const deadline = Date.now() + LOCK_WAIT_MS;
    try {
      if (previous) {
        let timer: NodeJS.Timeout | undefined;
        const waited = await Promise.race([previous.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LOCK_WAIT_MS)))]);
        clearTimeout(timer);
        if (!waited) throw outOfOrder(await this.find(name, id), 'another chunk of this upload is still being received');
      }
      const lease: Lease = { holder: randomUUID(), released: false };
      await this.acquireLease(name, id, lease, deadline);
      const renewal = setInterval(() => {
        this.meta.renewUploadLease(id, lease.holder, Date.now() + LEASE_MS).then(
          (held) => held || lease.released || onLost?.(new Error('the upload session was taken over by another request')),
          () => {},
        );
      }, LEASE_RENEW_MS);
      try {
        // Read the row only now: the previous holder may have moved the offset.
        return await work(await this.find(name, id), lease);
      } finally {
        clearInterval(renewal);
        if (!lease.released) await this.meta.releaseUploadLease(id, lease.holder).catch(() => {});
      }
    } finally {
      release();
      if (this.busy.get(id) === chained) this.busy.delete(id);
    }
  }

  /** Polls for the session's lease until `deadline`; 416 with the current offset when another holder keeps it. */
  private async acquireLease(name: RepositoryName, id: string, lease: Lease, deadline: number): Promise<void> {
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      const now = Date.now();
      if (await this.meta.acquireUploadLease(id, lease.holder, now, now + LEASE_MS)) return;
      const row = await this.find(name, id); // it may have been completed or cancelled meanwhile
      if (now + pause > deadline) throw outOfOrder(row, 'another chunk of this upload is still being received');
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  private async appendStaged(row: UploadRow, body: Readable, releaseLease?: Lease): Promise<number> {
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
    if (!(await this.meta.advanceUpload(row.id, row.size, size, releaseLease?.holder))) throw outOfOrder(row, 'the upload was changed concurrently');
    if (releaseLease) releaseLease.released = true;
    row.size = size;
    return size;
  }

  private async publish(row: UploadRow, digest: Digest, lease: Lease): Promise<number> {
    try {
      const info = await this.store.commit(row.id, digest);
      await this.meta.linkBlob(row.repository_id, digest, info.size);
      await this.meta.deleteUpload(row.id);
      lease.released = true; // the row, and its lease, are gone
      this.onComplete?.((Date.now() - row.started_at) / 1000);
      return info.size;
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        // The content is not what the client meant to send; the session
        // cannot be completed any more, so free it.
        await this.meta.deleteUpload(row.id);
        lease.released = true;
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
