// Blobs in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO, StorageGRID):
//   <prefix>blobs/<algorithm>/<hex>          published blobs (verified, complete)
//   <prefix>uploads/<id>/state.json          an upload session (upload-state.ts)
//   <prefix>uploads/<id>/tail-<random>       its bytes after the last full part
//   <prefix>uploads/<id>/data                the assembled upload, during commit
// Nothing of a session lives in process memory between requests, so any
// node continues any session. Every full part goes into one multipart
// upload per session (part sizes from part-size.ts); the bytes that do not
// fill a part are kept as the tail object and become the start of the next
// part. The running SHA-256 is saved with the session (hash-wasm's
// save/load), so a node taking over never re-reads the staged bytes.
//
// Publishing copies, server side: a multipart upload's key is fixed when
// it is created, before the digest is known, and the bytes must not be
// visible under the digest before they are verified. Up to 5 GiB that is
// one CopyObject; above, S3 refuses a single copy, so it is UploadPartCopy
// in ranges (copyRanges). The alternative, a pointer object naming the
// data, would cost every read a second request.
//
// Chunks of one session must not run at the same time (the registry
// serialises them; across nodes, its upload lock): two at once would both
// write part n.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { createSHA256, type IHasher } from 'hash-wasm';
import { createDigester, digestAlgorithm, digestHex, finishDigest, type Digest } from '../../formats/digest.js';
import type { ByteRange } from '../../formats/http-range.js';
import { BlobNotFoundError, DigestMismatchError, UploadOffsetError, assertUploadId, type BlobInfo, type BlobStore } from '../blob-store.js';
import { MAX_PART_BYTES, copyRanges, partSize } from './part-size.js';
import { objectUrl, presignGet } from './presign.js';
import type { S3StorageLocation } from './s3-location.js';
import { EMPTY_UPLOAD, decodeStagedUpload, encodeStagedUpload, undoLastChunk, type StagedUpload } from './upload-state.js';

/** How long a presigned blob URL is good for (distribution's default). */
const PRESIGN_SECONDS = 20 * 60;
/** UploadPartCopy ranges when publishing a blob over the single-copy limit. */
const COPY_RANGE_BYTES = 1024 * 1024 * 1024;
const COPY_CONCURRENCY = 4;
/** A body that brought this much streams its parts as they arrive (see StreamingPart). */
const STREAM_PART_AFTER_BYTES = 4 * 1024 * 1024;

type CredentialProvider = ReturnType<typeof fromNodeProviderChain>;

export interface S3BlobStoreOptions {
  /** Largest object published with one CopyObject (S3: 5 GiB); lowered in tests to exercise the ranged copy. */
  singleCopyMaxBytes?: number;
  copyRangeBytes?: number;
  credentials?: CredentialProvider;
  /** A request whose socket brings and takes no byte for this long fails (default 2 minutes). */
  idleTimeoutMs?: number;
}

/**
 * Without limits, a store that stops answering (a full Ceph OSD blocks
 * writes) holds every request that touches it forever. Idle, not total:
 * a part or a GET of any size takes as long as it takes while bytes flow.
 */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 120_000;

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly credentials: CredentialProvider;
  private readonly singleCopyMaxBytes: number;
  private readonly copyRangeBytes: number;
  /** Present when the storage URL asks for redirects (redirect=true). */
  readonly presignedUrl?: (digest: Digest) => Promise<string>;

  constructor(
    readonly location: S3StorageLocation,
    options: S3BlobStoreOptions = {},
  ) {
    this.credentials = options.credentials ?? fromNodeProviderChain();
    this.singleCopyMaxBytes = options.singleCopyMaxBytes ?? MAX_PART_BYTES;
    this.copyRangeBytes = options.copyRangeBytes ?? COPY_RANGE_BYTES;
    this.client = new S3Client({
      endpoint: location.endpoint,
      region: location.region,
      forcePathStyle: location.pathStyle,
      credentials: this.credentials,
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS },
      // Ceph RGW and others reject the SDK's default streaming checksums (411 MissingContentLength).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    if (location.redirect) this.presignedUrl = (digest) => this.presign(this.blobKey(digest));
  }

  close(): void {
    this.client.destroy();
  }

  /** The bucket answers and these credentials may use it (for /readyz). */
  async ready(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
  }

  // --- keys --------------------------------------------------------------

  private blobKey(digest: Digest): string {
    return `${this.location.prefix}blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
  }

  private uploadKey(uploadId: string, name: string): string {
    assertUploadId(uploadId);
    return `${this.location.prefix}uploads/${uploadId}/${name}`;
  }

  // --- published blobs ---------------------------------------------------

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(digest) }));
      return { digest, size: Number(head.ContentLength ?? 0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(digest), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
      );
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(digest);
      throw err;
    }
  }

  async delete(digest: Digest): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(digest) }));
  }

  private async presign(key: string): Promise<string> {
    const endpoint = new URL(this.location.endpoint ?? `https://s3.${this.location.region}.amazonaws.com`);
    return presignGet({
      url: objectUrl(endpoint, this.location.bucket, key, this.location.pathStyle),
      region: this.location.region,
      credentials: await this.credentials(),
      expiresSeconds: PRESIGN_SECONDS,
      now: new Date(),
    });
  }

  // --- staged uploads ----------------------------------------------------

  async stagedSize(uploadId: string): Promise<number> {
    return (await this.loadState(uploadId))?.offset ?? 0;
  }

  async append(uploadId: string, offset: number, body: Readable): Promise<number> {
    const loaded = (await this.loadState(uploadId)) ?? EMPTY_UPLOAD;
    if (loaded.assembled) throw new Error(`upload ${uploadId} is being completed; no more chunks`);
    // The caller (the upload's row) is one chunk behind: that chunk was
    // saved here but never recorded, so it is undone and sent again.
    const saved = loaded.offset !== offset && loaded.previous?.offset === offset ? undoLastChunk(loaded) : loaded;
    if (saved.offset !== offset) throw new UploadOffsetError(saved.offset, offset);
    const hasher = await restoreHasher(saved);
    // `next` becomes the saved state only when the whole body arrived; until
    // then the bucket still describes `offset` bytes (the rollback).
    const next: StagedUpload = {
      ...saved,
      parts: [...saved.parts],
      previous: { offset: saved.offset, partCount: saved.parts.length, tail: saved.tail, sha256State: saved.sha256State },
    };
    let pending: Buffer[] = saved.tail ? await this.readAll(saved.tail.key) : [];
    let pendingBytes = saved.tail?.size ?? 0;
    let newTail: string | undefined;
    // A big body streams its part to S3 while the bytes arrive (see StreamingPart).
    let streaming: StreamingPart | undefined;
    let received = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hasher.update(chunk);
        next.offset += chunk.length;
        received += chunk.length;
        let rest = chunk;
        while (rest.length > 0) {
          const size = partSize(next.parts.length + 1);
          const room = size - pendingBytes;
          const piece = rest.length <= room ? rest : rest.subarray(0, room);
          pending.push(piece);
          pendingBytes += piece.length;
          rest = rest.subarray(piece.length);
          if (streaming) streaming.body.write(piece);
          else if (received >= STREAM_PART_AFTER_BYTES && pendingBytes < size) {
            streaming = this.streamPart(uploadId, await this.ensureMultipart(uploadId, saved, next), next.parts.length + 1, pending);
          }
          if (pendingBytes === size) {
            // A full part: sent now, so that at most one part is in memory.
            if (streaming) {
              streaming.body.end();
              next.parts.push(await streaming.etag);
              streaming = undefined;
            } else {
              next.parts.push(await this.uploadPart(uploadId, await this.ensureMultipart(uploadId, saved, next), next.parts.length + 1, pending, pendingBytes));
            }
            pending = [];
            pendingBytes = 0;
          }
        }
      }
      // The body ended short of a full part: that part request is dropped
      // and its bytes become the tail.
      if (streaming) await cancelPart(streaming);
      streaming = undefined;
      if (pendingBytes > 0) {
        newTail = this.uploadKey(uploadId, `tail-${randomUUID()}`);
        await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: newTail, Body: Readable.from(pending), ContentLength: pendingBytes }));
      }
      next.tail = newTail ? { key: newTail, size: pendingBytes } : undefined;
      next.sha256State = Buffer.from(hasher.save()).toString('base64');
      await this.saveState(uploadId, next);
    } catch (err) {
      // Parts sent for this body are left unlisted; the next chunk sends
      // those part numbers again, and completion lists only saved ones.
      if (streaming) await cancelPart(streaming);
      if (newTail) await this.deleteKeys([newTail]).catch(() => {});
      throw err;
    }
    // Tails no longer needed for the state or its undo; a failed delete is
    // left to the commit or abort, which remove the whole session prefix.
    const kept = new Set([next.tail?.key, next.previous?.tail?.key]);
    const stale = [loaded.tail?.key, loaded.previous?.tail?.key].filter((k): k is string => k !== undefined && !kept.has(k));
    await this.deleteKeys(stale).catch(() => {});
    return next.offset;
  }

  async commit(uploadId: string, expected: Digest): Promise<BlobInfo> {
    let state = (await this.loadState(uploadId)) ?? EMPTY_UPLOAD;
    const algorithm = digestAlgorithm(expected);
    if (algorithm === 'sha256') {
      const actual = `sha256:${(await restoreHasher(state)).digest('hex')}` as Digest;
      if (actual !== expected) throw new DigestMismatchError(expected, actual);
    }
    // The staged bytes as one object (or none, for an empty blob).
    let source: string | undefined = state.tail?.key;
    if (state.assembled) source = this.uploadKey(uploadId, 'data');
    else if (state.multipartId && state.parts.length > 0) {
      state = await this.assemble(uploadId, state);
      source = this.uploadKey(uploadId, 'data');
    }
    if (algorithm !== 'sha256') {
      // Only SHA-256 is kept running; another algorithm reads the bytes once.
      const hash = createDigester(algorithm);
      if (source) {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: source }));
        for await (const chunk of res.Body as Readable) hash.update(chunk as Buffer);
      }
      const actual = finishDigest(hash, algorithm);
      if (actual !== expected) throw new DigestMismatchError(expected, actual);
    }
    const target = this.blobKey(expected);
    // A blob pushed before (or concurrently) has the same verified bytes.
    if (!(await this.stat(expected))) {
      if (source) await this.copy(source, target, state.offset);
      else await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: target, Body: Buffer.alloc(0), ContentLength: 0 }));
    }
    await this.removeStaged(uploadId, state);
    return { digest: expected, size: state.offset };
  }

  async abort(uploadId: string): Promise<void> {
    const state = await this.loadState(uploadId);
    if (state) await this.removeStaged(uploadId, state);
  }

  // --- helpers -----------------------------------------------------------

  private async loadState(uploadId: string): Promise<StagedUpload | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.uploadKey(uploadId, 'state.json') }));
      return decodeStagedUpload(await res.Body!.transformToString());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async saveState(uploadId: string, state: StagedUpload): Promise<void> {
    const body = encodeStagedUpload(state);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.location.bucket, Key: this.uploadKey(uploadId, 'state.json'), Body: body, ContentType: 'application/json', ContentLength: Buffer.byteLength(body) }),
    );
  }

  /** The session's multipart upload, created (and saved with the old offset, so that an abort finds it) on first need. */
  private async ensureMultipart(uploadId: string, saved: StagedUpload, next: StagedUpload): Promise<string> {
    if (next.multipartId) return next.multipartId;
    const res = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.location.bucket, Key: this.uploadKey(uploadId, 'data') }));
    next.multipartId = res.UploadId!;
    await this.saveState(uploadId, { ...saved, multipartId: next.multipartId });
    return next.multipartId;
  }

  /** Starts sending part `partNumber` with the bytes so far; append writes the rest as they arrive. */
  private streamPart(uploadId: string, multipartId: string, partNumber: number, sofar: Buffer[]): StreamingPart {
    const body = new PassThrough();
    const abort = new AbortController();
    for (const piece of sofar) body.write(piece);
    const etag = this.client
      .send(
        new UploadPartCommand({ Bucket: this.location.bucket, Key: this.uploadKey(uploadId, 'data'), UploadId: multipartId, PartNumber: partNumber, Body: body, ContentLength: partSize(partNumber) }),
        { abortSignal: abort.signal },
      )
      .then((res) => res.ETag!);
    etag.catch(() => {}); // awaited when the part fills, dropped by cancelPart otherwise
    return { body, abort, etag };
  }

  private async uploadPart(uploadId: string, multipartId: string, partNumber: number, chunks: Buffer[], bytes: number): Promise<string> {
    const res = await this.client.send(
      new UploadPartCommand({
        Bucket: this.location.bucket,
        Key: this.uploadKey(uploadId, 'data'),
        UploadId: multipartId,
        PartNumber: partNumber,
        Body: Readable.from(chunks),
        ContentLength: bytes,
      }),
    );
    return res.ETag!;
  }

  /** Sends the tail as the last part and completes the multipart upload into uploads/<id>/data. */
  private async assemble(uploadId: string, state: StagedUpload): Promise<StagedUpload> {
    const parts = [...state.parts];
    if (state.tail) parts.push(await this.uploadPart(uploadId, state.multipartId!, parts.length + 1, await this.readAll(state.tail.key), state.tail.size));
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.location.bucket,
        Key: this.uploadKey(uploadId, 'data'),
        UploadId: state.multipartId,
        MultipartUpload: { Parts: parts.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    // Recorded so that a commit retried after a failed copy starts from the data object.
    const assembled: StagedUpload = { ...state, multipartId: undefined, assembled: true };
    await this.saveState(uploadId, assembled);
    if (state.tail) await this.deleteKeys([state.tail.key]).catch(() => {});
    return { ...assembled, tail: undefined };
  }

  /** Server-side copy; over the single-copy limit in ranges (see the top of this file). */
  private async copy(source: string, target: string, size: number): Promise<void> {
    const { bucket } = this.location;
    const copySource = `${bucket}/${source.split('/').map(encodeURIComponent).join('/')}`;
    if (size <= this.singleCopyMaxBytes) {
      await this.client.send(new CopyObjectCommand({ Bucket: bucket, Key: target, CopySource: copySource }));
      return;
    }
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: target }));
    try {
      const ranges = copyRanges(size, this.copyRangeBytes);
      const etags: string[] = new Array(ranges.length);
      let nextRange = 0;
      const worker = async () => {
        while (nextRange < ranges.length) {
          const i = nextRange++;
          const res = await this.client.send(
            new UploadPartCopyCommand({ Bucket: bucket, Key: target, UploadId, PartNumber: i + 1, CopySource: copySource, CopySourceRange: `bytes=${ranges[i]!.start}-${ranges[i]!.end}` }),
          );
          etags[i] = res.CopyPartResult!.ETag!;
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, ranges.length) }, worker));
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
      );
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId })).catch(() => {});
      throw err;
    }
  }

  /** Removes the session's multipart upload and every object under uploads/<id>/ (also tails of failed chunks). */
  private async removeStaged(uploadId: string, state: StagedUpload): Promise<void> {
    if (state.multipartId) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: this.uploadKey(uploadId, 'data'), UploadId: state.multipartId }))
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
    }
    const prefix = this.uploadKey(uploadId, '');
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: prefix, ContinuationToken: token }));
      // state.json goes last, so that a removal cut short can be repeated.
      const keys = (page.Contents ?? []).map((o) => o.Key!).filter((k) => !k.endsWith('/state.json'));
      await this.deleteKeys(keys);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await this.deleteKeys([this.uploadKey(uploadId, 'state.json')]);
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length === 1) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: keys[0] }));
      return;
    }
    const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.location.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} staged objects: ${res.Errors[0]!.Code} ${res.Errors[0]!.Message}`);
  }

  /** A small staged object (a tail, at most one part) as buffers. */
  private async readAll(key: string): Promise<Buffer[]> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key }));
    const chunks: Buffer[] = [];
    for await (const chunk of res.Body as Readable) chunks.push(chunk as Buffer);
    return chunks;
  }
}

/**
 * A part whose request is under way while its bytes still arrive, so that
 * receiving and sending overlap. Its bytes are also kept in `pending` (the
 * same buffers, not copies): when the body ends before the part is full,
 * the request is dropped and those bytes are written as the tail. Only
 * bodies that brought this much are streamed, so small chunks (crane, the
 * conformance suite) do not open part requests they would drop.
 */
interface StreamingPart {
  body: PassThrough;
  abort: AbortController;
  etag: Promise<string>;
}

async function cancelPart(part: StreamingPart): Promise<void> {
  part.abort.abort();
  part.body.destroy();
  await part.etag.catch(() => {});
}

async function restoreHasher(state: StagedUpload): Promise<IHasher> {
  const hasher = await createSHA256();
  if (state.sha256State) hasher.load(Buffer.from(state.sha256State, 'base64'));
  else hasher.init();
  return hasher;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404;
}
