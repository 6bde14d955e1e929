// Blobs on a local (or shared, e.g. NFS) file system:
//   <root>/blobs/<algorithm>/<first two hex>/<hex>   published blobs
//   <root>/uploads/<upload id>                        staged uploads
// (the blobs directory may be named otherwise: `file:PATH` storage URLs)
// Publishing is write, fsync, rename, fsync(dir): a crash leaves either
// nothing or the whole verified blob, never a half-written one.
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Hash } from 'node:crypto';
import {
  createDigester,
  digestAlgorithm,
  digestHex,
  finishDigest,
  type Digest,
  type DigestAlgorithm,
} from '../../formats/digest.js';
import type { ByteRange } from '../../formats/http-range.js';
import {
  BlobNotFoundError,
  DigestMismatchError,
  UploadOffsetError,
  assertUploadId,
  type BlobFile,
  type BlobInfo,
  type BlobStore,
} from '../blob-store.js';
import { openBlobFile } from './blob-read.js';
import { appendDirect, DirectIo } from './direct-io.js';
import { BodyGarbage } from '../../runtime/young-garbage.js';
import { fsyncPath } from '../../runtime/fsync-path.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, privateDir } from '../../runtime/private-files.js';

/** The running digest of an upload, valid while `size` equals the staged size. */
interface RunningDigest {
  algorithm: DigestAlgorithm;
  hash: Hash;
  size: number;
}

// 1 MiB reads cut the server's CPU per pulled byte by more than half
// against 256 KiB (fewer buffers to allocate and collect, fewer syscalls).
const READ_CHUNK = 1024 * 1024;
const FLUSH_EVERY = 32 * 1024 * 1024;

export class FilesystemBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  // Fast path only: another process, or this one after a restart, has no
  // entry and recomputes the digest from the staged bytes at commit.
  private readonly running = new Map<string, RunningDigest>();

  private direct?: DirectIo;

  constructor(
    readonly root: string,
    private readonly options: { directIo?: boolean; blobsDir?: string } = {},
  ) {
    this.blobsDir = options.blobsDir ?? join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
  }

  async init(): Promise<void> {
    // Blobs and staged uploads are private to the server's user (0700 / 0600).
    // A blobs directory named otherwise sits in a directory that is not
    // ours to make private (file:/mnt/registry/layers: /mnt/registry).
    for (const dir of this.options.blobsDir ? [this.blobsDir, this.uploadsDir] : [this.root, this.blobsDir, this.uploadsDir]) privateDir(dir);
    if (this.options.directIo !== false) this.direct = DirectIo.open(this.root); // same file system as uploads/
  }

  /** Whether uploads are written with O_DIRECT (see direct-io.ts). */
  get directIo(): boolean {
    return this.direct?.enabled ?? false;
  }

  close(): void {
    this.direct?.close();
    this.direct = undefined;
  }

  /** Both directories are there and writable by the server (a lost mount, a full remount read-only). */
  async ready(): Promise<void> {
    await access(this.blobsDir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
    await access(this.uploadsDir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
  }

  private blobPath(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  private uploadPath(uploadId: string): string {
    assertUploadId(uploadId);
    return join(this.uploadsDir, uploadId);
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { digest, size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(digest);
      throw err;
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK, autoClose: true });
  }

  /** The server's fast path (see blob-read.ts); read() stays the generic one. */
  openFile(digest: Digest): Promise<BlobFile> {
    return openBlobFile(this.blobPath(digest), digest);
  }

  async stagedSize(uploadId: string): Promise<number> {
    try {
      return (await stat(this.uploadPath(uploadId))).size;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  async append(uploadId: string, offset: number, body: Readable): Promise<number> {
    const path = this.uploadPath(uploadId);
    // This handle checks the offset and flushes in the background; the
    // bytes go through a write stream of their own.
    const handle = await open(path, 'a', PRIVATE_FILE_MODE);
    let size = offset;
    let running = this.running.get(uploadId);
    // Dirty pages are flushed while bytes keep arriving, so the fsync at
    // commit has little left to do instead of one long stall at the end
    // (measured here: 512 MiB appended and fsynced in 0.66 s instead of 1.6 s).
    let flushedAt = offset;
    let flushing: Promise<void> | undefined;
    try {
      const staged = (await handle.stat()).size;
      if (staged < offset) throw new UploadOffsetError(staged, offset);
      // Bytes past the offset were left by a writer that died mid-chunk
      // (the session's row never moved): drop them, the client resends.
      if (staged > offset) await handle.truncate(offset);
      if (offset === 0) await handle.chmod(PRIVATE_FILE_MODE); // whatever the umask
      if (offset === 0) running = { algorithm: 'sha256', hash: createDigester('sha256'), size: 0 };
      else if (running && running.size !== offset) running = undefined;
      this.running.delete(uploadId);
      const digesting = running;
      const garbage = new BodyGarbage();
      const written = this.direct
        ? await appendDirect(this.direct, path, offset, body, (chunk) => {
            digesting?.hash.update(chunk);
            garbage.add(chunk.length);
          })
        : undefined;
      if (written !== undefined) {
        size = written;
      } else {
        const tap = new Transform({
          transform(chunk: Buffer, _enc, done) {
            digesting?.hash.update(chunk);
            garbage.add(chunk.length);
            size += chunk.length;
            if (size - flushedAt >= FLUSH_EVERY && !flushing) {
              flushedAt = size;
              flushing = handle.datasync().finally(() => (flushing = undefined));
            }
            done(null, chunk);
          },
        });
        await pipeline(body, tap, createWriteStream(path, { flags: 'a', mode: PRIVATE_FILE_MODE, highWaterMark: READ_CHUNK }));
        await flushing;
      }
    } catch (err) {
      // Roll back to the last good offset; the running digest has seen the
      // partial bytes, so drop it and let commit recompute.
      await flushing?.catch(() => {});
      await handle.close().catch(() => {});
      if (!(err instanceof UploadOffsetError)) await truncate(path, offset).catch(() => {});
      throw err;
    }
    await handle.close();
    if (running) {
      running.size = size;
      this.running.set(uploadId, running);
    }
    return size;
  }

  async commit(uploadId: string, expected: Digest): Promise<BlobInfo> {
    const path = this.uploadPath(uploadId);
    const algorithm = digestAlgorithm(expected);
    const handle = await open(path, 'a+', PRIVATE_FILE_MODE); // creates an empty staged file for a zero-byte blob
    try {
      const size = (await handle.stat()).size;
      const running = this.running.get(uploadId);
      this.running.delete(uploadId);
      let actual: Digest;
      if (running && running.algorithm === algorithm && running.size === size) {
        actual = finishDigest(running.hash, algorithm);
      } else {
        const hash = createDigester(algorithm);
        await pipeline(createReadStream(path, { highWaterMark: READ_CHUNK }), async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) hash.update(chunk);
        });
        actual = finishDigest(hash, algorithm);
      }
      if (actual !== expected) throw new DigestMismatchError(expected, actual);
      await handle.sync();
      await handle.close();
      const target = this.blobPath(expected);
      const created = await mkdir(dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE });
      // Renaming over an identical blob pushed concurrently is harmless:
      // both have the same verified bytes.
      await rename(path, target);
      await fsyncPath(dirname(target));
      if (created) await fsyncPath(dirname(dirname(target)));
      return { digest: expected, size };
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async abort(uploadId: string): Promise<void> {
    this.running.delete(uploadId);
    await rm(this.uploadPath(uploadId), { force: true });
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
