// Blob storage on the test S3 endpoint (test/helpers/s3-endpoint.ts): one
// bucket for the whole run, created on first use, and a fresh prefix for
// every caller, so tests and test files never see each other's objects.
// Used by the S3 driver tests and by the registry suite on
// HATOBA_TEST_BACKEND=postgres-s3.
import { AbortMultipartUploadCommand, CreateBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { S3_HINT, s3Endpoint } from './s3-endpoint.js';

export const TEST_BUCKET = process.env.HATOBA_TEST_S3_BUCKET ?? 'hatoba-tests';

export interface S3TestStorage {
  /** e.g. s3://hatoba-tests/t-1a2b3c4d5e6f?endpoint=http://127.0.0.1:5080&region=us-east-1 */
  url: string;
  bucket: string;
  /** The key prefix, ending in '/'. */
  prefix: string;
  /** What `hatoba serve` needs besides --storage: the AWS credential chain's variables. */
  env: Record<string, string>;
}

const ensured = new Map<string, Promise<void>>();

function adminClient(): S3Client {
  const ep = s3Endpoint();
  if (!ep) throw new Error(S3_HINT);
  return new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey } });
}

async function ensureBucket(bucket: string): Promise<void> {
  const client = adminClient();
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as Error).name)) throw err;
  } finally {
    client.destroy();
  }
}

/** A storage URL on a fresh prefix of the test bucket (created if needed), plus the env a server needs. */
export async function freshS3Storage(options: { redirect?: boolean; bucket?: string } = {}): Promise<S3TestStorage> {
  const ep = s3Endpoint();
  if (!ep) throw new Error(S3_HINT);
  const bucket = options.bucket ?? TEST_BUCKET;
  if (!ensured.has(bucket)) ensured.set(bucket, ensureBucket(bucket));
  await ensured.get(bucket);
  const prefix = `t-${randomBytes(6).toString('hex')}/`;
  const query = new URLSearchParams({ endpoint: ep.endpoint, region: ep.region, path_style: 'true', ...(options.redirect ? { redirect: 'true' } : {}) });
  return {
    url: `s3://${bucket}/${prefix.slice(0, -1)}?${query}`,
    bucket,
    prefix,
    env: { AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey, AWS_REGION: ep.region },
  };
}

/**
 * Deletes everything under the storage's prefix, multipart uploads too:
 * the test gateway keeps objects in memory (8 GiB), and the whole registry
 * suite on S3 would fill it.
 */
export async function removeS3Storage(storage: S3TestStorage): Promise<void> {
  const client = adminClient();
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: storage.prefix, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: storage.bucket, Delete: { Objects: keys, Quiet: true } }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const open = await client.send(new ListMultipartUploadsCommand({ Bucket: storage.bucket, Prefix: storage.prefix }));
    for (const u of open.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: storage.bucket, Key: u.Key!, UploadId: u.UploadId! }));
  } finally {
    client.destroy();
  }
}
