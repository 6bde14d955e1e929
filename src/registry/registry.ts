// The OCI-level registry: what the HTTP layer talks to. It owns no HTTP
// concepts; it is built from a metadata store and a blob store.
import type { Metadata } from '../db/metadata.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Blobs } from './blobs.js';
import { DEFAULT_MANIFEST_MAX_BYTES, Manifests } from './manifests.js';
import { Uploads } from './uploads.js';

export interface RegistryOptions {
  manifestMaxBytes?: number;
  /** Open upload sessions one principal may hold. */
  maxUploadSessionsPerOwner?: number;
  /** Told how long each completed upload took, from its start to its verified commit (for the metrics). */
  onUploadComplete?: (seconds: number) => void;
}

export class Registry {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;

  constructor(
    readonly meta: Metadata,
    readonly store: BlobStore,
    options: RegistryOptions = {},
  ) {
    this.blobs = new Blobs(meta, store);
    this.uploads = new Uploads(meta, store, options.maxUploadSessionsPerOwner, options.onUploadComplete);
    this.manifests = new Manifests(meta, options.manifestMaxBytes ?? DEFAULT_MANIFEST_MAX_BYTES);
  }

  /** One page of repository names in lexical order, of those `visible` admits. */
  async catalog(limit: number, last: string | undefined, visible: (name: string) => Promise<boolean>): Promise<{ repositories: string[]; more: boolean }> {
    const page: string[] = [];
    let after = last;
    const batch = Math.max(limit + 1, 100);
    for (;;) {
      const rows = await this.meta.listRepositories(batch, after);
      for (const name of rows) {
        if (!(await visible(name))) continue;
        if (page.length === limit) return { repositories: page, more: true };
        page.push(name);
      }
      if (rows.length < batch) return { repositories: page, more: false };
      after = rows.at(-1);
    }
  }

  async close(): Promise<void> {
    await this.meta.close();
    await this.store.close?.();
  }
}
