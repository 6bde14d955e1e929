// Images of the local content store as the commands see them: found by
// the names users type (docker's long and short names, digests and digest
// prefixes), described for `image ls`, and handed to pushImage as local
// content.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../formats/digest.js';
import { canonicalReference } from '../formats/image-archive-common.js';
import { normalizeLocalName, splitTag } from '../formats/image-reference.js';
import { parseManifest } from '../formats/manifest.js';
import { INDEX_MANIFEST_TYPES } from '../formats/media-types.js';
import type { BlobSource } from './blob-transfer.js';
import { ContentStore, defaultContentStoreDir, type StoredImage } from './content-store.js';
import type { LocalImage, LocalManifest } from './image-copy.js';
import { ImageWorkflowError } from './image-errors.js';

export function openLocalStore(dir: string = defaultContentStoreDir()): Promise<ContentStore> {
  return new ContentStore(dir).init();
}

export function isIndexType(mediaType: string): boolean {
  return INDEX_MANIFEST_TYPES.has(mediaType);
}

/** A stored image by reference (`name:tag`, docker's long or short name, a digest or a digest prefix). */
export async function resolveLocal(store: ContentStore, reference: string): Promise<StoredImage | undefined> {
  const images = await store.list();
  const wanted = reference.trim();
  const exact = images.find((i) => i.reference === wanted) ?? images.find((i) => i.reference === normalizeLocalName(wanted));
  if (exact) return exact;
  const canon = canonicalReference(normalizeLocalName(wanted));
  const byName = images.find((i) => !isDigest(i.reference) && canonicalReference(i.reference) === canon);
  if (byName) return byName;
  const hex = wanted.replace(/^sha256:/, '');
  if (/^[a-f0-9]{6,64}$/.test(hex)) {
    const matches = [...new Map(images.filter((i) => i.digest.startsWith(`sha256:${hex}`)).map((i) => [i.digest, i])).values()];
    if (matches.length === 1) return { ...matches[0]!, reference: matches[0]!.digest };
    if (matches.length > 1) throw new ImageWorkflowError(`"${reference}" matches several images (${matches.map((m) => m.digest.slice(0, 19)).join(', ')})`, 'give more of the digest');
  }
  return undefined;
}

/** Like resolveLocal, but the image must be there. */
export async function requireLocal(store: ContentStore, reference: string): Promise<StoredImage> {
  const found = await resolveLocal(store, reference);
  if (!found) throw new ImageWorkflowError(`no loaded image ${reference}`, 'see the loaded images with: hatoba image ls');
  return found;
}

/**
 * A stored manifest or index as pushImage wants it: the bytes, children
 * first, and a blob source for every blob the store has.
 */
export async function localImage(store: ContentStore, digest: Digest, mediaType: string): Promise<LocalImage> {
  const blobs = new Map<string, BlobSource>();
  const load = async (d: Digest, type: string): Promise<LocalManifest> => {
    if (!(await store.has(d))) throw new ImageWorkflowError(`the local store lacks manifest ${d}`, 'load or pull the image again');
    const bytes = await store.readBytes(d);
    const parsed = parseManifest(bytes, type);
    const children: LocalManifest[] = [];
    for (const child of parsed.manifests) children.push(await load(child.digest, child.mediaType));
    for (const b of parsed.blobs) {
      if (blobs.has(b.digest)) continue;
      const size = await store.size(b.digest);
      if (size === undefined) {
        if (b.urls?.length) continue; // a foreign layer: the registry fetches it
        throw new ImageWorkflowError(`the local store lacks blob ${b.digest} of ${d}`, 'load or pull the image again');
      }
      blobs.set(b.digest, { digest: b.digest, size, mediaType: b.mediaType, open: () => store.open(b.digest) });
    }
    return { bytes, mediaType: parsed.mediaType || type, ...(children.length ? { children } : {}) };
  };
  const top = await load(digest, mediaType);
  return { ...top, blobs };
}

/** A row of `hatoba image ls`. */
export interface LocalImageRow {
  reference: string;
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index';
  platforms: string[];
  size: number;
  /** When the image was built: its config's `created` (the newest of an index's images); undefined when no config says. */
  created?: string;
  /** When it was loaded, pulled or tagged here. */
  loaded: string;
}

/** What `image ls` shows of a stored image; a damaged entry is listed with what could be read. */
export async function describeLocal(store: ContentStore, img: StoredImage): Promise<LocalImageRow> {
  const named = !isDigest(img.reference);
  const { path, tag } = named ? splitTag(img.reference) : { path: '<none>', tag: '<none>' };
  const row: LocalImageRow = { reference: img.reference, repository: path, tag: tag ?? '<none>', digest: img.digest, mediaType: img.mediaType, kind: isIndexType(img.mediaType) ? 'index' : 'image', platforms: [], size: 0, loaded: img.created };
  try {
    const seen = new Set<string>();
    const walk = async (d: Digest, type: string): Promise<void> => {
      const parsed = parseManifest(await store.readBytes(d), type);
      for (const c of parsed.manifests) await walk(c.digest, c.mediaType);
      for (const b of parsed.blobs) if (!seen.has(b.digest)) (seen.add(b.digest), (row.size += b.size));
      if (parsed.kind === 'image' && parsed.config) {
        const config = JSON.parse((await store.readBytes(parsed.config.digest)).toString('utf8')) as { os?: string; architecture?: string; variant?: string; created?: unknown };
        const p = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
        if (p) row.platforms.push(p);
        if (typeof config.created === 'string' && !Number.isNaN(Date.parse(config.created)) && (!row.created || Date.parse(config.created) > Date.parse(row.created))) row.created = config.created;
      }
    };
    await walk(img.digest, img.mediaType);
  } catch {
    // damaged or incomplete entry: list it anyway
  }
  return row;
}

/**
 * Runs `body` with a private, empty store under the local store's root
 * (same file system, so its blobs can be moved cheaply), removed afterwards:
 * where a push or copy from a file stages the blobs it reads.
 */
export async function withStagingStore<T>(store: ContentStore, body: (staging: ContentStore) => Promise<T>): Promise<T> {
  const dir = join(store.root, 'staging', `${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    return await body(await new ContentStore(dir).init());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
