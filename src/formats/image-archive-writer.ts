// Writing image tarballs, streaming: a docker-archive (the classic `docker
// save` layout: manifest.json, repositories, <config-hex>.json,
// <layer-hex>.tar and legacy <id>/{VERSION,json,layer.tar} entries, as
// skopeo writes it), which `docker load` and `skopeo copy docker-archive:`
// read; and an oci-archive (oci-layout, index.json, blobs/sha256/...).
//
// Pure: bytes come from the streams the caller's `open()` factories return
// and go to the Writable it hands in. Metadata is written first (the
// writer knows every digest and size up front), then the blobs, each once,
// hashed on the way: a blob whose bytes are not what the manifest says
// aborts the write with an ImageArchiveError (the output is then
// incomplete; the caller deletes it). Output is deterministic: entries have
// mtime 0, uid/gid 0, fixed modes.
//
// Layers are written as they are stored. A docker-archive normally holds
// uncompressed layers, but docker load and skopeo both accept gzip (and
// zstd) layer files and check them against the config's diff IDs after
// decompressing; decompressing here would need each layer's uncompressed
// size before its tar header, i.e. a second pass over every layer.
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';
import { digestHex, digestOf, isDigest, type Digest } from './digest.js';
import { ManifestFormatError, parseManifest, type Descriptor } from './manifest.js';
import { IMAGE_MANIFEST_TYPES, INDEX_MANIFEST_TYPES, OCI_INDEX } from './media-types.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  BlobVerifier,
  ImageArchiveError,
  OCI_LAYOUT_VERSION,
  blobPath,
  parseLayerDescriptors,
  pump,
  waitDrain,
  type Json,
} from './image-archive-common.js';

/** A blob to copy into the archive: its digest and size, and how to read it. */
export interface BlobSource {
  digest: Digest;
  size: number;
  /** called once, when the writer gets to this blob */
  open(): Readable | Promise<Readable>;
}

/** One single-platform image. */
export interface ImageSource {
  /** references to save it under, `name:tag` (e.g. `registry.example/system/oracle_db:19c`) */
  names?: string[];
  /** exact manifest bytes (OCI image manifest or Docker schema 2) */
  manifest: Uint8Array;
  /** exact config bytes */
  config: Uint8Array;
  /** the layer blobs, in manifest order */
  layers: BlobSource[];
}

/** A multi-platform index with its platform images (oci-archive only). */
export interface IndexSource {
  names?: string[];
  /** exact index bytes */
  index: Uint8Array;
  /** every manifest the index lists */
  images: ImageSource[];
}

const MTIME = new Date(0);

interface PreparedImage {
  names: string[];
  manifest: Buffer;
  manifestDigest: Digest;
  manifestMediaType: string;
  config: Buffer;
  configDigest: Digest;
  layers: BlobSource[];
  layerDescriptors: Descriptor[];
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function invalid(message: string): ImageArchiveError {
  return new ImageArchiveError('INVALID_METADATA', message);
}

function prepareImage(src: ImageSource, where: string): PreparedImage {
  const manifest = asBuffer(src.manifest);
  const config = asBuffer(src.config);
  let parsed;
  try {
    parsed = parseManifest(manifest);
  } catch (err) {
    if (err instanceof ManifestFormatError) throw invalid(`${where}: the manifest is not valid: ${err.message}`);
    throw err;
  }
  if (parsed.kind !== 'image' || !parsed.config) throw invalid(`${where}: the manifest is an index; pass indexes as IndexSource (oci-archive only)`);
  const configDigest = digestOf(config, parsed.config.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (configDigest !== parsed.config.digest || config.length !== parsed.config.size) {
    throw new ImageArchiveError('DIGEST_MISMATCH', `${where}: the config bytes (${configDigest}, ${config.length} bytes) are not the manifest's config ${parsed.config.digest} (${parsed.config.size} bytes)`);
  }
  const layerDescriptors = parseLayerDescriptors(manifest);
  if (layerDescriptors.length !== src.layers.length) {
    throw invalid(`${where}: the manifest lists ${layerDescriptors.length} layers but ${src.layers.length} were given`);
  }
  layerDescriptors.forEach((d, i) => {
    const l = src.layers[i]!;
    if (l.digest !== d.digest || l.size !== d.size) {
      throw invalid(`${where}: layer ${i + 1} given as ${l.digest} (${l.size} bytes) but the manifest says ${d.digest} (${d.size} bytes)`);
    }
  });
  return {
    names: [...(src.names ?? [])],
    manifest,
    manifestDigest: digestOf(manifest),
    manifestMediaType: parsed.mediaType,
    config,
    configDigest,
    layers: src.layers,
    layerDescriptors,
  };
}

/** `registry.example/a/b:tag` -> [`registry.example/a/b`, `tag`]; undefined without a tag or with a digest */
export function splitNameTag(ref: string): [string, string] | undefined {
  if (ref.includes('@')) return undefined;
  const colon = ref.lastIndexOf(':');
  if (colon <= 0 || colon < ref.lastIndexOf('/')) return undefined;
  const tag = ref.slice(colon + 1);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) return undefined;
  return [ref.slice(0, colon), tag];
}

// ---------------------------------------------------------------------------
// tar output

class TarOut {
  private readonly pack: Pack = tarPack();
  private readonly done: Promise<void>;
  private failure: unknown;

  constructor(out: Writable) {
    this.done = pipeline(this.pack as unknown as NodeJS.ReadableStream, out);
    this.done.catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  /** rejects as soon as the output fails, so no step waits forever on a dead pipe */
  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([
      p,
      this.done.then(
        () => p,
        (err: unknown) => {
          throw err;
        },
      ),
    ]);
  }

  async directory(name: string): Promise<void> {
    await this.guard(this.entry({ name, type: 'directory', mode: 0o755, mtime: MTIME, uid: 0, gid: 0 }));
  }

  async symlink(name: string, target: string): Promise<void> {
    await this.guard(this.entry({ name, type: 'symlink', linkname: target, mode: 0o777, mtime: MTIME, uid: 0, gid: 0 }));
  }

  async file(name: string, bytes: Buffer): Promise<void> {
    await this.guard(this.entry({ name, type: 'file', size: bytes.length, mode: 0o644, mtime: MTIME, uid: 0, gid: 0 }, bytes));
  }

  /** streams a blob into an entry, verifying its size and digest on the way */
  async blob(name: string, source: BlobSource): Promise<void> {
    const verifier = new BlobVerifier({ path: name, size: source.size, expected: source.digest, what: 'blob' });
    let written: Promise<void> | undefined;
    const step = async (): Promise<void> => {
      const input = await source.open();
      const feed = pump(input, verifier);
      let settle!: (err?: Error | null) => void;
      written = new Promise<void>((resolve, reject) => {
        settle = (err) => (err ? reject(err) : resolve());
      });
      const w = this.pack.entry({ name, type: 'file', size: source.size, mode: 0o644, mtime: MTIME, uid: 0, gid: 0 }, (err) => settle(err));
      w.on('error', () => undefined); // reported through `written` and the pack
      try {
        for await (const chunk of verifier) {
          if (!w.write(chunk as Buffer)) await waitDrain(w as unknown as NodeJS.EventEmitter);
        }
      } catch (err) {
        input.destroy();
        await feed;
        throw err;
      }
      w.end(undefined);
      await feed;
      await verifier.digest;
      await written;
    };
    try {
      await this.guard(step());
    } catch (err) {
      if (!verifier.destroyed) verifier.destroy();
      this.pack.destroy(err as Error);
      written?.catch(() => undefined);
      throw err;
    }
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  abort(err: unknown): void {
    this.pack.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  private entry(header: Parameters<Pack['entry']>[0], bytes?: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const w = bytes ? this.pack.entry(header, bytes, cb) : this.pack.entry(header, cb);
      w.on('error', () => undefined); // reported through cb and the pack
      if (!bytes) w.end(undefined);
    });
  }
}

async function run(out: Writable, body: (tar: TarOut) => Promise<void>): Promise<void> {
  const tar = new TarOut(out);
  try {
    await body(tar);
    await tar.finish();
  } catch (err) {
    tar.abort(err);
    throw err;
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

// ---------------------------------------------------------------------------
// docker-archive

/**
 * Writes a docker-archive tarball of `images` to `out` (which is ended).
 * Every name must be `name:tag`. Images with the same config (the same
 * docker image ID) are written once with their names merged.
 */
export async function writeDockerArchive(images: ImageSource[], out: Writable): Promise<void> {
  const byConfig = new Map<Digest, PreparedImage>();
  images.forEach((src, i) => {
    const p = prepareImage(src, `image ${i + 1}`);
    for (const n of p.names) {
      if (!splitNameTag(n)) {
        throw new ImageArchiveError('UNSUPPORTED', `image ${i + 1}: "${n}" cannot be a docker-archive RepoTag; docker needs name:tag (no digest)`);
      }
    }
    const existing = byConfig.get(p.configDigest);
    if (existing) {
      for (const n of p.names) if (!existing.names.includes(n)) existing.names.push(n);
    } else byConfig.set(p.configDigest, p);
  });
  if (byConfig.size === 0) throw new ImageArchiveError('INVALID_METADATA', 'no images to write');

  const manifestJson: Json[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const legacy: { id: string; physical: string; json: Buffer }[] = [];
  for (const img of byConfig.values()) {
    let config: Json;
    try {
      config = JSON.parse(img.config.toString('utf8')) as Json;
    } catch {
      throw invalid(`image ${img.configDigest}: the config is not JSON; a docker-archive needs an image config`);
    }
    const rootfs = config.rootfs as Json | undefined;
    const diffIds = rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d)) || diffIds.length !== img.layers.length) {
      throw invalid(`image ${img.configDigest}: the config's rootfs.diff_ids must list one diff ID per layer (${img.layers.length})`);
    }
    const layerFiles = img.layers.map((l) => `${digestHex(l.digest)}.tar`);
    manifestJson.push({ Config: `${digestHex(img.configDigest)}.json`, RepoTags: img.names, Layers: layerFiles });

    // Legacy per-layer metadata (<id>/VERSION, <id>/json, <id>/layer.tar ->
    // the layer), which pre-1.10 tools and the `repositories` file need.
    // IDs follow layer chain IDs, salted with the config digest so that
    // images sharing layers never share (differing) legacy entries.
    let chain = '';
    let parent = '';
    img.layers.forEach((_, i) => {
      const diffId = diffIds[i] as string;
      chain = i === 0 ? diffId : digestOf(`${chain} ${diffId}`);
      const id = digestHex(digestOf(`${chain} ${img.configDigest}`));
      const layerJson: Json = { id };
      if (parent) layerJson.parent = parent;
      if (i === img.layers.length - 1) {
        for (const key of ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os']) {
          if (config[key] !== undefined) layerJson[key] = config[key];
        }
      }
      legacy.push({ id, physical: layerFiles[i]!, json: json(layerJson) });
      parent = id;
    });
    if (parent) {
      for (const n of img.names) {
        const [repo, tag] = splitNameTag(n)!;
        (repositories[repo] ??= {})[tag] = parent;
      }
    }
  }

  await run(out, async (tar) => {
    await tar.file('manifest.json', json(manifestJson));
    await tar.file('repositories', json(repositories));
    for (const img of byConfig.values()) await tar.file(`${digestHex(img.configDigest)}.json`, img.config);
    const legacyDone = new Set<string>();
    for (const l of legacy) {
      if (legacyDone.has(l.id)) continue;
      legacyDone.add(l.id);
      await tar.directory(`${l.id}/`);
      await tar.file(`${l.id}/VERSION`, Buffer.from('1.0'));
      await tar.file(`${l.id}/json`, l.json);
      await tar.symlink(`${l.id}/layer.tar`, `../${l.physical}`);
    }
    const written = new Set<string>();
    for (const img of byConfig.values()) {
      for (const layer of img.layers) {
        if (written.has(layer.digest)) continue;
        written.add(layer.digest);
        await tar.blob(`${digestHex(layer.digest)}.tar`, layer);
      }
    }
  });
}

// ---------------------------------------------------------------------------
// oci-archive

function isIndexSource(x: ImageSource | IndexSource): x is IndexSource {
  return (x as IndexSource).index !== undefined;
}

/**
 * Writes an oci-archive tarball (an OCI image layout in a tar) of `items`
 * to `out`. index.json gets one entry per name, annotated as docker and
 * containerd do: `io.containerd.image.name` = the full name,
 * `org.opencontainers.image.ref.name` = its tag; unnamed items get one
 * entry without annotations.
 */
export async function writeOciArchive(items: Array<ImageSource | IndexSource>, out: Writable): Promise<void> {
  const manifests = new Map<Digest, Buffer>(); // manifests and indexes, by digest
  const configs = new Map<Digest, Buffer>();
  const layers = new Map<Digest, BlobSource>();
  const top: Json[] = [];

  const addImage = (p: PreparedImage): void => {
    manifests.set(p.manifestDigest, p.manifest);
    configs.set(p.configDigest, p.config);
    for (const l of p.layers) if (!layers.has(l.digest)) layers.set(l.digest, l);
  };
  const topEntries = (names: string[], desc: Json): void => {
    if (names.length === 0) {
      top.push(desc);
      return;
    }
    for (const n of names) {
      const split = splitNameTag(n);
      const annotations: Record<string, string> = split ? { [ANNOTATION_CONTAINERD_NAME]: n, [ANNOTATION_REF_NAME]: split[1] } : { [ANNOTATION_REF_NAME]: n };
      top.push({ ...desc, annotations });
    }
  };

  items.forEach((item, i) => {
    if (!isIndexSource(item)) {
      const p = prepareImage(item, `image ${i + 1}`);
      addImage(p);
      topEntries(p.names, { mediaType: p.manifestMediaType, digest: p.manifestDigest, size: p.manifest.length });
      return;
    }
    const bytes = asBuffer(item.index);
    let parsed;
    try {
      parsed = parseManifest(bytes);
    } catch (err) {
      if (err instanceof ManifestFormatError) throw invalid(`index ${i + 1}: not a valid index: ${err.message}`);
      throw err;
    }
    if (parsed.kind !== 'index') throw invalid(`index ${i + 1}: the bytes are an image manifest, not an index`);
    const children = new Map<Digest, PreparedImage>();
    item.images.forEach((c, k) => {
      const p = prepareImage(c, `index ${i + 1} image ${k + 1}`);
      children.set(p.manifestDigest, p);
    });
    for (const d of parsed.manifests) {
      if (INDEX_MANIFEST_TYPES.has(d.mediaType)) throw new ImageArchiveError('UNSUPPORTED', `index ${i + 1}: nested index ${d.digest} is not supported by the writer`);
      if (!IMAGE_MANIFEST_TYPES.has(d.mediaType)) continue;
      const child = children.get(d.digest);
      if (!child) throw new ImageArchiveError('MISSING_FILE', `index ${i + 1}: the image ${d.digest} it lists was not given`);
      if (child.manifest.length !== d.size) throw invalid(`index ${i + 1}: image ${d.digest} is ${child.manifest.length} bytes, the index says ${d.size}`);
      addImage(child);
    }
    const digest = digestOf(bytes);
    manifests.set(digest, bytes);
    topEntries([...(item.names ?? [])], { mediaType: parsed.mediaType, digest, size: bytes.length });
  });
  if (top.length === 0) throw new ImageArchiveError('INVALID_METADATA', 'no images to write');

  await run(out, async (tar) => {
    await tar.file('oci-layout', json({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    await tar.file('index.json', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: top }));
    await tar.directory('blobs/');
    await tar.directory('blobs/sha256/');
    const done = new Set<string>();
    const put = async (digest: Digest, bytes: Buffer): Promise<void> => {
      if (done.has(digest)) return;
      done.add(digest);
      await tar.file(blobPath(digest), bytes);
    };
    for (const [d, b] of manifests) await put(d, b);
    for (const [d, b] of configs) await put(d, b);
    for (const [d, l] of layers) {
      if (done.has(d)) continue;
      done.add(d);
      await tar.blob(blobPath(d), l);
    }
  });
}
