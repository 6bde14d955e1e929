// Reading image tarballs: every layout `docker save` writes (classic
// manifest.json + <id>/layer.tar, and the OCI layout of Docker 25+), and
// oci-archive tarballs (an OCI image layout in a tar), plain or gzip.
//
// One streaming pass. Tar entries arrive in any order (docker writes
// manifest.json last), so every file that may be a blob is handed to the
// caller's BlobSink as it streams past, hashed on the way; only small JSON
// documents stay in memory. When the tar has ended, manifest.json /
// index.json are parsed and the images assembled from what was indexed,
// checking that every referenced blob is there with the right digest and
// size. Any problem is an ImageArchiveError and no result at all; blobs
// already in the sink are verified, content-addressed and merely
// unreferenced.
//
// Classic `docker save` holds no manifest: the reader makes a Docker schema
// 2 manifest whose layers are the layer.tar files as they are, uncompressed
// (application/vnd.docker.image.rootfs.diff.tar, digest = diff ID), or gzip
// when docker was handed compressed ones. Not compressing keeps load
// cheap and deterministic: the same tarball gives the same digests on every
// machine and every run (gzip output depends on the zlib build and level),
// and the layers are stored as they arrived. Whether to compress for the
// wire is the pusher's decision, not the parser's.
import { pipeline } from 'node:stream/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { digestOf, isDigest, type Digest } from './digest.js';
import type { Descriptor } from './manifest.js';
import { DOCKER_CONFIG, DOCKER_LAYER_TAR_GZIP, DOCKER_MANIFEST } from './media-types.js';
import {
  ADVICE_REDOWNLOAD,
  ArchiveAssembly,
  BlobVerifier,
  DEFAULT_MAX_JSON_SIZE,
  DEFAULT_MAX_JSON_TOTAL,
  DOCKER_LAYER_TAR,
  ImageArchiveError,
  addNames,
  assembleOciLayout,
  blobPath,
  deliver,
  detectCompression,
  digestFromBlobPath,
  parseJsonObject,
  platformOf,
  pump,
  type ArchiveImage,
  type BlobLookup,
  type BlobSink,
  type Compression,
  type ImageArchive,
  type Json,
  type ReadImageArchiveOptions,
} from './image-archive-common.js';

export * from './image-archive-common.js';

/** Files of the archive's own metadata: kept in memory, never sent to the sink. */
const METADATA_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);
/** Legacy (pre-1.10) per-layer files of classic docker save: nobody needs them. */
const LEGACY_FILE = /^[^/]+\/(json|VERSION)$/;
const CONFIG_FILE = /^([a-f0-9]{64})\.json$/;

interface IndexedFile {
  path: string;
  size: number;
  digest: Digest;
  bytes?: Buffer;
  compression?: Compression;
  diffId?: Digest;
  diffIdError?: Error;
}

/**
 * Reads a tarball (plain or gzip) and stores its blobs into `sink`.
 * Resolves with the images once everything has been verified; rejects with
 * an ImageArchiveError (or the sink's / input's own error) otherwise.
 */
export async function readImageArchive(input: Readable, sink: BlobSink, options: ReadImageArchiveOptions = {}): Promise<ImageArchive> {
  const maxJsonSize = options.maxJsonSize ?? DEFAULT_MAX_JSON_SIZE;
  const maxJsonTotal = options.maxJsonTotal ?? DEFAULT_MAX_JSON_TOTAL;

  const { head, stream } = await sniff(input);
  if (head.length === 0) throw new ImageArchiveError('NOT_AN_ARCHIVE', 'the input is empty: expected a tarball from docker save, skopeo or an OCI layout');
  const compression = detectCompression(head);
  if (compression && compression !== 'gzip') {
    stream.destroy();
    const tool = { zstd: 'zstd -d', xz: 'xz -d', bzip2: 'bzip2 -d' }[compression];
    throw new ImageArchiveError('UNSUPPORTED', `the tarball is ${compression}-compressed, which is not supported: decompress it first (${tool} FILE) and load the .tar, or use gzip`);
  }

  const files = new Map<string, IndexedFile>();
  const links = new Map<string, { kind: 'symlink' | 'link'; target: string }>();
  const meta = new Map<string, Buffer>();
  const blobs = new Map<Digest, number>();
  let jsonTotal = 0;
  let entries = 0;
  let lastEnd = 0;

  const counter = new ByteCounter();
  const extract = tarExtract();
  let feedError: unknown;
  // tar-stream's extract is a streamx Writable, which node's pipeline drives fine
  const sinkEnd = extract as unknown as NodeJS.WritableStream;
  const piped = compression === 'gzip' ? pipeline(stream, createGunzip(), counter, sinkEnd) : pipeline(stream, counter, sinkEnd);
  const feeding = piped.catch((err: unknown) => {
    feedError = err;
  });

  const budget = (n: number, path: string): void => {
    jsonTotal += n;
    if (jsonTotal > maxJsonTotal) {
      throw new ImageArchiveError('TOO_LARGE', `the archive holds more than ${maxJsonTotal} bytes of JSON metadata (at ${path}); raise maxJsonTotal if it is genuine`, { path });
    }
  };

  let failure: unknown;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      entries++;
      lastEnd = Math.max(lastEnd, entry.offset + 512 + Math.ceil((h.type === 'directory' ? 0 : h.size) / 512) * 512);
      const path = normalizePath(h.name);
      if (path === undefined) {
        await drain(entry);
        continue;
      }
      if (h.type === 'symlink' || h.type === 'link') {
        links.set(path, { kind: h.type, target: h.linkname });
        files.delete(path);
        await drain(entry);
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        await drain(entry);
        continue;
      }
      links.delete(path);
      if (METADATA_FILES.has(path)) {
        if (h.size > maxJsonSize) {
          throw new ImageArchiveError('TOO_LARGE', `${path} is ${h.size} bytes, more than the ${maxJsonSize} allowed; raise maxJsonSize if it is genuine`, { path });
        }
        budget(h.size, path);
        meta.set(path, await collect(entry, h.size, path));
        continue;
      }
      if (LEGACY_FILE.test(path)) {
        await drain(entry);
        continue;
      }
      const configMatch = CONFIG_FILE.exec(path);
      const expected = digestFromBlobPath(path) ?? (configMatch ? (`sha256:${configMatch[1]}` as Digest) : undefined);
      const verifier = new BlobVerifier({
        path,
        size: h.size,
        ...(expected ? { expected } : {}),
        keepJsonUpTo: maxJsonSize,
        diffId: !path.startsWith('blobs/'),
        what: 'tar entry',
      });
      const feed = pump(entry, verifier, classifyStreamError);
      const digest = await deliver(sink, verifier, feed, { path, size: h.size, ...(expected ? { expected } : {}) });
      const file: IndexedFile = { path, size: h.size, digest };
      if (verifier.kept) {
        file.bytes = verifier.kept;
        budget(verifier.kept.length, path);
      }
      if (verifier.compression) file.compression = verifier.compression;
      if (verifier.diffId) file.diffId = verifier.diffId;
      if (verifier.diffIdError) file.diffIdError = verifier.diffIdError;
      files.set(path, file);
      blobs.set(digest, h.size);
    }
  } catch (err) {
    failure = err;
    stream.destroy();
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  }
  await feeding;
  if (failure !== undefined) {
    // A gzip / tar / input error is the root cause of what it broke downstream.
    const derived = isStreamDerived(failure) || (failure instanceof ImageArchiveError && failure.code === 'TRUNCATED');
    if (derived && feedError !== undefined && feedError !== failure && !isPrematureClose(feedError)) throw classifyStreamError(feedError, entries);
    throw classifyStreamError(failure, entries);
  }
  if (feedError !== undefined) throw classifyStreamError(feedError, entries);

  if (entries === 0) throw new ImageArchiveError('NOT_AN_ARCHIVE', 'the tarball holds no files: expected a tarball from docker save, skopeo or an OCI layout');
  if (counter.bytes - lastEnd < 1024) {
    throw new ImageArchiveError('TRUNCATED', `the tarball ends without its end-of-archive marker (after ${counter.bytes} bytes): it is truncated; ${ADVICE_REDOWNLOAD}`);
  }

  // ---- assemble
  const resolve = (name: string): IndexedFile | undefined => {
    let p = normalizePath(name);
    for (let hops = 0; p !== undefined && hops < 40; hops++) {
      const f = files.get(p);
      if (f) return f;
      const link = links.get(p);
      if (!link) return undefined;
      p = link.kind === 'symlink' ? normalizePath(link.target.startsWith('/') ? link.target : posix.join(posix.dirname(p), link.target)) : normalizePath(link.target);
    }
    return undefined;
  };
  const lookup: BlobLookup = {
    async find(desc) {
      const f = resolve(blobPath(desc.digest));
      if (!f) return undefined;
      return { path: f.path, digest: f.digest, size: f.size, ...(f.bytes ? { bytes: f.bytes } : {}) };
    },
  };

  const assembly = new ArchiveAssembly();
  const manifestJson = meta.get('manifest.json');
  const indexJson = meta.get('index.json');
  if (!manifestJson && !indexJson) {
    if (meta.has('repositories')) {
      throw new ImageArchiveError('UNSUPPORTED', 'the tarball has a "repositories" file but no manifest.json: it is the pre-1.10 docker save format; save the image again with a current docker, podman or skopeo');
    }
    if (meta.has('oci-layout')) throw new ImageArchiveError('NOT_AN_ARCHIVE', 'the tarball has an oci-layout file but no index.json: it is an incomplete OCI layout');
    throw new ImageArchiveError('NOT_AN_ARCHIVE', 'the tarball has neither manifest.json nor index.json: it is not a docker save, docker-archive or oci-archive tarball');
  }
  if (indexJson) {
    const layoutFile = meta.get('oci-layout');
    if (layoutFile) {
      const doc = parseJsonObject(layoutFile, 'oci-layout', 'oci-layout');
      if (typeof doc.imageLayoutVersion !== 'string') throw new ImageArchiveError('INVALID_METADATA', 'oci-layout has no imageLayoutVersion', { path: 'oci-layout' });
    } else {
      assembly.warnings.push('the tarball has index.json but no oci-layout file; reading it as an OCI layout anyway');
    }
    await assembleOciLayout(indexJson, lookup, assembly);
  }
  if (manifestJson) assembleDockerManifest(manifestJson, resolve, assembly, indexJson !== undefined);

  return assembly.result(indexJson ? (manifestJson ? 'docker-archive-oci' : 'oci-archive') : 'docker-archive', blobs);
}

function assembleDockerManifest(bytes: Buffer, resolve: (p: string) => IndexedFile | undefined, assembly: ArchiveAssembly, haveOci: boolean): void {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ImageArchiveError('INVALID_METADATA', `manifest.json is not valid JSON (${(err as Error).message}); ${ADVICE_REDOWNLOAD}`, { cause: err, path: 'manifest.json' });
  }
  if (!Array.isArray(doc)) throw new ImageArchiveError('INVALID_METADATA', 'manifest.json must be a JSON array with one object per image', { path: 'manifest.json' });
  if (doc.length === 0 && !haveOci) throw new ImageArchiveError('NOT_AN_ARCHIVE', 'manifest.json lists no images', { path: 'manifest.json' });

  doc.forEach((item: unknown, i) => {
    const where = `manifest.json image ${i + 1}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ImageArchiveError('INVALID_METADATA', `${where} is not an object`, { path: 'manifest.json' });
    const e = item as Json;
    if (typeof e.Config !== 'string') throw new ImageArchiveError('INVALID_METADATA', `${where} has no "Config" file name`, { path: 'manifest.json' });
    if (!Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
      throw new ImageArchiveError('INVALID_METADATA', `${where} needs "Layers", an array of file names`, { path: 'manifest.json' });
    }
    if (e.RepoTags !== undefined && e.RepoTags !== null && !(Array.isArray(e.RepoTags) && e.RepoTags.every((t) => typeof t === 'string'))) {
      throw new ImageArchiveError('INVALID_METADATA', `${where}: "RepoTags" must be an array of strings`, { path: 'manifest.json' });
    }
    const repoTags = (e.RepoTags as string[] | null | undefined) ?? [];
    const label = repoTags.length ? `${where} (${repoTags.join(', ')})` : where;
    const need = (name: string, what: string): IndexedFile => {
      const f = resolve(name);
      if (!f) {
        throw new ImageArchiveError('MISSING_FILE', `${label} refers to ${what} "${name}", which is not in the tarball; it is incomplete: save or download it again`, { path: name });
      }
      return f;
    };
    const configFile = need(e.Config, 'config');
    const layerFiles = (e.Layers as string[]).map((l) => need(l, 'layer'));

    if (haveOci) {
      // Docker 25+: the same image is in index.json with its real manifest
      const match = [...assembly.images.values()].find(
        (img) => img.config.digest === configFile.digest && img.layers.length === layerFiles.length && img.layers.every((l, k) => l.digest === layerFiles[k]!.digest),
      );
      if (match) {
        addNames(match.repoTags, repoTags);
        return;
      }
    }
    if (!configFile.bytes) {
      throw new ImageArchiveError('INVALID_METADATA', `${label}: config ${e.Config} is not JSON (or is larger than the JSON size limit)`, { path: configFile.path });
    }
    const config = parseJsonObject(configFile.bytes, `config ${e.Config}`, configFile.path);
    const rootfs = config.rootfs as Json | undefined;
    const diffIds = rootfs && typeof rootfs === 'object' ? rootfs.diff_ids : undefined;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d))) {
      throw new ImageArchiveError('INVALID_METADATA', `${label}: config ${e.Config} has no valid rootfs.diff_ids`, { path: configFile.path });
    }
    if (diffIds.length !== layerFiles.length) {
      throw new ImageArchiveError(
        'INVALID_METADATA',
        `${label} lists ${layerFiles.length} layers but its config ${e.Config} has ${diffIds.length} diff IDs; ${ADVICE_REDOWNLOAD}`,
        { path: 'manifest.json' },
      );
    }
    const layers: Descriptor[] = layerFiles.map((lf, k) => {
      let diffId: Digest | undefined;
      if (!lf.compression) diffId = lf.digest;
      else if (lf.compression === 'gzip' && lf.diffId) diffId = lf.diffId;
      else if (lf.compression === 'gzip' && lf.diffIdError) {
        throw new ImageArchiveError('CORRUPT_COMPRESSION', `layer ${lf.path} is a damaged gzip stream (${lf.diffIdError.message}); ${ADVICE_REDOWNLOAD}`, {
          path: lf.path,
          cause: lf.diffIdError,
        });
      } else {
        throw new ImageArchiveError('UNSUPPORTED', `layer ${lf.path} is ${lf.compression}-compressed; only plain or gzip layers can be checked against the config's diff IDs`, {
          path: lf.path,
        });
      }
      if (diffId !== diffIds[k]) {
        throw new ImageArchiveError(
          'DIGEST_MISMATCH',
          `layer ${lf.path} has diff ID ${diffId}, but config ${e.Config} expects ${diffIds[k] as string} for layer ${k + 1}; ${ADVICE_REDOWNLOAD}`,
          { path: lf.path },
        );
      }
      return { mediaType: lf.compression === 'gzip' ? DOCKER_LAYER_TAR_GZIP : DOCKER_LAYER_TAR, size: lf.size, digest: lf.digest };
    });
    if (e.LayerSources && typeof e.LayerSources === 'object' && Object.keys(e.LayerSources).length > 0) {
      assembly.warnings.push(`${label}: LayerSources (foreign layers) are ignored; those layers are loaded from the tarball`);
    }
    const configDesc = { mediaType: DOCKER_CONFIG, size: configFile.size, digest: configFile.digest };
    // Field order and 3-space indent as docker distribution's schema2 writer.
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: configDesc, layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })) }, null, 3),
      'utf8',
    );
    const platform = platformOf(config);
    const image: ArchiveImage = {
      kind: 'image',
      digest: digestOf(manifestBytes),
      mediaType: DOCKER_MANIFEST,
      size: manifestBytes.length,
      bytes: manifestBytes,
      repoTags: [],
      refNames: [],
      config: { ...configDesc, bytes: configFile.bytes },
      layers,
      ...(platform ? { platform } : {}),
      synthesized: true,
    };
    addNames(image.repoTags, repoTags);
    assembly.addImage(image);
  });
}

// ---------------------------------------------------------------------------
// stream helpers

/** Reads the first bytes (to detect compression) and gives back a stream of the whole input. */
async function sniff(input: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < 6) {
    const r = await it.next();
    if (r.done) break;
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    chunks.push(b);
    length += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

async function collect(entry: AsyncIterable<unknown>, size: number, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of entry) {
      const b = c as Buffer;
      chunks.push(b);
      n += b.length;
    }
  } catch (err) {
    throw classifyStreamError(err);
  }
  if (n !== size) throw new ImageArchiveError('TRUNCATED', `${path} ends after ${n} of ${size} bytes; ${ADVICE_REDOWNLOAD}`, { path });
  return Buffer.concat(chunks);
}

/** Entry name -> canonical relative path (`./a//b/` -> `a/b`); undefined for names escaping the archive. */
export function normalizePath(name: string): string | undefined {
  let p = posix.normalize(name.replace(/\\/g, '/'));
  while (p.startsWith('/')) p = p.slice(1);
  if (p.startsWith('./')) p = p.slice(2);
  if (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '' || p === '.' || p === '..' || p.startsWith('../')) return undefined;
  return p;
}

const STREAM_DERIVED = new WeakSet<object>();

function isStreamDerived(err: unknown): boolean {
  return typeof err === 'object' && err !== null && STREAM_DERIVED.has(err);
}

function isPrematureClose(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Maps zlib and tar-stream errors to ImageArchiveErrors; anything else (sink, input I/O) passes unchanged. */
function classifyStreamError(err: unknown, entries = 1): unknown {
  if (err instanceof ImageArchiveError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  let out: ImageArchiveError | undefined;
  if (code.startsWith('Z_')) {
    out =
      code === 'Z_BUF_ERROR' || /unexpected end/i.test(message)
        ? new ImageArchiveError('TRUNCATED', `the gzip stream ends early: the tarball is truncated; ${ADVICE_REDOWNLOAD}`, { cause: err })
        : new ImageArchiveError('CORRUPT_COMPRESSION', `the gzip stream is corrupt (${message}); ${ADVICE_REDOWNLOAD}`, { cause: err });
  } else if (message === 'Unexpected end of data') {
    out = new ImageArchiveError('TRUNCATED', `the tarball ends in the middle of a file: it is truncated; ${ADVICE_REDOWNLOAD}`, { cause: err });
  } else if (/invalid tar header|unknown format|header exceeds max size|^invalid header$/i.test(message)) {
    out =
      entries === 0
        ? new ImageArchiveError('NOT_AN_ARCHIVE', `the input is not a tar archive (${message}); expected a tarball from docker save, skopeo or an OCI layout`, { cause: err })
        : new ImageArchiveError('CORRUPT_TAR', `a tar header is damaged (${message}); ${ADVICE_REDOWNLOAD}`, { cause: err });
  }
  if (!out) return err;
  STREAM_DERIVED.add(out);
  return out;
}
