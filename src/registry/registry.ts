// The OCI-level registry: what the HTTP layer talks to. It owns no HTTP
// concepts; it is built from a metadata store and a blob store.
import type { Metadata } from '../db/metadata.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Blobs } from './blobs.js';
import { DEFAULT_MANIFEST_MAX_BYTES, Manifests } from './manifests.js';
import { Uploads } from './uploads.js';

export interface RegistryOptions {
  manifestMaxBytes?: number;
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
    this.uploads = new Uploads(meta, store);
    this.manifests = new Manifests(meta, options.manifestMaxBytes ?? DEFAULT_MANIFEST_MAX_BYTES);
  }

  /** One page of repository names in lexical order. */
  async catalog(limit: number, last?: string): Promise<{ repositories: string[]; more: boolean }> {
    const rows = await this.meta.listRepositories(limit + 1, last);
    const more = rows.length > limit;
    return { repositories: more ? rows.slice(0, limit) : rows, more };
  }

  async close(): Promise<void> {
    await this.meta.close();
  }
}
