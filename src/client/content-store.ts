// The CLI's local content store: where `hatoba image load` puts images so
// that `tag` and `push` can follow, as with docker, but without a daemon.
// Blobs (layers, configs, manifests) are kept by the same blob store the
// server uses on disk; an index file maps references to manifests.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, isDigest, type Digest } from '../formats/digest.js';
import { parseManifest } from '../formats/manifest.js';
import type { BlobSink, IncomingBlob } from '../formats/image-archive-common.js';
import { FilesystemBlobStore } from '../storage/filesystem/filesystem-blob-store.js';

export interface StoredImage {
  /** e.g. `oracle_db:19c` or `registry.example/system/oracle_db:19c` */
  reference: string;
  digest: Digest;
  mediaType: string;
  /** ISO time it was loaded or tagged. */
  created: string;
}

interface IndexFile {
  images: StoredImage[];
}

export function defaultContentStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HATOBA_DATA_HOME) return env.HATOBA_DATA_HOME;
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'hatoba');
}

export class ContentStore {
  private readonly blobs: FilesystemBlobStore;
  private readonly indexPath: string;

  constructor(readonly root: string = defaultContentStoreDir()) {
    this.blobs = new FilesystemBlobStore(root);
    this.indexPath = join(root, 'images.json');
  }

  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await this.blobs.init();
    return this;
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.blobs.stat(digest)) !== undefined;
  }

  async size(digest: Digest): Promise<number | undefined> {
    return (await this.blobs.stat(digest))?.size;
  }

  /** Stores a blob from a stream, verifying its digest; a blob already present is kept. */
  async putBlob(digest: Digest, body: Readable): Promise<number> {
    const existing = await this.blobs.stat(digest);
    if (existing) {
      body.resume();
      return existing.size;
    }
    const id = randomUUID();
    try {
      await this.blobs.append(id, 0, body);
      return (await this.blobs.commit(id, digest)).size;
    } catch (err) {
      await this.blobs.abort(id).catch(() => {});
      throw err;
    }
  }

  /**
   * Stores a blob whose digest is known only once the stream has ended
   * (a classic `docker save` layer.tar): staged while it streams, then
   * published under `await digest` (verified against the staged bytes).
   * A stream that fails publishes nothing.
   */
  async putBlobDigestLater(body: Readable, digest: Promise<Digest>): Promise<{ digest: Digest; size: number }> {
    const id = randomUUID();
    try {
      await this.blobs.append(id, 0, body);
      const final = await digest;
      if (await this.blobs.stat(final)) {
        await this.blobs.abort(id);
        return { digest: final, size: (await this.blobs.stat(final))!.size };
      }
      return await this.blobs.commit(id, final);
    } catch (err) {
      digest.catch(() => {});
      await this.blobs.abort(id).catch(() => {});
      throw err;
    }
  }

  /**
   * A BlobSink for the image-archive readers: a blob with a known digest is
   * stored under it (verified), one without is staged and published under
   * the digest the reader computed. `onBlob` is told of each stored blob.
   */
  sink(onBlob?: (blob: { digest: Digest; size: number; path: string }) => void): BlobSink {
    return {
      putBlob: async (blob: IncomingBlob) => {
        if (blob.expected) {
          let size: number;
          if (await this.has(blob.expected)) {
            // Already here: read it through anyway, so the reader verifies it and moves on.
            for await (const chunk of blob.stream) void chunk;
            size = blob.size;
          } else {
            size = await this.putBlob(blob.expected, blob.stream);
          }
          await blob.digest;
          onBlob?.({ digest: blob.expected, size, path: blob.path });
        } else {
          const stored = await this.putBlobDigestLater(blob.stream, blob.digest);
          onBlob?.({ ...stored, path: blob.path });
        }
      },
    };
  }

  /** Removes a blob (nothing happens when it is not there). */
  deleteBlob(digest: Digest): Promise<void> {
    return this.blobs.delete(digest);
  }

  async putBytes(bytes: Uint8Array): Promise<Digest> {
    const digest = digestOf(bytes);
    await this.putBlob(digest, Readable.from([Buffer.from(bytes)]));
    return digest;
  }

  open(digest: Digest): Promise<Readable> {
    return this.blobs.read(digest);
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.blobs.read(digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async list(): Promise<StoredImage[]> {
    return (await this.readIndex()).images;
  }

  async resolve(reference: string): Promise<StoredImage | undefined> {
    return (await this.readIndex()).images.find((i) => i.reference === reference);
  }

  /** Points `reference` at a manifest already in the store. */
  async tag(reference: string, digest: Digest, mediaType: string): Promise<StoredImage> {
    const index = await this.readIndex();
    const image: StoredImage = { reference, digest, mediaType, created: new Date().toISOString() };
    index.images = [...index.images.filter((i) => i.reference !== reference), image].sort((a, b) => a.reference.localeCompare(b.reference));
    await this.writeIndex(index);
    return image;
  }

  async untag(reference: string): Promise<boolean> {
    const index = await this.readIndex();
    const kept = index.images.filter((i) => i.reference !== reference);
    if (kept.length === index.images.length) return false;
    await this.writeIndex({ images: kept });
    return true;
  }

  /**
   * Deletes blobs no stored reference leads to (through indexes, manifests,
   * configs and layers). Blobs younger than `minAgeMs` are kept, so that a
   * load or pull running at the same time (its blobs not yet tagged) is
   * not robbed. Returns what was deleted.
   */
  async prune(minAgeMs = 10 * 60_000): Promise<{ blobs: number; bytes: number }> {
    const keep = new Set<string>();
    const visit = async (digest: string, mediaType?: string): Promise<void> => {
      if (keep.has(digest)) return;
      keep.add(digest);
      if (!(await this.has(digest as Digest))) return;
      let parsed;
      try {
        parsed = parseManifest(await this.readBytes(digest as Digest), mediaType);
      } catch {
        return; // not a manifest (or damaged): nothing below it
      }
      for (const m of parsed.manifests) await visit(m.digest, m.mediaType);
      for (const b of parsed.blobs) keep.add(b.digest);
    };
    for (const img of await this.list()) await visit(img.digest, img.mediaType);
    let blobs = 0;
    let bytes = 0;
    const now = Date.now();
    const base = join(this.root, 'blobs');
    for (const algorithm of await readdir(base).catch(() => [] as string[])) {
      for (const prefix of await readdir(join(base, algorithm)).catch(() => [] as string[])) {
        for (const hex of await readdir(join(base, algorithm, prefix)).catch(() => [] as string[])) {
          const digest = `${algorithm}:${hex}`;
          if (!isDigest(digest) || keep.has(digest)) continue;
          const info = await stat(join(base, algorithm, prefix, hex)).catch(() => undefined);
          if (!info || now - info.mtimeMs < minAgeMs) continue;
          await this.blobs.delete(digest as Digest);
          blobs++;
          bytes += info.size;
        }
      }
    }
    return { blobs, bytes };
  }

  /**
   * Remembers that a registry's repository holds these blobs (pushed or
   * pulled), so a later push to another repository there can mount them
   * instead of uploading them again. Best effort: a lost record only costs
   * an upload.
   */
  async recordLocation(registry: string, repository: string, digests: Iterable<string>): Promise<void> {
    const all = await this.readLocations();
    const byDigest = (all[registry] ??= {});
    for (const d of digests) {
      const repos = (byDigest[d] ?? []).filter((r) => r !== repository);
      byDigest[d] = [repository, ...repos].slice(0, 5);
    }
    const tmp = `${this.locationsPath}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(all)}\n`, { mode: 0o600 });
    await rename(tmp, this.locationsPath);
  }

  /** Repositories of a registry known to hold some of these blobs, those holding most first. */
  async knownLocations(registry: string, digests: Iterable<string>): Promise<string[]> {
    const byDigest = (await this.readLocations())[registry] ?? {};
    const score = new Map<string, number>();
    for (const d of digests) for (const r of byDigest[d] ?? []) score.set(r, (score.get(r) ?? 0) + 1);
    return [...score.entries()].sort((a, b) => b[1] - a[1]).map(([r]) => r);
  }

  private get locationsPath(): string {
    return join(this.root, 'locations.json');
  }

  private async readLocations(): Promise<Record<string, Record<string, string[]>>> {
    try {
      const parsed = JSON.parse(await readFile(this.locationsPath, 'utf8')) as unknown;
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, Record<string, string[]>>) : {};
    } catch {
      return {};
    }
  }

  private async readIndex(): Promise<IndexFile> {
    try {
      const parsed = JSON.parse(await readFile(this.indexPath, 'utf8')) as IndexFile;
      return { images: Array.isArray(parsed.images) ? parsed.images : [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { images: [] };
      throw new Error(`the local image index ${this.indexPath} is unreadable (${(err as Error).message}); move it away to start afresh`);
    }
  }

  private async writeIndex(index: IndexFile): Promise<void> {
    const tmp = `${this.indexPath}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(index, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.indexPath);
  }
}
