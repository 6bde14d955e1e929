// What a test server keeps in its blob store, on files or on S3 alike, for
// tests that check that nothing is left behind or stored twice.
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readdir, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { s3Endpoint } from './s3-endpoint.js';
import type { RunningServer } from './server.js';

async function withS3<T>(work: (client: S3Client) => Promise<T>): Promise<T> {
  const ep = s3Endpoint()!;
  const client = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey } });
  try {
    return await work(client);
  } finally {
    client.destroy();
  }
}

async function names(server: RunningServer, fileDir: string[], s3Prefix: string): Promise<string[]> {
  const storage = server.storage;
  if (!storage) return readdir(join(server.dataDir, ...fileDir)).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  return withS3(async (client) => {
    const prefix = `${storage.prefix}${s3Prefix}`;
    const page = await client.send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: prefix }));
    return [...new Set((page.Contents ?? []).map((o) => o.Key!.slice(prefix.length).split('/')[0]!))];
  });
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Where a blob's file is (file storage). */
export function blobFile(server: RunningServer, digest: string): string {
  const hex = hexOf(digest);
  return join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Removes a blob's bytes behind the registry's back (a lost file, a deleted object). */
export async function removeStoredBlob(server: RunningServer, digest: string): Promise<void> {
  const storage = server.storage;
  if (!storage) return unlink(blobFile(server, digest));
  await withS3((client) => client.send(new DeleteObjectCommand({ Bucket: storage.bucket, Key: `${storage.prefix}blobs/sha256/${hexOf(digest)}` })));
}

/** Cuts a stored blob to its first `length` bytes behind the registry's back. */
export async function truncateStoredBlob(server: RunningServer, digest: string, length: number): Promise<void> {
  const storage = server.storage;
  if (!storage) return truncate(blobFile(server, digest), length);
  const Key = `${storage.prefix}blobs/sha256/${hexOf(digest)}`;
  await withS3(async (client) => {
    const res = await client.send(new GetObjectCommand({ Bucket: storage.bucket, Key, Range: `bytes=0-${length - 1}` }));
    const head = Buffer.from(await res.Body!.transformToByteArray());
    await client.send(new PutObjectCommand({ Bucket: storage.bucket, Key, Body: head }));
  });
}

/** Ids of the upload sessions that have bytes staged. */
export function stagedUploads(server: RunningServer): Promise<string[]> {
  return names(server, ['uploads'], 'uploads/');
}

/** The stored blobs whose hex digest starts like `digest`'s (its first two hex digits). */
export function blobsNear(server: RunningServer, digest: string): Promise<string[]> {
  const hex = hexOf(digest);
  return names(server, ['blobs', 'sha256', hex.slice(0, 2)], `blobs/sha256/${hex.slice(0, 2)}`).then((found) =>
    server.storage ? found.map((n) => hex.slice(0, 2) + n) : found,
  );
}
