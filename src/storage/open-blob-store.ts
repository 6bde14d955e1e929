// The `storage` setting (`--storage`, HATOBA_STORAGE) turned into a blob
// store: `file:PATH` (the default, `file:DATA_DIR/blobs`) or
// `s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true&redirect=true`.
import { dirname, resolve } from 'node:path';
import type { BlobStore } from './blob-store.js';
import { FilesystemBlobStore } from './filesystem/filesystem-blob-store.js';
import { S3BlobStore } from './s3/s3-blob-store.js';
import { StorageUrlError, parseS3StorageUrl } from './s3/s3-location.js';

export { StorageUrlError };

export function defaultStorageUrl(dataDir: string): string {
  return `file:${resolve(dataDir, 'blobs')}`;
}

export async function openBlobStore(url: string | undefined, dataDir: string): Promise<BlobStore> {
  const spec = url ?? defaultStorageUrl(dataDir);
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length).replace(/^\/\/(?=\/)/, ''); // file:///srv/blobs too
    if (path === '') throw new StorageUrlError('file: storage needs a path, e.g. file:/srv/hatoba/blobs');
    const blobsDir = resolve(path);
    // Staged uploads sit beside the blobs, on the same file system, so that
    // publishing one is a rename: DATA_DIR/blobs and DATA_DIR/uploads.
    const store = blobsDir === resolve(dataDir, 'blobs') ? new FilesystemBlobStore(resolve(dataDir)) : new FilesystemBlobStore(dirname(blobsDir), { blobsDir });
    await store.init();
    return store;
  }
  if (spec.startsWith('s3:')) return new S3BlobStore(parseS3StorageUrl(spec));
  throw new StorageUrlError(`storage must be file:PATH or s3://BUCKET[/PREFIX]?endpoint=URL, not "${spec.replace(/\/\/[^@/]*@/, '//***@').slice(0, 80)}"`);
}
