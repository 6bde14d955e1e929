// Whole images between registries and from local content: copyImage copies
// a manifest or an index (children first, then the index), its blobs in
// parallel (mounted when both sides are the same registry), and optionally
// the referrers (signatures, SBOMs) of everything it copied; pushImage
// pushes a local description (manifest bytes + blob stream factories).
// Manifests are copied as bytes, so every digest stays the same.
import { ManifestFormatError, parseManifest, type Descriptor } from '../formats/manifest.js';
import { pool, type BlobSource, type ProgressListener } from './blob-transfer.js';
import { DigestMismatchError, RegistryClientError } from './registry-errors.js';
import { createHash } from 'node:crypto';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, INDEX_MANIFEST_TYPES as INDEX_TYPES, OCI_INDEX, OCI_MANIFEST } from '../formats/media-types.js';
import type { Manifest, PushBlobResult, RegistryClient } from './registry-client.js';

const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST];

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A repository and a tag or digest on one registry (the registry is the client's). */
export interface ImageReference {
  repository: string;
  /** A tag or a digest; `latest` when omitted. */
  reference?: string;
}

export interface ManifestEvent {
  repository: string;
  digest: string;
  mediaType: string;
  /** The tag or digest it was pushed under. */
  reference: string;
  kind: 'image' | 'index' | 'referrer';
  outcome: 'pushed' | 'exists';
}

export interface TransferStats {
  manifests: number;
  blobsUploaded: number;
  blobsExisting: number;
  blobsMounted: number;
  /** Bytes of the blobs that were uploaded. */
  bytesUploaded: number;
}

export interface CopyOptions {
  /** Blobs transferred at the same time (default 4). */
  concurrency?: number;
  /** Also copy the referrers (signatures, SBOMs...) of every manifest copied, recursively; optionally of one artifactType. */
  referrers?: boolean | { artifactType?: string };
  /**
   * Only these platforms of an index (`os/arch[/variant]`). One match copies
   * that image alone to the destination; several make a new index of just
   * them (whose digest therefore differs from the source's).
   */
  platforms?: string[];
  /** Mount blobs instead of copying them when both clients are the same registry (default true). */
  mount?: boolean;
  onProgress?: ProgressListener;
  onManifest?: (event: ManifestEvent) => void;
}

export interface CopyResult {
  /** Digest of what the destination reference now points at. */
  digest: string;
  mediaType: string;
  size: number;
  /** The reference (tag or digest) it was pushed under. */
  reference: string;
  /** Digests of the referrers copied. */
  referrers: string[];
  stats: TransferStats;
}

/** `repo`, `repo:tag`, `repo@sha256:...` (no registry host: that is the client's). */
export function parseImageReference(value: string): ImageReference {
  const at = value.indexOf('@');
  if (at >= 0) return { repository: value.slice(0, at), reference: value.slice(at + 1) };
  const colon = value.lastIndexOf(':');
  if (colon > value.lastIndexOf('/')) return { repository: value.slice(0, colon), reference: value.slice(colon + 1) };
  return { repository: value, reference: 'latest' };
}

function toRef(ref: ImageReference | string): ImageReference {
  return typeof ref === 'string' ? parseImageReference(ref) : ref;
}

const newStats = (): TransferStats => ({ manifests: 0, blobsUploaded: 0, blobsExisting: 0, blobsMounted: 0, bytesUploaded: 0 });

function count(stats: TransferStats, result: PushBlobResult): void {
  if (result.outcome === 'uploaded') {
    stats.blobsUploaded++;
    stats.bytesUploaded += result.size;
  } else if (result.outcome === 'mounted') stats.blobsMounted++;
  else stats.blobsExisting++;
}

function parse(bytes: Uint8Array, mediaType: string, what: string) {
  try {
    return parseManifest(bytes, mediaType);
  } catch (err) {
    if (err instanceof ManifestFormatError) throw new RegistryClientError(`${what}: ${err.message}`);
    throw err;
  }
}

interface IndexChild extends Descriptor {
  platform?: { os?: string; architecture?: string; variant?: string };
}

function indexChildren(bytes: Uint8Array): IndexChild[] {
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { manifests?: IndexChild[] };
  return doc.manifests ?? [];
}

export function platformMatches(platform: IndexChild['platform'], wanted: string): boolean {
  if (!platform) return false;
  const [os, architecture, variant] = wanted.split('/');
  return platform.os === os && platform.architecture === architecture && (variant === undefined || platform.variant === variant);
}

/**
 * Copies `srcRef` from `src` to `dstRef` on `dst`. The destination
 * reference defaults to the source's tag (or digest).
 */
export async function copyImage(src: RegistryClient, srcRef: ImageReference | string, dst: RegistryClient, dstRef: ImageReference | string, options: CopyOptions = {}): Promise<CopyResult> {
  const from = toRef(srcRef);
  const to = toRef(dstRef);
  const srcRepo = from.repository;
  const dstRepo = to.repository;
  const run = pool(options.concurrency ?? 4);
  const stats = newStats();
  const mountFrom = options.mount !== false && src.sameRegistry(dst) && srcRepo !== dstRepo ? srcRepo : undefined;
  const blobs = new Map<string, Promise<void>>();
  const manifests = new Map<string, Promise<void>>();
  const copied: string[] = [];

  const copyBlob = (d: Descriptor): Promise<void> => {
    let task = blobs.get(d.digest);
    if (!task) {
      const source: BlobSource = { digest: d.digest, size: d.size, mediaType: d.mediaType, open: () => src.openBlob(srcRepo, d.digest, { size: d.size }) };
      task = run(() => dst.pushBlob(dstRepo, source, { from: mountFrom, onProgress: options.onProgress })).then((r) => count(stats, r));
      blobs.set(d.digest, task);
    }
    return task;
  };

  /** Copies what a manifest references (children, blobs); not the manifest itself. */
  const copyContent = async (m: Manifest, what: string): Promise<void> => {
    const parsed = parse(m.bytes, m.mediaType, what);
    if (parsed.kind === 'index') {
      await Promise.all(parsed.manifests.map((child) => copyByDigest(child.digest, child.mediaType, 'image')));
    } else {
      await Promise.all(parsed.blobs.map(copyBlob));
    }
  };

  /** Copies a manifest (and everything below it) by digest, once. */
  const copyByDigest = (digest: string, mediaType: string | undefined, kind: 'image' | 'referrer'): Promise<void> => {
    let task = manifests.get(digest);
    if (!task) {
      task = (async () => {
        if (mediaType !== undefined && !MANIFEST_ACCEPT.includes(mediaType) && kind !== 'referrer') {
          throw new RegistryClientError(`${srcRepo}@${digest} is a ${mediaType}, not a manifest this client copies`);
        }
        if (await dst.headManifest(dstRepo, digest)) {
          options.onManifest?.({ repository: dstRepo, digest, mediaType: mediaType ?? '', reference: digest, kind: kindOf(mediaType, kind), outcome: 'exists' });
        } else {
          const m = await src.getManifest(srcRepo, digest);
          await copyContent(m, `${srcRepo}@${digest}`);
          await dst.putManifest(dstRepo, digest, m.bytes, m.mediaType);
          stats.manifests++;
          options.onManifest?.({ repository: dstRepo, digest, mediaType: m.mediaType, reference: digest, kind: kindOf(m.mediaType, kind), outcome: 'pushed' });
        }
        copied.push(digest);
      })();
      manifests.set(digest, task);
    }
    return task;
  };

  let top: Manifest = await src.getManifest(srcRepo, from.reference ?? 'latest');
  const srcTop = top;
  if (options.platforms?.length && INDEX_TYPES.has(top.mediaType)) {
    const children = indexChildren(top.bytes);
    const chosen = children.filter((c) => options.platforms!.some((p) => platformMatches(c.platform, p)));
    if (chosen.length === 0) {
      const available = children.map((c) => [c.platform?.os, c.platform?.architecture, c.platform?.variant].filter(Boolean).join('/')).filter(Boolean);
      throw new RegistryClientError(`${srcRepo}:${from.reference ?? 'latest'} has no image for ${options.platforms.join(', ')}; it has ${available.join(', ') || 'no platforms'}`);
    }
    if (chosen.length === 1) {
      top = await src.getManifest(srcRepo, chosen[0]!.digest);
    } else {
      const doc = JSON.parse(top.bytes.toString('utf8')) as Record<string, unknown>;
      const bytes = Buffer.from(JSON.stringify({ ...doc, manifests: chosen }));
      top = { bytes, mediaType: top.mediaType, digest: sha256(bytes), size: bytes.length };
    }
  }

  const reference = to.reference ?? (top === srcTop ? (from.reference ?? 'latest') : top.digest);
  if (!(await dst.headManifest(dstRepo, top.digest))) {
    await copyContent(top, `${srcRepo}@${top.digest}`);
  }
  const pushed = await dst.putManifest(dstRepo, reference, top.bytes, top.mediaType);
  if (pushed.digest !== top.digest) throw new DigestMismatchError(top.digest, pushed.digest, `copy of ${srcRepo}@${top.digest}`);
  stats.manifests++;
  copied.push(top.digest);
  options.onManifest?.({ repository: dstRepo, digest: top.digest, mediaType: top.mediaType, reference, kind: kindOf(top.mediaType, 'image'), outcome: 'pushed' });

  const referrers: string[] = [];
  if (options.referrers) {
    const artifactType = typeof options.referrers === 'object' ? options.referrers.artifactType : undefined;
    const seen = new Set<string>();
    const queue = [...copied];
    while (queue.length) {
      const subject = queue.shift()!;
      if (seen.has(subject)) continue;
      seen.add(subject);
      for (const r of await src.referrers(srcRepo, subject, { artifactType })) {
        if (referrers.includes(r.digest)) continue;
        await copyByDigest(r.digest, r.mediaType, 'referrer');
        referrers.push(r.digest);
        queue.push(r.digest);
      }
    }
  }
  await Promise.all([...blobs.values()]);
  return { digest: top.digest, mediaType: top.mediaType, size: top.size, reference, referrers, stats };
}

function kindOf(mediaType: string | undefined, kind: 'image' | 'referrer'): ManifestEvent['kind'] {
  if (kind === 'referrer') return 'referrer';
  return mediaType !== undefined && INDEX_TYPES.has(mediaType) ? 'index' : 'image';
}

// --- pushing local content ------------------------------------------------------

export interface LocalManifest {
  bytes: Buffer | Uint8Array;
  mediaType: string;
  /** For an index: its child manifests, pushed (by digest) before it. */
  children?: LocalManifest[];
}

export interface LocalImage extends LocalManifest {
  /** Sources for the blobs the manifests reference (by digest). Blobs without a source must already be in the repository. */
  blobs: BlobSource[] | ReadonlyMap<string, BlobSource>;
  /** Manifests with a `subject` (signatures...) pushed by digest after the image. */
  referrers?: LocalManifest[];
}

export interface PushImageOptions {
  concurrency?: number;
  /** Repositories on the same registry to mount blobs from. */
  from?: string | string[];
  onProgress?: ProgressListener;
  onManifest?: (event: ManifestEvent) => void;
}

export interface PushImageResult {
  digest: string;
  mediaType: string;
  size: number;
  reference: string;
  stats: TransferStats;
}

/** Pushes a local image or index: blobs in parallel, then the manifests children first, the top one under the reference. */
export async function pushImage(client: RegistryClient, target: ImageReference | string, image: LocalImage, options: PushImageOptions = {}): Promise<PushImageResult> {
  const { repository, reference: given } = toRef(target);
  const sources = image.blobs instanceof Map ? image.blobs : new Map((image.blobs as BlobSource[]).map((b) => [b.digest, b]));
  const run = pool(options.concurrency ?? 4);
  const stats = newStats();

  // Every manifest, children before parents; every blob they need, once.
  const ordered: { m: LocalManifest; digest: string; kind: ManifestEvent['kind'] }[] = [];
  const needed = new Map<string, Descriptor>();
  const visit = (m: LocalManifest, kind: ManifestEvent['kind']) => {
    for (const child of m.children ?? []) visit(child, 'image');
    const digest = sha256(m.bytes);
    const parsed = parse(m.bytes, m.mediaType, `manifest ${digest}`);
    // Children of an index that are not given must already be in the repository; the registry says if not.
    for (const d of parsed.blobs) needed.set(d.digest, d);
    ordered.push({ m, digest, kind: kind === 'referrer' ? 'referrer' : parsed.kind });
  };
  visit(image, 'image');
  for (const r of image.referrers ?? []) visit(r, 'referrer');

  await Promise.all(
    [...needed.values()].map(async (d) => {
      const source = sources.get(d.digest);
      if (!source) {
        if (await client.blobExists(repository, d.digest)) return void stats.blobsExisting++;
        throw new RegistryClientError(`no content for blob ${d.digest} (${d.mediaType}), and ${repository} does not have it`);
      }
      if (source.size !== d.size) throw new DigestMismatchError(d.digest, d.digest, `blob ${d.digest}: the manifest says ${d.size} bytes, the source has ${source.size}`, d.size, source.size);
      count(stats, await run(() => client.pushBlob(repository, source, { from: options.from, onProgress: options.onProgress })));
    }),
  );

  const top = ordered.find((o) => o.m === image)!;
  const pushedDigests = new Set<string>([top.digest]);
  const put = async (o: (typeof ordered)[number]) => {
    if (pushedDigests.has(o.digest)) return;
    pushedDigests.add(o.digest);
    await client.putManifest(repository, o.digest, o.m.bytes, o.m.mediaType);
    stats.manifests++;
    options.onManifest?.({ repository, digest: o.digest, mediaType: o.m.mediaType, reference: o.digest, kind: o.kind, outcome: 'pushed' });
  };
  // Children before their index, the top manifest under its reference, then what refers to it.
  for (const o of ordered) if (o.kind !== 'referrer' && o.m !== image) await put(o);
  const reference = given ?? top.digest;
  await client.putManifest(repository, reference, top.m.bytes, top.m.mediaType);
  stats.manifests++;
  options.onManifest?.({ repository, digest: top.digest, mediaType: top.m.mediaType, reference, kind: top.kind, outcome: 'pushed' });
  for (const o of ordered) if (o.kind === 'referrer') await put(o);
  return { digest: top.digest, mediaType: top.m.mediaType, size: top.m.bytes.byteLength, reference, stats };
}
