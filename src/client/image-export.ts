// Writing an image (or index) out of an ImageContent: into a content
// store, a docker-archive or oci-archive tarball, or an OCI layout
// directory. `hatoba image pull` reads from a registry, `image save` from
// the local store, `image copy` either. Every blob is verified while it
// streams (the content's openBlob); files appear under their final name
// only once complete.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseLayerDescriptors } from '../formats/image-archive-common.js';
import { writeDockerArchive, writeOciArchive, type ImageSource, type IndexSource } from '../formats/image-archive-writer.js';
import { OCI_INDEX } from '../formats/media-types.js';
import { pool, type ProgressListener } from './blob-transfer.js';
import type { ContentStore } from './content-store.js';
import { allBlobs, allManifests, hostPlatform, platformString, type ImageContent, type ManifestNode } from './image-content.js';
import { platformMatches } from './image-copy.js';
import { ImageWorkflowError } from './image-errors.js';

export interface ExportStats {
  manifests: number;
  blobs: number;
  bytes: number;
}

export interface ExportOptions {
  concurrency?: number;
  onProgress?: ProgressListener;
  /** The image in messages. */
  what?: string;
}

const newStats = (): ExportStats => ({ manifests: 0, blobs: 0, bytes: 0 });

/** Into a content store; returns what was stored (blobs it had already are not counted). */
export async function exportToStore(content: ImageContent, top: ManifestNode, store: ContentStore, opts: ExportOptions = {}): Promise<ExportStats> {
  const run = pool(opts.concurrency ?? 4);
  const stats = newStats();
  await Promise.all(
    allBlobs(top).map((b) =>
      run(async () => {
        if (await store.has(b.digest)) {
          opts.onProgress?.({ digest: b.digest, repository: content.repository, state: 'exists', bytes: b.size, total: b.size });
          return;
        }
        await store.putBlob(b.digest, await content.openBlob(b));
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

/** The one image of `platform` (default: the host's) a docker-archive can hold. */
export function singleImage(top: ManifestNode, platform: string | undefined, what: string): ManifestNode {
  if (top.parsed.kind === 'image') return top;
  const wanted = platform ?? hostPlatform();
  const found = top.children.find((c) => platformMatches(c.platform, wanted));
  if (!found) {
    const have = top.children.map((c) => platformString(c.platform)).filter(Boolean);
    throw new ImageWorkflowError(`${what} is a multi-platform index without an image for ${wanted}`, `a docker-archive holds one platform; pick one with --platform (it has: ${have.join(', ')}), or write an oci-archive: / oci: to keep them all`);
  }
  return found.parsed.kind === 'image' ? found : singleImage(found, wanted, what);
}

function imageSource(content: ImageContent, m: ManifestNode, config: Buffer, names: string[], stats: ExportStats): ImageSource {
  const layers = parseLayerDescriptors(m.bytes).map((l) => ({
    digest: l.digest,
    size: l.size,
    open: async () => {
      stats.blobs++;
      stats.bytes += l.size;
      return content.openBlob(l);
    },
  }));
  return { names, manifest: m.bytes, config, layers };
}

async function configOf(content: ImageContent, m: ManifestNode): Promise<Buffer> {
  const c = m.parsed.config;
  if (!c) throw new ImageWorkflowError(`${m.digest} has no config; it is not an image`);
  return content.blobBytes(c.digest);
}

/** Writes to a temporary name next to `file`, renamed into place once complete (removed on failure). */
async function writeAtomically(file: string, write: (out: Writable) => Promise<void>): Promise<void> {
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

/**
 * A `docker save` tarball of one platform's image, named `names`
 * (`registry.example/system/oracle_db:19c`). Returns the image written.
 */
export async function exportDockerArchive(content: ImageContent, top: ManifestNode, file: string, opts: { names: string[]; platform?: string; what?: string }): Promise<{ image: ManifestNode; stats: ExportStats }> {
  const stats: ExportStats = { manifests: 1, blobs: 0, bytes: 0 };
  const image = singleImage(top, opts.platform, opts.what ?? content.label);
  const config = await configOf(content, image);
  await writeAtomically(file, (out) => writeDockerArchive([imageSource(content, image, config, opts.names, stats)], out));
  return { image, stats };
}

/** An OCI layout in a tarball: an image, or an index with all its images. */
export async function exportOciArchive(content: ImageContent, top: ManifestNode, file: string, opts: { names: string[]; what?: string }): Promise<ExportStats> {
  const stats = newStats();
  let item: ImageSource | IndexSource;
  if (top.parsed.kind === 'index') {
    const images: ImageSource[] = [];
    for (const c of top.children) {
      if (c.parsed.kind !== 'image') throw new ImageWorkflowError(`${opts.what ?? content.label} nests an index in an index, which an oci-archive cannot be written from here`, 'write an OCI layout directory instead: oci:DIR');
      images.push(imageSource(content, c, await configOf(content, c), [], stats));
      stats.manifests++;
    }
    item = { names: opts.names, index: top.bytes, images };
  } else {
    item = imageSource(content, top, await configOf(content, top), opts.names, stats);
  }
  stats.manifests++;
  await writeAtomically(file, (out) => writeOciArchive([item], out));
  return stats;
}

/**
 * An OCI image layout directory (created, or added to): blobs/sha256/<hex>,
 * index.json, oci-layout. `refName` (a tag, as skopeo's oci:DIR:TAG)
 * replaces an entry of the same name; without one the image is listed by
 * digest.
 */
export async function exportOciDir(content: ImageContent, top: ManifestNode, dir: string, opts: ExportOptions & { refName?: string } = {}): Promise<ExportStats> {
  const stats = newStats();
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const exists = async (p: string) => stat(p).then(() => true, () => false);
  const pathOf = (d: string) => join(blobDir, d.slice('sha256:'.length));
  const run = pool(opts.concurrency ?? 4);
  await Promise.all(
    allBlobs(top).map((b) =>
      run(async () => {
        if (!b.digest.startsWith('sha256:')) throw new ImageWorkflowError(`blob ${b.digest}: an OCI layout here holds sha256 blobs only`);
        const target = pathOf(b.digest);
        if (await exists(target)) {
          opts.onProgress?.({ digest: b.digest, repository: content.repository, state: 'exists', bytes: b.size, total: b.size });
          return;
        }
        const tmp = `${target}.${process.pid}.partial`;
        try {
          await pipeline(await content.openBlob(b), createWriteStream(tmp));
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
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ImageWorkflowError(`${indexPath} is not a readable OCI index.json: ${(err as Error).message}`, 'pick an empty or new directory');
  }
  const desc: Record<string, unknown> = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  if (opts.refName) {
    desc.annotations = { 'org.opencontainers.image.ref.name': opts.refName };
    index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.['org.opencontainers.image.ref.name'] !== opts.refName);
  } else {
    index.manifests = index.manifests.filter((m) => m.digest !== top.digest);
  }
  index.manifests.push(desc);
  await writeFile(`${indexPath}.tmp`, `${JSON.stringify(index)}\n`);
  await rename(`${indexPath}.tmp`, indexPath);
  return stats;
}
