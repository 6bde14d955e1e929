// Pushing images a content store holds to registries: which of a source's
// images go where (one named by the destination, or all of them under a
// prefix), and the push itself, mounting blobs from a repository of the
// same registry that is known to hold them (the local store remembers
// where it pushed and pulled).
import { isDigest } from '../formats/digest.js';
import { pathOfName, refString, requireRemoteRef, splitTag, type RemoteRef } from '../formats/image-reference.js';
import type { ProgressListener } from './blob-transfer.js';
import type { ContentStore, StoredImage } from './content-store.js';
import { pushImage, type TransferStats } from './image-copy.js';
import { ImageWorkflowError } from './image-errors.js';
import { ownTag, type LoadedItem } from './image-source.js';
import { isIndexType, localImage } from './local-images.js';
import type { Connection } from './registry-connection.js';

export interface PushTarget {
  item: LoadedItem;
  dest: RemoteRef;
}

export interface PushedImage {
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  stats: TransferStats;
}

export const emptyStats = (): TransferStats => ({ manifests: 0, blobsUploaded: 0, blobsExisting: 0, blobsMounted: 0, bytesUploaded: 0 });

export function addStats(into: TransferStats, s: TransferStats): void {
  into.manifests += s.manifests;
  into.blobsUploaded += s.blobsUploaded;
  into.blobsExisting += s.blobsExisting;
  into.blobsMounted += s.blobsMounted;
  into.bytesUploaded += s.bytesUploaded;
}

/** A loaded image as an item of a source. */
export function storedItem(img: StoredImage): LoadedItem {
  return { kind: isIndexType(img.mediaType) ? 'index' : 'image', digest: img.digest, mediaType: img.mediaType, names: isDigest(img.reference) ? [] : [img.reference], tags: [] };
}

/** `HOST[:PORT][/NAMESPACE]` for pushing every image of a source (--all). */
export function parseDestPrefix(value: string): { registry: string; namespace: string } {
  const v = value.replace(/^docker:\/\//, '').replace(/\/+$/, '');
  const slash = v.indexOf('/');
  const registry = slash < 0 ? v : v.slice(0, slash);
  const namespace = slash < 0 ? '' : v.slice(slash + 1);
  if (!registry.includes('.') && !registry.includes(':') && registry !== 'localhost') {
    throw new ImageWorkflowError(`"${value}" names no registry`, 'with --all, give HOST[:PORT][/NAMESPACE], e.g. registry.example/system');
  }
  if (namespace.includes(':') || namespace.includes('@')) throw new ImageWorkflowError(`with --all, "${value}" may not carry a tag: every image keeps its own`);
  return { registry, namespace };
}

function describeItems(items: LoadedItem[]): string {
  return items.map((i) => (i.names.length ? i.names.join(', ') : i.tags.length ? `tag ${i.tags.join(', ')}` : `${i.digest.slice(0, 19)} (no name)`)).join('; ');
}

/** Every named image of a source, each under its own name below `HOST[/NAMESPACE]`. */
function allTargets(items: LoadedItem[], dest: string): PushTarget[] {
  const { registry, namespace } = parseDestPrefix(dest);
  const targets: PushTarget[] = [];
  for (const item of items) {
    if (item.names.length === 0 && item.tags.length && namespace) {
      for (const t of item.tags) targets.push({ item, dest: { registry, repository: namespace, tag: t } });
      continue;
    }
    if (item.names.length === 0) throw new ImageWorkflowError(`an image in the source has no name (${item.digest})`, 'push it on its own to HOST/REPOSITORY:TAG, or name it when saving');
    for (const n of item.names) {
      const { path, tag } = splitTag(pathOfName(n));
      targets.push({ item, dest: { registry, repository: namespace ? `${namespace}/${path}` : path, tag: tag ?? 'latest' } });
    }
  }
  return targets;
}

/** The one image of several that a destination names: by repository and tag, then by ever looser matches of the path. */
function itemNamedBy(items: LoadedItem[], ref: RemoteRef, dest: string): LoadedItem {
  const destPath = ref.repository;
  const last = destPath.slice(destPath.lastIndexOf('/') + 1);
  const tagOk = (t: string | undefined) => ref.tag === undefined || t === ref.tag;
  const matching = (pick: (path: string) => boolean) =>
    items.filter((i) =>
      i.names.some((n) => {
        const { path, tag } = splitTag(pathOfName(n));
        return pick(path) && tagOk(tag);
      }),
    );
  const rules = [(p: string) => p === destPath, (p: string) => destPath.endsWith(`/${p}`) || p.endsWith(`/${destPath}`), (p: string) => p.slice(p.lastIndexOf('/') + 1) === last];
  for (const rule of rules) {
    const found = matching(rule);
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new ImageWorkflowError(`${dest} matches several images of the source: ${describeItems(found)}`, 'name the one you mean more exactly (repository and tag), or push them all with --all');
  }
  if (ref.tag !== undefined) {
    // OCI layouts name images by a bare tag (skopeo's oci:DIR:TAG)
    const byTag = items.filter((i) => i.tags.includes(ref.tag!));
    if (byTag.length === 1) return byTag[0]!;
  }
  throw new ImageWorkflowError(`the source holds ${items.length} images and none is named like ${dest}: ${describeItems(items)}`, 'name one of them in DESTINATION (e.g. HOST/NAMESPACE/NAME:TAG with its name and tag), or push them all with --all HOST[/NAMESPACE]');
}

/** Which of the source's images go where. */
export function selectTargets(items: LoadedItem[], dest: string, all: boolean | undefined): PushTarget[] {
  if (items.length === 0) throw new ImageWorkflowError('the source holds no image');
  if (all) return allTargets(items, dest);
  const ref = requireRemoteRef(dest, 'destination');
  if (ref.digest) throw new ImageWorkflowError(`push to a tag, not a digest: ${dest}`, 'leave out @DIGEST (the digest follows from the content)');
  const item = items.length === 1 ? items[0]! : itemNamedBy(items, ref, dest);
  return [{ item, dest: { ...ref, tag: ref.tag ?? ownTag(item) ?? 'latest' } }];
}

export interface PushOptions {
  concurrency: number;
  onProgress?: ProgressListener;
  /** Called after each image is pushed. */
  onPushed?: (pushed: PushedImage) => void;
}

/**
 * Pushes each target's image from `from` (the local store, or a staging
 * store a source was read into). `local` remembers where blobs went, for
 * later mounts; `connectTo` gives a connection per registry.
 */
export async function pushTargets(targets: PushTarget[], from: ContentStore, local: ContentStore, connectTo: (registry: string) => Promise<Connection>, opts: PushOptions): Promise<{ pushed: PushedImage[]; stats: TransferStats }> {
  const total = emptyStats();
  const pushed: PushedImage[] = [];
  const done = new Map<string, string>(); // registry -> a repository already pushed to (to mount from)
  for (const t of targets) {
    const conn = await connectTo(t.dest.registry);
    const image = await localImage(from, t.item.digest, t.item.mediaType);
    const blobDigests = [...(image.blobs as Map<string, unknown>).keys()];
    const known = (await local.knownLocations(conn.registry, blobDigests)).filter((r) => r !== t.dest.repository);
    const mountFrom = known[0] ?? done.get(conn.registry);
    const result = await pushImage(conn.client, { repository: t.dest.repository, reference: t.dest.tag }, image, {
      concurrency: opts.concurrency,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(mountFrom && mountFrom !== t.dest.repository ? { from: mountFrom } : {}),
    });
    done.set(conn.registry, t.dest.repository);
    await local.recordLocation(conn.registry, t.dest.repository, blobDigests).catch(() => {});
    addStats(total, result.stats);
    const p: PushedImage = { reference: refString(t.dest), digest: result.digest, mediaType: result.mediaType, size: result.size, stats: result.stats };
    pushed.push(p);
    opts.onPushed?.(p);
  }
  return { pushed, stats: total };
}
