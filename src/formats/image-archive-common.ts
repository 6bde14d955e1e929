// Shared pieces of the image-archive readers and writers: the typed error,
// the blob-sink interface a caller implements to store blobs as they stream
// past, the result types, a verifying pass-through stream, and the
// assembly of images from an OCI image layout (index.json -> manifests ->
// config and layers), used both for tarballs and for layout directories.
//
// Pure: no file system, no network. Bytes only flow through the streams a
// caller hands in; the only things held in memory are small JSON documents
// (manifests, configs, index.json, manifest.json), under explicit limits.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import { digestAlgorithm, isDigest, type Digest, type DigestAlgorithm } from './digest.js';
import { ManifestFormatError, parseManifest, type Descriptor } from './manifest.js';
import { IMAGE_MANIFEST_TYPES, INDEX_MANIFEST_TYPES, NON_DISTRIBUTABLE_LAYERS } from './media-types.js';

// ---------------------------------------------------------------------------
// errors

export type ImageArchiveErrorCode =
  /** not a tarball at all, or a tarball without manifest.json / index.json */
  | 'NOT_AN_ARCHIVE'
  /** a format we recognise but do not read (zstd/xz/bzip2 tarball, pre-1.10 docker save, ...) */
  | 'UNSUPPORTED'
  /** the input ends early (tar or gzip) */
  | 'TRUNCATED'
  /** the gzip stream is damaged */
  | 'CORRUPT_COMPRESSION'
  /** a tar header is damaged */
  | 'CORRUPT_TAR'
  /** manifest.json, index.json, a manifest or a config is not the JSON it should be */
  | 'INVALID_METADATA'
  /** a file or blob the metadata refers to is not in the archive */
  | 'MISSING_FILE'
  /** bytes do not hash to the digest the archive says they have */
  | 'DIGEST_MISMATCH'
  /** a blob's length is not what its descriptor says */
  | 'SIZE_MISMATCH'
  /** a JSON document is larger than the configured limit */
  | 'TOO_LARGE';

export class ImageArchiveError extends Error {
  override readonly name = 'ImageArchiveError';
  readonly code: ImageArchiveErrorCode;
  /** the entry / blob path inside the archive the problem is about, when there is one */
  readonly path: string | undefined;
  constructor(code: ImageArchiveErrorCode, message: string, options: { cause?: unknown; path?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

export const ADVICE_REDOWNLOAD = 'the file is damaged or incomplete: download or save it again';

// ---------------------------------------------------------------------------
// the blob sink: where blobs go while the archive streams past

/** One blob on its way from the archive to the caller's content store. */
export interface IncomingBlob {
  /** where it is in the archive (an entry name, or a layout path), for messages */
  path: string;
  /** its length in bytes: `stream` yields exactly this many */
  size: number;
  /**
   * The digest the archive names it by (`blobs/sha256/<hex>`, `<hex>.json`),
   * or undefined when the digest is only known once the bytes have been read
   * (a classic `<id>/layer.tar`).
   */
  expected?: Digest;
  /**
   * The bytes. The stream ends only when all `size` bytes arrived and, when
   * `expected` is set, they hash to it; otherwise it is destroyed with an
   * ImageArchiveError, and the sink must then publish nothing.
   */
  stream: Readable;
  /** The digest the reader computed; resolves once `stream` has ended (rejects if it fails). */
  digest: Promise<Digest>;
}

export interface BlobSink {
  /**
   * Store one blob (stage it, then publish it under `await blob.digest` once
   * the stream has ended). Read `stream` to its end; resolve once the bytes
   * are durable (or once it has drained a blob it already holds). Reject to
   * abort the whole read; if `stream` errors, reject and publish nothing.
   * The same digest may be offered more than once (a content store simply
   * drains the duplicate).
   */
  putBlob(blob: IncomingBlob): Promise<void>;
}

/** A sink that only verifies: reads and discards every blob (for `inspect`, dry runs, tests). */
export function discardingBlobSink(): BlobSink {
  return {
    async putBlob(blob) {
      blob.stream.resume();
      await blob.digest;
    },
  };
}

// ---------------------------------------------------------------------------
// results

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface ArchiveManifestCommon {
  /** digest of `bytes` (for an OCI layout: the descriptor's digest, verified) */
  digest: Digest;
  mediaType: string;
  size: number;
  /** the exact manifest bytes; push these unchanged */
  bytes: Buffer;
  /**
   * Full references the manifest was saved under: `RepoTags` of manifest.json
   * and `io.containerd.image.name` annotations of index.json, e.g.
   * `registry.example/system/oracle_db:19c` or `alpine:3.19` (docker's
   * familiar form). Deduplicated (`alpine:3.19` and
   * `docker.io/library/alpine:3.19` count once), in archive order.
   */
  repoTags: string[];
  /**
   * `org.opencontainers.image.ref.name` annotations of index.json: a bare
   * tag (`19c`, as docker and containerd write) or whatever the writer chose
   * (skopeo writes what it was given, e.g. `name:tag`).
   */
  refNames: string[];
}

export interface ArchiveImage extends ArchiveManifestCommon {
  kind: 'image';
  /** the config blob, with its bytes (small JSON) */
  config: Descriptor & { bytes: Buffer };
  /** layer blobs in order; all in the sink except non-distributable layers with `urls` */
  layers: Descriptor[];
  platform?: Platform;
  /**
   * true when the manifest was made by the reader (classic docker save holds
   * no manifest): a Docker schema 2 manifest with uncompressed layers.
   */
  synthesized: boolean;
}

export interface ArchiveIndex extends ArchiveManifestCommon {
  kind: 'index';
  /** child manifests; every one is in `images` (or `indexes`) of the same result */
  manifests: Descriptor[];
}

export type ArchiveLayout =
  /** classic `docker save`: manifest.json, repositories, <id>/layer.tar */
  | 'docker-archive'
  /** `docker save` of Docker 25+: an OCI layout plus manifest.json */
  | 'docker-archive-oci'
  /** an OCI image layout in a tarball (`skopeo copy ... oci-archive:`, buildkit) */
  | 'oci-archive'
  /** an OCI image layout directory */
  | 'oci-layout';

export interface ImageArchive {
  layout: ArchiveLayout;
  /** every image manifest (children of indexes included), each once, in archive order */
  images: ArchiveImage[];
  /** complete indexes (all children present); children come before their index in push order */
  indexes: ArchiveIndex[];
  /** every blob handed to the sink: digest -> size (includes blobs no image refers to) */
  blobs: Map<Digest, number>;
  /** things a user may want to know that did not stop the read */
  warnings: string[];
}

export interface ReadImageArchiveOptions {
  /** largest JSON document (manifest, config, index.json, manifest.json) kept in memory; default 16 MiB */
  maxJsonSize?: number;
  /** all JSON kept in memory together; default 256 MiB */
  maxJsonTotal?: number;
}

export const DEFAULT_MAX_JSON_SIZE = 16 * 1024 * 1024;
export const DEFAULT_MAX_JSON_TOTAL = 256 * 1024 * 1024;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
/** the uncompressed Docker layer type (not in media-types.ts, which lists what registries commonly see) */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
export const OCI_LAYOUT_VERSION = '1.0.0';

// ---------------------------------------------------------------------------
// verifying pass-through

export interface VerifierOptions {
  path: string;
  size: number;
  expected?: Digest;
  /** keep the bytes when the blob is at most this long and starts like JSON (`{` or `[`) */
  keepJsonUpTo?: number;
  /** when the bytes are gzip, also compute the sha256 of the decompressed bytes (a layer's diff ID) */
  diffId?: boolean;
  /** what the bytes are, for messages: "tar entry", "blob" */
  what?: string;
}

export type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2';

export function detectCompression(head: Uint8Array): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return undefined;
}

const HEAD_BYTES = 6;

/**
 * Passes bytes through unchanged while hashing and counting them. Errors
 * (instead of ending) when the count or the digest is not what was
 * expected, so a consumer that publishes on 'end' never publishes bad bytes.
 */
export class BlobVerifier extends Transform {
  readonly digest: Promise<Digest>;
  /** the bytes, when kept (see keepJsonUpTo); set once ended */
  kept: Buffer | undefined;
  /** compression detected from the first bytes */
  compression: Compression | undefined;
  /** sha256 of the decompressed bytes, when diffId was asked for and the bytes are gzip */
  diffId: Digest | undefined;
  diffIdError: Error | undefined;

  private readonly opts: VerifierOptions;
  private readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  private count = 0;
  private head: Buffer[] | undefined = [];
  private headLength = 0;
  private keep: Buffer[] | undefined;
  private gunzip: Gunzip | undefined;
  private gunzipDone: Promise<void> | undefined;
  private resolveDigest!: (d: Digest) => void;
  private rejectDigest!: (e: unknown) => void;

  constructor(opts: VerifierOptions) {
    super();
    this.opts = opts;
    this.algorithm = opts.expected ? digestAlgorithm(opts.expected) : 'sha256';
    this.hash = createHash(this.algorithm);
    this.digest = new Promise<Digest>((resolve, reject) => {
      this.resolveDigest = resolve;
      this.rejectDigest = reject;
    });
    this.digest.catch(() => undefined); // callers need not await it
    // Failures reach the reader through `digest`; a sink that gave up on the
    // stream (and so listens no more) must not turn them into a crash.
    this.on('error', () => undefined);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    this.count += buf.length;
    if (this.count > this.opts.size) {
      cb(this.sizeError());
      return;
    }
    this.hash.update(buf);
    this.push(buf);
    if (this.head) {
      this.head.push(buf);
      this.headLength += buf.length;
      if (this.headLength < HEAD_BYTES) {
        cb();
        return;
      }
      this.decide(cb);
      return;
    }
    this.side(buf, cb);
  }

  override _flush(cb: TransformCallback): void {
    const finish = (): void => {
      if (this.count !== this.opts.size) {
        cb(this.sizeError());
        return;
      }
      const digest = `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
      if (this.opts.expected && digest !== this.opts.expected) {
        cb(
          new ImageArchiveError(
            'DIGEST_MISMATCH',
            `${this.opts.what ?? 'blob'} ${this.opts.path}: its bytes hash to ${digest}, not ${this.opts.expected}; ${ADVICE_REDOWNLOAD}`,
            { path: this.opts.path },
          ),
        );
        return;
      }
      if (this.keep) this.kept = Buffer.concat(this.keep);
      this.resolveDigest(digest);
      cb();
    };
    const afterHead = (err?: Error | null): void => {
      if (err) {
        cb(err);
        return;
      }
      if (!this.gunzip) {
        finish();
        return;
      }
      this.gunzip.end();
      void this.gunzipDone!.then(finish);
    };
    if (this.head) this.decide(afterHead);
    else afterHead();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.gunzip?.destroy();
    this.rejectDigest(err ?? new ImageArchiveError('TRUNCATED', `${this.opts.what ?? 'blob'} ${this.opts.path} was cut short`, { path: this.opts.path }));
    cb(err);
  }

  /** called once the first bytes are known: set up JSON keeping and the diff-ID side channel */
  private decide(cb: (err?: Error | null) => void): void {
    const head = Buffer.concat(this.head!);
    this.head = undefined;
    this.compression = detectCompression(head);
    const first = head.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
    if (this.opts.keepJsonUpTo !== undefined && this.opts.size <= this.opts.keepJsonUpTo && (first === 0x7b || first === 0x5b)) {
      this.keep = [];
    }
    if (this.opts.diffId && this.compression === 'gzip') {
      const gunzip = createGunzip();
      const diffHash = createHash('sha256');
      this.gunzip = gunzip;
      gunzip.on('data', (c: Buffer) => diffHash.update(c));
      this.gunzipDone = new Promise<void>((resolve) => {
        gunzip.on('end', () => {
          this.diffId = `sha256:${diffHash.digest('hex')}` as Digest;
          resolve();
        });
        gunzip.on('error', (e) => {
          this.diffIdError = e;
          resolve();
        });
      });
    }
    this.side(head, cb);
  }

  /** feed the keep buffer and the gunzip side channel, honouring its back-pressure */
  private side(buf: Buffer, cb: (err?: Error | null) => void): void {
    if (this.keep) this.keep.push(buf);
    const gunzip = this.gunzip;
    if (gunzip && !this.diffIdError && !gunzip.destroyed) {
      if (!gunzip.write(buf)) {
        const go = (): void => {
          gunzip.off('drain', go);
          gunzip.off('close', go);
          cb();
        };
        gunzip.on('drain', go);
        gunzip.on('close', go);
        return;
      }
    }
    cb();
  }

  private sizeError(): ImageArchiveError {
    const what = this.opts.what ?? 'blob';
    if (this.count > this.opts.size) {
      return new ImageArchiveError('SIZE_MISMATCH', `${what} ${this.opts.path} is longer than the ${this.opts.size} bytes its descriptor says`, { path: this.opts.path });
    }
    return new ImageArchiveError(
      'TRUNCATED',
      `${what} ${this.opts.path} ends after ${this.count} of ${this.opts.size} bytes; ${ADVICE_REDOWNLOAD}`,
      { path: this.opts.path },
    );
  }
}

/** Resolves when `stream` can take more data; rejects if it closes or fails first. */
export function waitDrain(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('stream closed while waiting to write'));
    };
    const onError = (e: unknown): void => {
      cleanup();
      reject(e);
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}

/**
 * Copies `source` into `verifier` with back-pressure, ending it. Errors of
 * the source destroy the verifier (mapped by `mapError`).
 */
export async function pump(
  source: AsyncIterable<unknown>,
  verifier: BlobVerifier,
  mapError: (e: unknown) => unknown = (e) => e,
): Promise<void> {
  try {
    for await (const chunk of source) {
      if (verifier.destroyed) return;
      if (!verifier.write(chunk as Buffer)) await waitDrain(verifier);
    }
    verifier.end();
  } catch (err) {
    if (!verifier.destroyed) verifier.destroy(mapError(err) as Error);
  }
}

/**
 * Hands `verifier` to the sink and waits until both the bytes have passed
 * and the sink has stored them. Returns the verified digest.
 */
export async function deliver(
  sink: BlobSink,
  verifier: BlobVerifier,
  feed: Promise<void>,
  info: { path: string; size: number; expected?: Digest },
): Promise<Digest> {
  const blob: IncomingBlob = { ...info, stream: verifier, digest: verifier.digest };
  try {
    await sink.putBlob(blob);
  } catch (err) {
    if (!verifier.destroyed) verifier.destroy(err as Error);
    await feed;
    // If the bytes themselves were bad, that is the better error to report.
    const own = await verifier.digest.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw own instanceof ImageArchiveError ? own : err;
  }
  // A sink that resolved without reading everything: drain (still verifying).
  if (!verifier.readableEnded && !verifier.destroyed) verifier.resume();
  await feed;
  return verifier.digest;
}

// ---------------------------------------------------------------------------
// JSON helpers

export type Json = Record<string, unknown>;

export function parseJsonObject(bytes: Buffer, what: string, path?: string): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ImageArchiveError('INVALID_METADATA', `${what} is not valid JSON (${(err as Error).message}); ${ADVICE_REDOWNLOAD}`, {
      cause: err,
      ...(path !== undefined ? { path } : {}),
    });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ImageArchiveError('INVALID_METADATA', `${what} must be a JSON object`, path !== undefined ? { path } : {});
  }
  return doc as Json;
}

export function platformOf(config: Json): Platform | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (typeof config.variant === 'string' && config.variant !== '') p.variant = config.variant;
  return p;
}

/**
 * Docker's normalisation, enough to tell that `alpine:3.19` and
 * `docker.io/library/alpine:3.19` are the same name.
 */
export function canonicalReference(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  let out = hasDomain ? ref : `docker.io/${ref}`;
  if (out.startsWith('index.docker.io/')) out = `docker.io/${out.slice('index.docker.io/'.length)}`;
  if (out.startsWith('docker.io/') && !out.slice('docker.io/'.length).includes('/')) out = `docker.io/library/${out.slice('docker.io/'.length)}`;
  return out;
}

export function addNames(target: string[], names: Iterable<string>): void {
  const seen = new Set(target.map(canonicalReference));
  for (const n of names) {
    const c = canonicalReference(n);
    if (!seen.has(c)) {
      seen.add(c);
      target.push(n);
    }
  }
}

function addRaw(target: string[], names: Iterable<string>): void {
  for (const n of names) if (!target.includes(n)) target.push(n);
}

// ---------------------------------------------------------------------------
// OCI layout assembly (shared by the tarball and the directory readers)

/** A blob found in the layout: verified, in the sink. */
export interface FoundBlob {
  path: string;
  digest: Digest;
  size: number;
  /** the bytes, when asked for and small enough */
  bytes?: Buffer;
}

export interface BlobLookup {
  /** the blob a descriptor points at, or undefined if the layout does not hold it */
  find(desc: Descriptor, needBytes: boolean): Promise<FoundBlob | undefined>;
}

export function blobPath(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digest.slice(digest.indexOf(':') + 1)}`;
}

/** `blobs/<alg>/<hex>` -> digest, when the path is one */
export function digestFromBlobPath(path: string): Digest | undefined {
  const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(path);
  if (!m) return undefined;
  const d = `${m[1]}:${m[2]}`;
  return isDigest(d) ? (d as Digest) : undefined;
}

export class ArchiveAssembly {
  readonly images = new Map<string, ArchiveImage>();
  readonly indexes = new Map<string, ArchiveIndex>();
  readonly warnings: string[] = [];

  /** images in push order: children before indexes is the caller's business; this is archive order */
  result(layout: ArchiveLayout, blobs: Map<Digest, number>): ImageArchive {
    return { layout, images: [...this.images.values()], indexes: [...this.indexes.values()], blobs, warnings: this.warnings };
  }

  addImage(image: ArchiveImage): ArchiveImage {
    const existing = this.images.get(image.digest);
    if (!existing) {
      this.images.set(image.digest, image);
      return image;
    }
    addNames(existing.repoTags, image.repoTags);
    addRaw(existing.refNames, image.refNames);
    return existing;
  }
}

function names(annotations: Record<string, string> | undefined): { repoTags: string[]; refNames: string[] } {
  const repoTags: string[] = [];
  const refNames: string[] = [];
  const full = annotations?.[ANNOTATION_CONTAINERD_NAME];
  const ref = annotations?.[ANNOTATION_REF_NAME];
  if (full) repoTags.push(full);
  if (ref) refNames.push(ref);
  return { repoTags, refNames };
}

function manifestError(err: unknown, what: string, path: string): never {
  if (err instanceof ManifestFormatError) {
    throw new ImageArchiveError('INVALID_METADATA', `${what} ${path} is not a valid manifest: ${err.message}`, { cause: err, path });
  }
  throw err;
}

function checkFound(found: FoundBlob, desc: Descriptor, what: string): void {
  if (found.size !== desc.size) {
    throw new ImageArchiveError(
      'SIZE_MISMATCH',
      `${what} ${desc.digest} is ${found.size} bytes in the archive but its descriptor says ${desc.size}; ${ADVICE_REDOWNLOAD}`,
      { path: found.path },
    );
  }
  if (found.digest !== desc.digest) {
    throw new ImageArchiveError('DIGEST_MISMATCH', `${what} at ${found.path} hashes to ${found.digest}, not ${desc.digest}; ${ADVICE_REDOWNLOAD}`, {
      path: found.path,
    });
  }
}

function needJson(found: FoundBlob, what: string): Buffer {
  if (!found.bytes) {
    throw new ImageArchiveError('INVALID_METADATA', `${what} at ${found.path} is not JSON (or is larger than the JSON size limit)`, { path: found.path });
  }
  return found.bytes;
}

const MAX_INDEX_DEPTH = 8;

/**
 * Reads an OCI layout's index.json and everything it points at. Missing
 * top-level manifests, configs and layers are errors. A multi-platform index
 * whose other platforms were not saved (docker does that) is reduced to its
 * one saved platform manifest, which takes the index's names, with a warning.
 */
export async function assembleOciLayout(indexJson: Buffer, lookup: BlobLookup, into: ArchiveAssembly, path = 'index.json'): Promise<void> {
  let parsed;
  try {
    parsed = parseManifest(indexJson);
  } catch (err) {
    if (err instanceof ManifestFormatError) {
      throw new ImageArchiveError('INVALID_METADATA', `${path} is not a valid OCI image index: ${err.message}`, { cause: err, path });
    }
    throw err;
  }
  if (parsed.kind !== 'index') throw new ImageArchiveError('INVALID_METADATA', `${path} must be an image index (it has no "manifests" array)`, { path });
  if (parsed.manifests.length === 0) throw new ImageArchiveError('NOT_AN_ARCHIVE', `${path} lists no images: the layout is empty`, { path });

  const visit = async (desc: Descriptor, depth: number, required: boolean): Promise<'present' | 'missing' | 'skipped'> => {
    const n = names(desc.annotations);
    if (IMAGE_MANIFEST_TYPES.has(desc.mediaType)) {
      const image = await loadImage(desc, required);
      if (!image) return 'missing';
      addNames(image.repoTags, n.repoTags);
      addRaw(image.refNames, n.refNames);
      return 'present';
    }
    if (INDEX_MANIFEST_TYPES.has(desc.mediaType)) {
      if (depth >= MAX_INDEX_DEPTH) throw new ImageArchiveError('INVALID_METADATA', `indexes nest deeper than ${MAX_INDEX_DEPTH} levels at ${desc.digest}`);
      const found = await lookup.find(desc, true);
      if (!found) {
        if (required) throw missingBlob(desc, 'image index');
        return 'missing';
      }
      checkFound(found, desc, 'image index');
      let idx;
      try {
        idx = parseManifest(needJson(found, 'image index'), desc.mediaType);
      } catch (err) {
        manifestError(err, 'image index', found.path);
      }
      if (idx.kind !== 'index') throw new ImageArchiveError('INVALID_METADATA', `${found.path} is described as an index but is an image manifest`, { path: found.path });
      const present: Descriptor[] = [];
      const missing: Descriptor[] = [];
      for (const child of idx.manifests) {
        const state = await visit(child, depth + 1, false);
        if (state === 'present') present.push(child);
        else if (state === 'missing') missing.push(child);
      }
      if (missing.length === 0) {
        const existing = into.indexes.get(desc.digest);
        if (existing) {
          addNames(existing.repoTags, n.repoTags);
          addRaw(existing.refNames, n.refNames);
        } else {
          into.indexes.set(desc.digest, {
            kind: 'index',
            digest: desc.digest,
            mediaType: idx.mediaType,
            size: desc.size,
            bytes: found.bytes!,
            repoTags: n.repoTags,
            refNames: n.refNames,
            manifests: idx.manifests,
          });
        }
        return 'present';
      }
      // Partial index: docker saves only the platform it has.
      const candidates = present.filter((c) => c.annotations?.['vnd.docker.reference.type'] === undefined);
      const label = [...n.repoTags, ...n.refNames][0] ?? desc.digest;
      if (candidates.length === 1) {
        const only = candidates[0]!;
        const child = into.images.get(only.digest);
        if (child) {
          addNames(child.repoTags, n.repoTags);
          addRaw(child.refNames, n.refNames);
        }
        into.warnings.push(
          `${label}: the archive holds 1 of the ${idx.manifests.length} manifests of multi-platform index ${desc.digest}; loading it as the single-platform image ${only.digest}`,
        );
        return 'present';
      }
      if (!required) return 'missing';
      if (candidates.length === 0) {
        throw new ImageArchiveError(
          'MISSING_FILE',
          `${label}: none of the ${idx.manifests.length} manifests of index ${desc.digest} are in the archive; save the image again (with a platform that exists locally)`,
        );
      }
      throw new ImageArchiveError(
        'UNSUPPORTED',
        `${label}: the archive holds ${candidates.length} of the ${idx.manifests.length} platform manifests of index ${desc.digest}; a partial multi-platform image cannot be loaded as is. Save it with all platforms, or with a single one`,
      );
    }
    into.warnings.push(`skipped ${desc.digest}: media type ${desc.mediaType} is not an image manifest or index`);
    return 'skipped';
  };

  const loadImage = async (desc: Descriptor, required: boolean): Promise<ArchiveImage | undefined> => {
    const existing = into.images.get(desc.digest);
    if (existing) return existing;
    const found = await lookup.find(desc, true);
    if (!found) {
      if (required) throw missingBlob(desc, 'image manifest');
      return undefined;
    }
    checkFound(found, desc, 'image manifest');
    const bytes = needJson(found, 'image manifest');
    let m;
    try {
      m = parseManifest(bytes, desc.mediaType);
    } catch (err) {
      manifestError(err, 'image manifest', found.path);
    }
    if (m.kind !== 'image' || !m.config) {
      throw new ImageArchiveError('INVALID_METADATA', `${found.path} is described as an image manifest but is an index`, { path: found.path });
    }
    const configFound = await lookup.find(m.config, true);
    if (!configFound) throw missingBlob(m.config, `config of image ${desc.digest}`);
    checkFound(configFound, m.config, 'config');
    const configBytes = needJson(configFound, 'config');
    let platform: Platform | undefined;
    try {
      platform = platformOf(JSON.parse(configBytes.toString('utf8')) as Json);
    } catch {
      platform = undefined; // artifacts may have non-JSON-object configs; not our business
    }
    const layers: Descriptor[] = [];
    // parseManifest's blobs leave out non-distributable layers; keep every layer, in order
    const allLayers = parseLayerDescriptors(bytes);
    for (const layer of allLayers) {
      if (NON_DISTRIBUTABLE_LAYERS.has(layer.mediaType) && layer.urls?.length) {
        layers.push(layer);
        continue;
      }
      const lf = await lookup.find(layer, false);
      if (!lf) throw missingBlob(layer, `layer of image ${desc.digest}`);
      checkFound(lf, layer, 'layer');
      layers.push(layer);
    }
    const image: ArchiveImage = {
      kind: 'image',
      digest: desc.digest,
      mediaType: m.mediaType,
      size: desc.size,
      bytes,
      repoTags: [],
      refNames: [],
      config: { ...m.config, bytes: configBytes },
      layers,
      ...(platform ? { platform } : {}),
      synthesized: false,
    };
    return into.addImage(image);
  };

  for (const desc of parsed.manifests) await visit(desc, 0, true);
}

/** every layer descriptor of a (validated) image manifest, in order, including non-distributable ones */
export function parseLayerDescriptors(bytes: Uint8Array): Descriptor[] {
  const body = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Json;
  if (!Array.isArray(body.layers)) return [];
  return (body.layers as Json[]).map((l) => {
    const d: Descriptor = { mediaType: l.mediaType as string, digest: l.digest as Digest, size: l.size as number };
    if (Array.isArray(l.urls)) d.urls = l.urls as string[];
    if (l.annotations && typeof l.annotations === 'object') d.annotations = l.annotations as Record<string, string>;
    return d;
  });
}

export function missingBlob(desc: Descriptor, what: string): ImageArchiveError {
  return new ImageArchiveError(
    'MISSING_FILE',
    `${what} ${desc.digest} (${blobPath(desc.digest)}) is not in the archive; it is incomplete: save or download it again`,
    { path: blobPath(desc.digest) },
  );
}
