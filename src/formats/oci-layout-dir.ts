// Reading an OCI image layout *directory* (oci-layout, index.json,
// blobs/<alg>/<hex>) — what `skopeo copy ... oci:DIR` and buildkit write.
//
// Pure: the module does no file-system I/O itself. The caller passes an
// `open(path)` callback that returns a Readable of one file of the layout
// (path relative to the layout root, '/'-separated), e.g. in the CLI:
//
//   const open = (p: string) => createReadStream(join(dir, ...p.split('/')));
//   const result = await readOciLayoutDirectory(open, sink);
//
// Only blobs reachable from index.json are read (each once), streamed into
// the sink and verified against their descriptors.
import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { Descriptor } from './manifest.js';
import {
  ArchiveAssembly,
  BlobVerifier,
  DEFAULT_MAX_JSON_SIZE,
  DEFAULT_MAX_JSON_TOTAL,
  ImageArchiveError,
  assembleOciLayout,
  blobPath,
  deliver,
  parseJsonObject,
  pump,
  type BlobLookup,
  type BlobSink,
  type FoundBlob,
  type ImageArchive,
  type ReadImageArchiveOptions,
} from './image-archive-common.js';

/**
 * Opens one file of the layout. Return undefined, or a stream that fails
 * with an error whose `code` is 'ENOENT', when the file does not exist.
 */
export type OpenLayoutFile = (path: string) => Readable | undefined | Promise<Readable | undefined>;

export async function readOciLayoutDirectory(open: OpenLayoutFile, sink: BlobSink, options: ReadImageArchiveOptions = {}): Promise<ImageArchive> {
  const maxJsonSize = options.maxJsonSize ?? DEFAULT_MAX_JSON_SIZE;
  const maxJsonTotal = options.maxJsonTotal ?? DEFAULT_MAX_JSON_TOTAL;
  let jsonTotal = 0;
  const budget = (n: number, path: string): void => {
    jsonTotal += n;
    if (jsonTotal > maxJsonTotal) {
      throw new ImageArchiveError('TOO_LARGE', `the layout holds more than ${maxJsonTotal} bytes of JSON metadata (at ${path}); raise maxJsonTotal if it is genuine`, { path });
    }
  };

  const openExisting = async (path: string): Promise<Readable | undefined> => {
    let stream: Readable | undefined;
    try {
      stream = await open(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    if (!stream) return undefined;
    try {
      await opened(stream);
    } catch (err) {
      stream.destroy();
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return stream;
  };

  const readSmall = async (path: string): Promise<Buffer | undefined> => {
    const stream = await openExisting(path);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stream) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
      n += b.length;
      if (n > maxJsonSize) {
        stream.destroy();
        throw new ImageArchiveError('TOO_LARGE', `${path} is more than ${maxJsonSize} bytes; raise maxJsonSize if it is genuine`, { path });
      }
      chunks.push(b);
    }
    budget(n, path);
    return Buffer.concat(chunks);
  };

  const assembly = new ArchiveAssembly();
  const layoutFile = await readSmall('oci-layout');
  if (layoutFile) {
    const doc = parseJsonObject(layoutFile, 'oci-layout', 'oci-layout');
    if (typeof doc.imageLayoutVersion !== 'string') throw new ImageArchiveError('INVALID_METADATA', 'oci-layout has no imageLayoutVersion', { path: 'oci-layout' });
  }
  const indexJson = await readSmall('index.json');
  if (!indexJson) {
    throw new ImageArchiveError(
      'NOT_AN_ARCHIVE',
      layoutFile ? 'the OCI layout has no index.json: it is incomplete' : 'no index.json and no oci-layout file: this is not an OCI image layout directory',
    );
  }
  if (!layoutFile) assembly.warnings.push('the layout has index.json but no oci-layout file; reading it anyway');

  const blobs = new Map<Digest, number>();
  const cache = new Map<string, Promise<FoundBlob | undefined>>();
  const fetch = async (desc: Descriptor, needBytes: boolean): Promise<FoundBlob | undefined> => {
    const path = blobPath(desc.digest);
    const stream = await openExisting(path);
    if (!stream) return undefined;
    const verifier = new BlobVerifier({
      path,
      size: desc.size,
      expected: desc.digest,
      ...(needBytes ? { keepJsonUpTo: maxJsonSize } : {}),
      what: 'blob',
    });
    const feed = pump(stream, verifier);
    const digest = await deliver(sink, verifier, feed, { path, size: desc.size, expected: desc.digest });
    blobs.set(digest, desc.size);
    const found: FoundBlob = { path, digest, size: desc.size };
    if (verifier.kept) {
      budget(verifier.kept.length, path);
      found.bytes = verifier.kept;
    }
    return found;
  };
  const lookup: BlobLookup = {
    find(desc, needBytes) {
      let p = cache.get(desc.digest);
      // (a blob first read as a layer and later needed as JSON is read again)
      if (p && needBytes) p = p.then((f) => (f && !f.bytes ? fetch(desc, true) : f));
      if (!p) {
        p = fetch(desc, needBytes);
        cache.set(desc.digest, p);
      }
      return p;
    },
  };
  await assembleOciLayout(indexJson, lookup, assembly);
  return assembly.result('oci-layout', blobs);
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Resolves once the stream has data or has ended; rejects if opening it failed. */
function opened(stream: Readable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.off('readable', onReadable);
      stream.off('error', done);
      stream.off('end', onReadable);
      if (err) reject(err);
      else resolve();
    };
    const onReadable = (): void => done();
    stream.on('readable', onReadable);
    stream.on('error', done);
    stream.on('end', onReadable);
  });
}
