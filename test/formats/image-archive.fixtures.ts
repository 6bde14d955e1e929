// Builds image tarballs in the test, from known bytes, in the layouts
// `docker save` writes (classic and Docker 25+ OCI) and as oci-archives,
// with tar-stream's pack. Plus an in-memory BlobSink.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { makeTar } from '../helpers/oci-layout.js';
import type { BlobSink } from '../../src/formats/image-archive.js';
import type { Digest } from '../../src/formats/digest.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}
export const hex = (d: string): string => d.slice(d.indexOf(':') + 1);

export interface TestLayer {
  tar: Buffer;
  gz: Buffer;
  diffId: Digest;
  gzDigest: Digest;
}
export interface TestImage {
  label: string;
  config: Buffer;
  configDigest: Digest;
  layers: TestLayer[];
  platform: { os: string; architecture: string; variant?: string };
}

export function makeLayer(label: string, i: number, extra = 0): TestLayer {
  const tar = makeTar([
    { path: 'data' },
    { path: `data/${label}-${i}.txt`, content: `layer ${i} of ${label}\n`.repeat(20 + i) },
    { path: `data/${label}-${i}.bin`, content: Buffer.from(Array.from({ length: 1500 + extra + i * 700 }, (_, k) => (k * 7 + i + label.length) % 251)) },
  ]);
  const gz = gzipSync(tar, { level: 6 });
  return { tar, gz, diffId: sha256(tar), gzDigest: sha256(gz) };
}

export function makeImage(label: string, layerCount: number, opts: { shared?: TestLayer[]; architecture?: string } = {}): TestImage {
  const layers = [...(opts.shared ?? [])];
  for (let i = layers.length; i < layerCount; i++) layers.push(makeLayer(label, i));
  const platform = { os: 'linux', architecture: opts.architecture ?? 'amd64' };
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'], Labels: { label } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  return { label, config, configDigest: sha256(config), layers, platform };
}

/** OCI manifest of an image; gzip or plain layers */
export function ociManifest(img: TestImage, gzip: boolean): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: img.configDigest, size: img.config.length },
        layers: img.layers.map((l) => (gzip ? { mediaType: OCI_LAYER_GZIP, digest: l.gzDigest, size: l.gz.length } : { mediaType: OCI_LAYER_TAR, digest: l.diffId, size: l.tar.length })),
      },
      null,
      2,
    ),
  );
}

export interface Entry {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
}

/** a tar of the entries, with tar-stream's pack */
export async function packTar(entries: Entry[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? (e.data === undefined ? 'directory' : 'file');
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const header = { name: e.name, type, mtime: new Date(0), mode: type === 'directory' ? 0o755 : 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) };
      if (type === 'file') p.entry(header, typeof e.data === 'string' ? Buffer.from(e.data) : e.data!, cb);
      else p.entry(header, cb).end(undefined);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** classic `docker save` (Docker < 25): <id>/{VERSION,json,layer.tar}, <config>.json, manifest.json, repositories */
export function classicEntries(images: { image: TestImage; repoTags: string[] }[], opts: { symlinkDuplicates?: boolean; gzipLayers?: boolean } = {}): Entry[] {
  const entries: Entry[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const firstPathOfDiff = new Map<string, string>();
  for (const { image, repoTags } of images) {
    const layerPaths: string[] = [];
    let parent = '';
    image.layers.forEach((l, i) => {
      const id = hex(sha256(`${image.configDigest}/${i}`));
      entries.push({ name: `${id}/` });
      entries.push({ name: `${id}/VERSION`, data: '1.0' });
      entries.push({ name: `${id}/json`, data: JSON.stringify({ id, ...(parent ? { parent } : {}) }) });
      const existing = firstPathOfDiff.get(l.diffId);
      if (existing && opts.symlinkDuplicates) entries.push({ name: `${id}/layer.tar`, type: 'symlink', linkname: `../${existing}` });
      else entries.push({ name: `${id}/layer.tar`, data: opts.gzipLayers ? l.gz : l.tar });
      if (!existing) firstPathOfDiff.set(l.diffId, `${id}/layer.tar`);
      layerPaths.push(`${id}/layer.tar`);
      parent = id;
    });
    entries.push({ name: `${hex(image.configDigest)}.json`, data: image.config });
    manifest.push({ Config: `${hex(image.configDigest)}.json`, RepoTags: repoTags.length ? repoTags : null, Layers: layerPaths });
    for (const t of repoTags) {
      const c = t.lastIndexOf(':');
      (repositories[t.slice(0, c)] ??= {})[t.slice(c + 1)] = parent;
    }
  }
  entries.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  entries.push({ name: 'repositories', data: JSON.stringify(repositories) });
  return entries;
}

/** Docker 25+ `docker save`: OCI layout with uncompressed layers, plus manifest.json and repositories */
export function docker25Entries(images: { image: TestImage; repoTags: string[] }[]): { entries: Entry[]; manifests: Digest[] } {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer): Digest => {
    const d = sha256(b);
    blobs.set(hex(d), b);
    return d;
  };
  const index: unknown[] = [];
  const manifestJson: unknown[] = [];
  const manifests: Digest[] = [];
  for (const { image, repoTags } of images) {
    for (const l of image.layers) put(l.tar);
    put(image.config);
    const m = ociManifest(image, false);
    const md = put(m);
    manifests.push(md);
    for (const t of repoTags) {
      const full = t.includes('/') ? t : `docker.io/library/${t}`;
      index.push({ mediaType: OCI_MANIFEST, digest: md, size: m.length, annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': t.slice(t.lastIndexOf(':') + 1) } });
    }
    if (repoTags.length === 0) index.push({ mediaType: OCI_MANIFEST, digest: md, size: m.length });
    manifestJson.push({ Config: `blobs/sha256/${hex(image.configDigest)}`, RepoTags: repoTags, Layers: image.layers.map((l) => `blobs/sha256/${hex(l.diffId)}`) });
  }
  const entries: Entry[] = [{ name: 'blobs/' }, { name: 'blobs/sha256/' }];
  for (const [h, b] of blobs) entries.push({ name: `blobs/sha256/${h}`, data: b });
  entries.push({ name: 'index.json', data: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index }) });
  entries.push({ name: 'manifest.json', data: JSON.stringify(manifestJson) });
  entries.push({ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' });
  entries.push({ name: 'repositories', data: '{}' });
  return { entries, manifests };
}

/** an OCI layout in a tar (skopeo oci-archive style): gzip layers, ref names, an optional multi-arch index */
export function ociArchiveEntries(
  images: { image: TestImage; refName?: string }[],
  index?: { refName: string; images: TestImage[]; omit?: number[] },
): { entries: Entry[]; manifests: Map<string, Digest>; indexDigest?: Digest } {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer): Digest => {
    const d = sha256(b);
    blobs.set(hex(d), b);
    return d;
  };
  const top: unknown[] = [];
  const manifests = new Map<string, Digest>();
  const addImage = (image: TestImage, store = true): { d: Digest; size: number } => {
    const m = ociManifest(image, true);
    if (store) {
      for (const l of image.layers) put(l.gz);
      put(image.config);
      put(m);
    }
    const d = sha256(m);
    manifests.set(image.label, d);
    return { d, size: m.length };
  };
  for (const { image, refName } of images) {
    const { d, size } = addImage(image);
    top.push({ mediaType: OCI_MANIFEST, digest: d, size, ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}) });
  }
  let indexDigest: Digest | undefined;
  if (index) {
    const children = index.images.map((img, k) => {
      const { d, size } = addImage(img, !index.omit?.includes(k));
      return { mediaType: OCI_MANIFEST, digest: d, size, platform: img.platform };
    });
    const ib = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }));
    indexDigest = put(ib);
    top.push({ mediaType: OCI_INDEX, digest: indexDigest, size: ib.length, annotations: { 'org.opencontainers.image.ref.name': index.refName } });
  }
  const entries: Entry[] = [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: top }) }];
  for (const [h, b] of blobs) entries.push({ name: `blobs/sha256/${h}`, data: b });
  return { entries, manifests, ...(indexDigest ? { indexDigest } : {}) };
}

/** A BlobSink that keeps blobs in a Map, publishing only streams that end cleanly. */
export function memorySink(): BlobSink & { blobs: Map<string, Buffer>; offered: string[]; refused: number } {
  const blobs = new Map<string, Buffer>();
  const sink = {
    blobs,
    offered: [] as string[],
    refused: 0,
    async putBlob(blob: Parameters<BlobSink['putBlob']>[0]) {
      sink.offered.push(blob.path);
      const chunks: Buffer[] = [];
      try {
        for await (const c of blob.stream) chunks.push(c as Buffer);
      } catch (err) {
        sink.refused++;
        throw err;
      }
      const digest = await blob.digest;
      const bytes = Buffer.concat(chunks);
      if (sha256(bytes) !== digest && !digest.startsWith('sha512:')) throw new Error('sink: reader digest disagrees with bytes');
      blobs.set(digest, bytes);
    },
  };
  return sink;
}

export function streamOf(bytes: Buffer, chunkSize = 7919): Readable {
  // odd-sized chunks, so headers and entries straddle chunk boundaries
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  return Readable.from(chunks, { objectMode: false });
}

export function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
