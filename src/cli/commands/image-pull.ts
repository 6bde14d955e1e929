// `hatoba image pull`: a manifest (or index) and its blobs from a registry
// into the local content store, a docker-archive or oci-archive tarball,
// or an OCI layout directory. Every blob is verified while it streams
// (RegistryClient.openBlob); files appear under their final name only once
// complete.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pool } from '../../client/blob-transfer.js';
import type { ContentStore } from '../../client/content-store.js';
import { platformMatches } from '../../client/image-copy.js';
import type { RegistryClient } from '../../client/registry-client.js';
import type { Digest } from '../../formats/digest.js';
import { parseLayerDescriptors } from '../../formats/image-archive-common.js';
import { writeDockerArchive, writeOciArchive, type ImageSource, type IndexSource } from '../../formats/image-archive-writer.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../../formats/manifest.js';
import { OCI_INDEX } from '../../formats/media-types.js';
import { CliError } from '../errors.js';
import type { ProgressReporter } from '../progress.js';
import { isIndexType, manifestRef, refString, type RemoteRef } from './image-common.js';

export interface PulledManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  parsed: ParsedManifest;
  platform?: { os?: string; architecture?: string; variant?: string };
  children: PulledManifest[];
}

export interface PullStats {
  manifests: number;
  blobs: number;
  bytes: number;
}

/** The host's platform as OCI names it. */
export function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return `linux/${arch}`;
}

function platformString(p: PulledManifest['platform']): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : '';
}

/** Fetches the manifest tree: an index with all its children, or only the child of `platform`. */
export async function fetchManifests(client: RegistryClient, ref: RemoteRef, platform?: string): Promise<PulledManifest> {
  const repo = ref.repository;
  const fetch = async (reference: string, platformInfo?: PulledManifest['platform']): Promise<PulledManifest> => {
    const m = await client.getManifest(repo, reference);
    const parsed = parseManifest(m.bytes, m.mediaType);
    const children: PulledManifest[] = [];
    if (parsed.kind === 'index' && !platform) {
      for (const c of parsed.manifests) children.push(await fetch(c.digest, (c as Descriptor & { platform?: PulledManifest['platform'] }).platform));
    }
    return { digest: m.digest as Digest, mediaType: m.mediaType, bytes: m.bytes, parsed, ...(platformInfo ? { platform: platformInfo } : {}), children };
  };
  const top = await client.getManifest(repo, manifestRef(ref));
  const parsed = parseManifest(top.bytes, top.mediaType);
  if (parsed.kind === 'index' && platform) {
    const list = (JSON.parse(top.bytes.toString('utf8')) as { manifests?: (Descriptor & { platform?: PulledManifest['platform'] })[] }).manifests ?? [];
    const chosen = list.find((c) => platformMatches(c.platform, platform));
    if (!chosen) {
      const have = list.map((c) => platformString(c.platform)).filter(Boolean);
      throw new CliError(`${refString(ref)} has no image for ${platform}`, `it has: ${have.join(', ') || 'no platforms'}; pick one with --platform OS/ARCH`);
    }
    return fetch(chosen.digest, chosen.platform);
  }
  if (parsed.kind === 'image' && platform) {
    // A single image: check it is the platform asked for when its config says.
    return fetch(top.digest);
  }
  const children: PulledManifest[] = [];
  if (parsed.kind === 'index') for (const c of parsed.manifests) children.push(await fetch(c.digest, (c as Descriptor & { platform?: PulledManifest['platform'] }).platform));
  return { digest: top.digest as Digest, mediaType: top.mediaType, bytes: top.bytes, parsed, children };
}

function allManifests(m: PulledManifest, out: PulledManifest[] = []): PulledManifest[] {
  for (const c of m.children) allManifests(c, out);
  if (!out.some((o) => o.digest === m.digest)) out.push(m);
  return out;
}

export function allBlobs(m: PulledManifest): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const x of allManifests(m)) for (const b of x.parsed.blobs) if (!seen.has(b.digest) && !b.urls?.length) seen.set(b.digest, b);
  return [...seen.values()];
}

/** Into the local content store; returns what was stored. */
export async function pullToStore(client: RegistryClient, ref: RemoteRef, store: ContentStore, top: PulledManifest, opts: { concurrency: number; progress: ProgressReporter }): Promise<PullStats> {
  const run = pool(opts.concurrency);
  const stats: PullStats = { manifests: 0, blobs: 0, bytes: 0 };
  await Promise.all(
    allBlobs(top).map((b) =>
      run(async () => {
        if (await store.has(b.digest)) {
          opts.progress.listener({ digest: b.digest, repository: ref.repository, state: 'exists', bytes: b.size, total: b.size });
          return;
        }
        const stream = await client.openBlob(ref.repository, b.digest, { size: b.size, onProgress: opts.progress.listener });
        await store.putBlob(b.digest, stream);
        stats.blobs++;
        stats.bytes += b.size;
      }),
    ),
  );
  for (const m of allManifests(top)) {
    await store.putBytes(m.bytes);
    stats.manifests++;
  }
  return stats;
}

async function singleImage(client: RegistryClient, ref: RemoteRef, top: PulledManifest, platform: string | undefined): Promise<PulledManifest> {
  if (top.parsed.kind === 'image') return top;
  const wanted = platform ?? hostPlatform();
  const found = top.children.find((c) => platformMatches(c.platform, wanted));
  if (!found) {
    const have = top.children.map((c) => platformString(c.platform)).filter(Boolean);
    throw new CliError(`${refString(ref)} is a multi-platform index without an image for ${wanted}`, `a docker-archive holds one platform; pick one with --platform (it has: ${have.join(', ')}), or write an oci-archive: / oci: to keep them all`);
  }
  if (found.parsed.kind !== 'image') return singleImage(client, ref, found, wanted);
  return found;
}

function imageSource(client: RegistryClient, ref: RemoteRef, m: PulledManifest, config: Buffer, names: string[], progress: ProgressReporter, stats: PullStats): ImageSource {
  const layers = parseLayerDescriptors(m.bytes).map((l) => ({
    digest: l.digest,
    size: l.size,
    open: async () => {
      stats.blobs++;
      stats.bytes += l.size;
      return client.openBlob(ref.repository, l.digest, { size: l.size, onProgress: progress.listener });
    },
  }));
  return { names, manifest: m.bytes, config, layers };
}

async function configOf(client: RegistryClient, ref: RemoteRef, m: PulledManifest): Promise<Buffer> {
  const c = m.parsed.config;
  if (!c) throw new CliError(`${m.digest} has no config; it is not an image`);
  return client.getBlob(ref.repository, c.digest);
}

/** Writes to a temporary name next to `file`, renamed into place once complete (removed on failure). */
async function writeAtomically(file: string, write: (out: NodeJS.WritableStream & import('node:stream').Writable) => Promise<void>): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.partial`;
  const out = createWriteStream(tmp);
  try {
    await write(out);
    if (!out.writableFinished) await new Promise<void>((resolve, reject) => (out.writableFinished ? resolve() : (out.once('finish', resolve), out.once('error', reject))));
    await rename(tmp, file);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function pullToDockerArchive(client: RegistryClient, ref: RemoteRef, top: PulledManifest, file: string, opts: { platform?: string; progress: ProgressReporter }): Promise<{ image: PulledManifest; stats: PullStats }> {
  const stats: PullStats = { manifests: 1, blobs: 0, bytes: 0 };
  const image = await singleImage(client, ref, top, opts.platform);
  const config = await configOf(client, ref, image);
  const names = ref.tag || !ref.digest ? [`${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`] : [];
  await writeAtomically(file, (out) => writeDockerArchive([imageSource(client, ref, image, config, names, opts.progress, stats)], out));
  return { image, stats };
}

export async function pullToOciArchive(client: RegistryClient, ref: RemoteRef, top: PulledManifest, file: string, opts: { progress: ProgressReporter }): Promise<PullStats> {
  const stats: PullStats = { manifests: 0, blobs: 0, bytes: 0 };
  const names = ref.tag || !ref.digest ? [`${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`] : [];
  let item: ImageSource | IndexSource;
  if (top.parsed.kind === 'index') {
    const images: ImageSource[] = [];
    for (const c of top.children) {
      if (c.parsed.kind !== 'image') throw new CliError(`${refString(ref)} nests an index in an index, which an oci-archive cannot be written from here`, 'write an OCI layout directory instead: -o oci:DIR');
      images.push(imageSource(client, ref, c, await configOf(client, ref, c), [], opts.progress, stats));
      stats.manifests++;
    }
    item = { names, index: top.bytes, images };
  } else {
    item = imageSource(client, ref, top, await configOf(client, ref, top), names, opts.progress, stats);
  }
  stats.manifests++;
  await writeAtomically(file, (out) => writeOciArchive([item], out));
  return stats;
}

/** An OCI image layout directory (created, or added to): blobs/sha256/<hex>, index.json, oci-layout. */
export async function pullToOciDir(client: RegistryClient, ref: RemoteRef, top: PulledManifest, dir: string, opts: { concurrency: number; progress: ProgressReporter }): Promise<PullStats> {
  const stats: PullStats = { manifests: 0, blobs: 0, bytes: 0 };
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const exists = async (p: string) => stat(p).then(() => true, () => false);
  const pathOf = (d: string) => join(blobDir, d.slice('sha256:'.length));
  const run = pool(opts.concurrency);
  await Promise.all(
    allBlobs(top).map((b) =>
      run(async () => {
        if (!b.digest.startsWith('sha256:')) throw new CliError(`blob ${b.digest}: an OCI layout here holds sha256 blobs only`);
        const target = pathOf(b.digest);
        if (await exists(target)) {
          opts.progress.listener({ digest: b.digest, repository: ref.repository, state: 'exists', bytes: b.size, total: b.size });
          return;
        }
        const tmp = `${target}.${process.pid}.partial`;
        try {
          await pipeline(await client.openBlob(ref.repository, b.digest, { size: b.size, onProgress: opts.progress.listener }), createWriteStream(tmp));
          await rename(tmp, target);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
        stats.blobs++;
        stats.bytes += b.size;
      }),
    ),
  );
  for (const m of allManifests(top)) {
    await writeFile(pathOf(m.digest), m.bytes);
    stats.manifests++;
  }
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const indexPath = join(dir, 'index.json');
  let index: { schemaVersion: number; mediaType?: string; manifests: Record<string, unknown>[] } = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8')) as typeof index;
    if (!Array.isArray(index.manifests)) index.manifests = [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`${indexPath} is not a readable OCI index.json: ${(err as Error).message}`, 'pick an empty or new directory');
  }
  const refName = ref.tag ?? (ref.digest ? undefined : 'latest');
  const desc: Record<string, unknown> = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  if (refName) {
    desc.annotations = { 'org.opencontainers.image.ref.name': refName };
    index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.['org.opencontainers.image.ref.name'] !== refName);
  } else {
    index.manifests = index.manifests.filter((m) => m.digest !== top.digest);
  }
  index.manifests.push(desc);
  await writeFile(`${indexPath}.tmp`, `${JSON.stringify(index)}\n`);
  await rename(`${indexPath}.tmp`, indexPath);
  return stats;
}

export { isIndexType };
