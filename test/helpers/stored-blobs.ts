// What a test server keeps in its blob store, on files or on S3 alike, for
// tests that check that nothing is left behind or stored twice.
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { s3Endpoint } from './s3-endpoint.js';
import type { RunningServer } from './server.js';

async function names(server: RunningServer, fileDir: string[], s3Prefix: string): Promise<string[]> {
  if (!server.storage) return readdir(join(server.dataDir, ...fileDir)).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  const ep = s3Endpoint()!;
  const client = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey } });
  try {
    const prefix = `${server.storage.prefix}${s3Prefix}`;
    const page = await client.send(new ListObjectsV2Command({ Bucket: server.storage.bucket, Prefix: prefix }));
    return [...new Set((page.Contents ?? []).map((o) => o.Key!.slice(prefix.length).split('/')[0]!))];
  } finally {
    client.destroy();
  }
}

/** Ids of the upload sessions that have bytes staged. */
export function stagedUploads(server: RunningServer): Promise<string[]> {
  return names(server, ['uploads'], 'uploads/');
}

/** The stored blobs whose hex digest starts like `digest`'s (its first two hex digits). */
export function blobsNear(server: RunningServer, digest: string): Promise<string[]> {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return names(server, ['blobs', 'sha256', hex.slice(0, 2)], `blobs/sha256/${hex.slice(0, 2)}`).then((found) =>
    server.storage ? found.map((n) => hex.slice(0, 2) + n) : found,
  );
}
