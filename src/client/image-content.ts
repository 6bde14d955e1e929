// The content of images, wherever it is read from: a repository of a
// registry or the local content store. One interface, so that pulling
// (registry to file or store) and saving (store to file) are one piece of
// code; and the manifest tree of an image or index read through it.
import type { Readable } from 'node:stream';
import type { Digest } from '../formats/digest.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../formats/manifest.js';
import type { ProgressListener } from './blob-transfer.js';
import type { ContentStore } from './content-store.js';
import { platformMatches } from './image-copy.js';
import { ImageWorkflowError } from './image-errors.js';
import type { RegistryClient } from './registry-client.js';

export interface ImageContent {
  /** Where it is, for messages (`registry.example/system/oracle_db`, `the local store`). */
  readonly label: string;
  /** The repository blobs come from, for progress events ('' for the local store). */
  readonly repository: string;
  /** A manifest by tag or digest; `mediaType` is the descriptor's, when the caller has one. */
  manifest(reference: string, mediaType?: string): Promise<{ digest: Digest; mediaType: string; bytes: Buffer }>;
  /** A small blob (a config), whole. */
  blobBytes(digest: Digest): Promise<Buffer>;
  /** A blob as a stream, verified against its digest and size. */
  openBlob(blob: Descriptor): Promise<Readable>;
}

export function registryContent(client: RegistryClient, registry: string, repository: string, onProgress?: ProgressListener): ImageContent {
  return {
    label: `${registry}/${repository}`,
    repository,
    async manifest(reference) {
      const m = await client.getManifest(repository, reference);
      return { digest: m.digest as Digest, mediaType: m.mediaType, bytes: m.bytes };
    },
    blobBytes: (digest) => client.getBlob(repository, digest),
    openBlob: (blob) => client.openBlob(repository, blob.digest, { size: blob.size, ...(onProgress ? { onProgress } : {}) }),
  };
}

/** The local store holds manifests by digest only (names are in its index). */
export function storeContent(store: ContentStore, label = 'the local store'): ImageContent {
  const need = async (digest: Digest, what: string) => {
    if (!(await store.has(digest))) throw new ImageWorkflowError(`${label} lacks ${what} ${digest}`, 'load or pull the image again');
  };
  return {
    label,
    repository: '',
    async manifest(reference, mediaType) {
      const digest = reference as Digest;
      await need(digest, 'manifest');
      const bytes = await store.readBytes(digest);
      return { digest, mediaType: mediaType ?? parseManifest(bytes).mediaType, bytes };
    },
    async blobBytes(digest) {
      await need(digest, 'blob');
      return store.readBytes(digest);
    },
    async openBlob(blob) {
      await need(blob.digest, 'blob');
      return store.open(blob.digest);
    },
  };
}

export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

/** A manifest with its children (for an index: all of them, or the one of the platform asked for). */
export interface ManifestNode {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  parsed: ParsedManifest;
  platform?: Platform;
  children: ManifestNode[];
}

/** The host's platform as OCI names it. */
export function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return `linux/${arch}`;
}

export function platformString(p: Platform | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : '';
}

type IndexEntry = Descriptor & { platform?: Platform };

function indexEntries(bytes: Buffer): IndexEntry[] {
  return (JSON.parse(bytes.toString('utf8')) as { manifests?: IndexEntry[] }).manifests ?? [];
}

/**
 * Reads the manifest tree under `reference`: an index with all its
 * children, or, with `platform`, only that platform's image. `what` names
 * the image in messages.
 */
export async function readManifestTree(content: ImageContent, reference: string, opts: { platform?: string; mediaType?: string; what?: string } = {}): Promise<ManifestNode> {
  const what = opts.what ?? `${content.label}:${reference}`;
  const read = async (ref: string, mediaType: string | undefined, platform?: Platform): Promise<ManifestNode> => {
    const m = await content.manifest(ref, mediaType);
    const parsed = parseManifest(m.bytes, m.mediaType);
    const children: ManifestNode[] = [];
    if (parsed.kind === 'index') for (const c of indexEntries(m.bytes)) children.push(await read(c.digest, c.mediaType, c.platform));
    return { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes, parsed, ...(platform ? { platform } : {}), children };
  };
  if (!opts.platform) return read(reference, opts.mediaType);
  const top = await content.manifest(reference, opts.mediaType);
  const parsed = parseManifest(top.bytes, top.mediaType);
  if (parsed.kind !== 'index') return read(top.digest, top.mediaType);
  const list = indexEntries(top.bytes);
  const chosen = list.find((c) => platformMatches(c.platform, opts.platform!));
  if (!chosen) {
    const have = list.map((c) => platformString(c.platform)).filter(Boolean);
    throw new ImageWorkflowError(`${what} has no image for ${opts.platform}`, `it has: ${have.join(', ') || 'no platforms'}; pick one with --platform OS/ARCH`);
  }
  return read(chosen.digest, chosen.mediaType, chosen.platform);
}

/** Every manifest of the tree, children before parents, once each. */
export function allManifests(m: ManifestNode, out: ManifestNode[] = []): ManifestNode[] {
  for (const c of m.children) allManifests(c, out);
  if (!out.some((o) => o.digest === m.digest)) out.push(m);
  return out;
}

/** Every blob the tree needs (foreign layers, which live elsewhere, left out), once each. */
export function allBlobs(m: ManifestNode): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const x of allManifests(m)) for (const b of x.parsed.blobs) if (!seen.has(b.digest) && !b.urls?.length) seen.set(b.digest, b);
  return [...seen.values()];
}
