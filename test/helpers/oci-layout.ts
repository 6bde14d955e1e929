// Writes a small OCI image layout directory (oci-layout, index.json,
// blobs/sha256/...) from known, deterministic bytes, for interop tests that
// feed real clients (skopeo `oci:DIR:TAG`, podman, ...).
//
// Pure Node: node:fs, node:crypto, node:zlib. The tar layers are written by
// hand (ustar headers), which is plenty for a few tiny regular files.
//
// Contents, each addressed by its tag (org.opencontainers.image.ref.name):
//   - `multi`:     linux/amd64 image with 3 gzip'd tar layers
//   - `multi2`:    linux/amd64 image sharing the first 2 layers of `multi`,
//                  with a different 3rd layer (so a different manifest digest)
//   - `multiarch`: OCI image index with a linux/amd64 and a linux/arm64
//                  manifest, each with its own config and layers
//
// Manifests, configs and the index are pretty-printed JSON (2-space indent,
// trailing newline), not the canonical compact form, so a registry that
// re-serialises a manifest instead of storing the exact bytes is caught.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Fixed timestamp for tar entries and config `created` (2023-11-14T22:13:20Z). */
const EPOCH_SECONDS = 1_700_000_000;
const CREATED = new Date(EPOCH_SECONDS * 1000).toISOString();

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface WrittenLayer {
  /** digest of the gzip'd blob (what the manifest references) */
  digest: string;
  /** digest of the uncompressed tar (what config.rootfs.diff_ids lists) */
  diffId: string;
  size: number;
  mediaType: string;
  /** paths of the regular files in the layer */
  files: string[];
}

export interface WrittenImage {
  /** the ref name in index.json, or undefined for a platform manifest that is only reachable through an index */
  tag?: string;
  platform: Platform;
  manifestDigest: string;
  manifestBytes: Buffer;
  manifestSize: number;
  configDigest: string;
  configBytes: Buffer;
  layers: WrittenLayer[];
}

export interface WrittenIndex {
  tag: string;
  indexDigest: string;
  indexBytes: Buffer;
  /** in index order: linux/amd64, then linux/arm64 */
  manifests: WrittenImage[];
}

export interface WrittenLayout {
  dir: string;
  multi: WrittenImage;
  multi2: WrittenImage;
  multiarch: WrittenIndex;
  /** every blob digest written under blobs/sha256, sorted */
  blobs: string[];
  /** the bytes of index.json */
  indexJson: Buffer;
}

export interface WriteOciLayoutOptions {
  /** Ref names in index.json. Defaults: multi, multi2, multiarch. */
  tags?: { multi?: string; multi2?: string; multiarch?: string };
  /**
   * Mixed into every file's contents, so that different salts give
   * entirely different blobs (and digests). Defaults to '' — the same
   * bytes on every run.
   */
  salt?: string;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------------------
// tar (ustar) writing

export interface TarEntry {
  path: string;
  /** undefined for a directory */
  content?: Buffer | string;
  mode?: number;
}

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, zero padded, then NUL
  const text = value.toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new Error(`tar numeric field overflow: ${value}`);
  writeString(header, offset, length, `${text}\0`);
}

function tarHeader(name: string, size: number, mode: number, typeflag: '0' | '5'): Buffer {
  const h = Buffer.alloc(512, 0);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, EPOCH_SECONDS);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  writeString(h, 156, 1, typeflag);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** A deterministic uncompressed ustar archive of the given entries. */
export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.content === undefined) {
      const name = entry.path.endsWith('/') ? entry.path : `${entry.path}/`;
      parts.push(tarHeader(name, 0, entry.mode ?? 0o755, '5'));
    } else {
      const data = typeof entry.content === 'string' ? Buffer.from(entry.content, 'utf8') : entry.content;
      parts.push(tarHeader(entry.path, data.length, entry.mode ?? 0o644, '0'));
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// layout writing

function json(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
}

class BlobWriter {
  readonly digests = new Set<string>();
  constructor(private readonly blobDir: string) {}
  put(bytes: Buffer): { digest: string; size: number } {
    const digest = sha256Digest(bytes);
    if (!this.digests.has(digest)) {
      writeFileSync(join(this.blobDir, digest.slice('sha256:'.length)), bytes);
      this.digests.add(digest);
    }
    return { digest, size: bytes.length };
  }
}

function makeLayer(blobs: BlobWriter, entries: TarEntry[]): WrittenLayer {
  const tar = makeTar(entries);
  // gzipSync writes mtime 0 and a fixed OS byte: same input, same bytes.
  const gz = gzipSync(tar, { level: 9 });
  const { digest, size } = blobs.put(gz);
  return {
    digest,
    diffId: sha256Digest(tar),
    size,
    mediaType: MEDIA_TYPE_OCI_LAYER_GZIP,
    files: entries.filter((e) => e.content !== undefined).map((e) => e.path),
  };
}

function makeImage(blobs: BlobWriter, platform: Platform, layers: WrittenLayer[], label: string, tag?: string): WrittenImage {
  const config = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      Labels: { 'org.example.hatoba.test': label },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l, i) => ({ created: CREATED, created_by: `hatoba test ${label} layer ${i + 1} (${l.files.join(', ')})` })),
  };
  const configBytes = json(config);
  const configBlob = blobs.put(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    annotations: { 'org.opencontainers.image.title': `hatoba-test-${label}` },
  };
  const manifestBytes = json(manifest);
  const manifestBlob = blobs.put(manifestBytes);
  return {
    ...(tag !== undefined ? { tag } : {}),
    platform,
    manifestDigest: manifestBlob.digest,
    manifestBytes,
    manifestSize: manifestBlob.size,
    configDigest: configBlob.digest,
    configBytes,
    layers,
  };
}

/**
 * Writes the layout into `dir` (created if missing; existing files with the
 * same names are overwritten) and returns what it wrote.
 */
export function writeOciLayout(dir: string, options: WriteOciLayoutOptions = {}): WrittenLayout {
  const salt = options.salt ?? '';
  const tags = { multi: 'multi', multi2: 'multi2', multiarch: 'multiarch', ...options.tags };
  const blobDir = join(dir, 'blobs', 'sha256');
  mkdirSync(blobDir, { recursive: true });
  const blobs = new BlobWriter(blobDir);
  const text = (s: string) => `${s}${salt ? `salt: ${salt}\n` : ''}`;

  // (a) multi: three layers, a few files each
  const base = makeLayer(blobs, [
    { path: 'etc' },
    { path: 'etc/os-release', content: text('NAME="Hatoba Test"\nID=hatoba-test\nVERSION_ID=1\n') },
    { path: 'etc/hostname', content: text('hatoba-test\n') },
    { path: 'bin' },
    { path: 'bin/hello', content: text('#!/bin/sh\necho hello from layer 1\n'), mode: 0o755 },
  ]);
  const app = makeLayer(blobs, [
    { path: 'app' },
    { path: 'app/main.txt', content: text('main application file\n'.repeat(40)) },
    { path: 'app/data.bin', content: Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31 + salt.length) % 256)) },
    { path: 'app/README', content: text('layer 2 of the multi image\n') },
  ]);
  const top = makeLayer(blobs, [
    { path: 'app/config.yaml', content: text('version: 1\nlayer: 3\n') },
    { path: 'app/VERSION', content: text('1.0.0\n') },
    { path: 'etc/motd', content: text('welcome to layer 3\n') },
  ]);
  const amd64: Platform = { os: 'linux', architecture: 'amd64' };
  const multi = makeImage(blobs, amd64, [base, app, top], 'multi', tags.multi);

  // multi2: same first two layers, a different top layer
  const top2 = makeLayer(blobs, [
    { path: 'app/config.yaml', content: text('version: 2\nlayer: 3\n') },
    { path: 'app/VERSION', content: text('2.0.0\n') },
  ]);
  const multi2 = makeImage(blobs, amd64, [base, app, top2], 'multi2', tags.multi2);

  // (b) multiarch: an index of a linux/amd64 and a linux/arm64 image
  const archImages = (['amd64', 'arm64'] as const).map((arch) => {
    const l1 = makeLayer(blobs, [
      { path: 'opt' },
      { path: `opt/arch-${arch}`, content: text(`built for linux/${arch}\n`) },
      { path: 'opt/common.txt', content: text(`common file, ${arch} copy\n`) },
    ]);
    const l2 = makeLayer(blobs, [{ path: 'opt/bin' }, { path: `opt/bin/tool-${arch}`, content: text(`tool binary for ${arch}\n`.repeat(10)), mode: 0o755 }]);
    const platform: Platform = arch === 'arm64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' };
    return makeImage(blobs, platform, [l1, l2], `multiarch-${arch}`);
  });
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_INDEX,
    manifests: archImages.map((img) => ({
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest: img.manifestDigest,
      size: img.manifestSize,
      platform: img.platform,
    })),
    annotations: { 'org.opencontainers.image.title': 'hatoba-test-multiarch' },
  };
  const indexBytes = json(index);
  const indexBlob = blobs.put(indexBytes);
  const multiarch: WrittenIndex = { tag: tags.multiarch, indexDigest: indexBlob.digest, indexBytes, manifests: archImages };

  // layout metadata
  writeFileSync(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  const topLevel: Descriptor[] = [
    { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: multi.manifestDigest, size: multi.manifestSize, annotations: { [REF_NAME_ANNOTATION]: tags.multi } },
    { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: multi2.manifestDigest, size: multi2.manifestSize, annotations: { [REF_NAME_ANNOTATION]: tags.multi2 } },
    { mediaType: MEDIA_TYPE_OCI_INDEX, digest: indexBlob.digest, size: indexBlob.size, annotations: { [REF_NAME_ANNOTATION]: tags.multiarch } },
  ];
  const indexJson = json({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: topLevel });
  writeFileSync(join(dir, 'index.json'), indexJson);

  return { dir, multi, multi2, multiarch, blobs: [...blobs.digests].sort(), indexJson };
}

// ---------------------------------------------------------------------------
// reading back (for comparing what a client wrote out)

export interface LayoutIndexJson {
  schemaVersion: number;
  manifests: Descriptor[];
}

/** The top-level descriptor tagged `tag` in a layout's index.json, or undefined. */
export function findRef(indexJson: LayoutIndexJson, tag: string): Descriptor | undefined {
  return indexJson.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
}
