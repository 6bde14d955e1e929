// Deterministic test data: blob bodies from a seeded PRNG (AES-128-CTR key
// stream, which is fast and cheap enough not to dominate the client), and
// OCI image manifests.
import { createCipheriv, createHash } from 'node:crypto';

export const GEN_CHUNK = 1 << 20; // bodies are produced 1 MiB at a time

/** Yields the bytes of blob `seed` of `size` bytes in GEN_CHUNK pieces. Memory stays O(1 MiB). */
export function* prngChunks(seed: string, size: number, start = 0): Generator<Buffer> {
  const key = createHash('sha256').update(`hatoba-bench:${seed}`).digest().subarray(0, 16);
  if (start % 16 !== 0) throw new Error('start must be 16-byte aligned');
  const iv = Buffer.alloc(16);
  // CTR counter = block index, big-endian in the low 8 bytes
  iv.writeBigUInt64BE(BigInt(start / 16), 8);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const zero = Buffer.alloc(GEN_CHUNK);
  for (let off = start; off < size; off += GEN_CHUNK) {
    const n = Math.min(GEN_CHUNK, size - off);
    yield cipher.update(n === GEN_CHUNK ? zero : zero.subarray(0, n));
  }
}

/** Generator of bytes [start, end) of a blob. `start` must be a multiple of GEN_CHUNK. */
export function* prngRange(seed: string, size: number, start: number, end: number): Generator<Buffer> {
  if (start % GEN_CHUNK !== 0) throw new Error('range start must be a multiple of 1 MiB');
  let off = start;
  for (const chunk of prngChunks(seed, size, start)) {
    if (off >= end) return;
    const take = Math.min(chunk.length, end - off);
    yield take === chunk.length ? chunk : chunk.subarray(0, take);
    off += take;
  }
}

export function prngBuffer(seed: string, size: number): Buffer {
  return Buffer.concat([...prngChunks(seed, size)]);
}

const digestCache = new Map<string, string>();

/** sha256 digest of a PRNG blob, computed once per (seed, size) by streaming. */
export function prngDigest(seed: string, size: number): string {
  const k = `${seed}\0${size}`;
  let d = digestCache.get(k);
  if (d === undefined) {
    const h = createHash('sha256');
    for (const c of prngChunks(seed, size)) h.update(c);
    d = `sha256:${h.digest('hex')}`;
    digestCache.set(k, d);
  }
  return d;
}

export function sha256(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST,
  'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

/** A small, valid-looking image config JSON. */
export function configBlob(label: string): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], Labels: { 'bench.label': label } },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [{ created_by: `hatoba bench ${label}` }],
  }));
}

export interface BuiltManifest {
  body: Buffer;
  digest: string;
  mediaType: string;
}

export function ociManifest(config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): BuiltManifest {
  const m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers,
  };
  if (annotations) m.annotations = annotations;
  const body = Buffer.from(JSON.stringify(m));
  return { body, digest: sha256(body), mediaType: OCI_MANIFEST };
}
