// Reading image tarballs straight out of an S3-compatible bucket (AWS S3,
// Ceph RGW, MinIO, StorageGRID), streamed, never written to local disk.
// Settings come from flags, the environment (AWS_*), the AWS shared config
// and credentials files, or an s3cmd ~/.s3cfg, in that order.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { parse as parseIni } from 'ini';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export interface S3Location {
  bucket: string;
  /** Key, or prefix for listings ('' for the whole bucket). */
  key: string;
}

export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Where the credentials came from, for error messages. */
  source: string;
}

export interface S3Flags {
  endpoint?: string;
  region?: string;
  accessKey?: string;
  secretKey?: string;
  profile?: string;
}

export class S3Error extends Error {}

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1]!)) {
    throw new S3Error(`"${url}" is not an S3 URL: expected s3://BUCKET/KEY (bucket names are 3-63 of a-z 0-9 . -)`);
  }
  return { bucket: m[1]!, key: m[2]! };
}

interface Files {
  awsCredentials?: string;
  awsConfig?: string;
  s3cfg?: string;
}

/** Resolves endpoint, region and credentials; `files` are file contents (read by defaultFiles()). */
export function resolveS3Settings(flags: S3Flags, env: NodeJS.ProcessEnv, files: Files): S3Settings {
  const profile = flags.profile ?? env.AWS_PROFILE ?? 'default';
  const credentials = files.awsCredentials ? parseIni(files.awsCredentials)[profile] : undefined;
  const configIni = files.awsConfig ? parseIni(files.awsConfig) : {};
  const config = configIni[profile === 'default' ? 'default' : `profile ${profile}`] ?? configIni[profile];
  const s3cfg = files.s3cfg ? parseIni(files.s3cfg).default : undefined;
  const s3cfgEndpoint = s3cfg?.host_base ? `${s3cfg.use_https === 'False' ? 'http' : 'https'}://${s3cfg.host_base}` : undefined;

  const endpoint = flags.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? env.S3_ENDPOINT ?? config?.endpoint_url ?? s3cfgEndpoint;
  const region = flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config?.region ?? s3cfg?.bucket_location ?? 'us-east-1';
  const candidates: [string, string | undefined, string | undefined, string | undefined][] = [
    ['the --access-key/--secret-key flags', flags.accessKey, flags.secretKey, undefined],
    ['AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY', env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN],
    [`~/.aws/credentials [${profile}]`, credentials?.aws_access_key_id, credentials?.aws_secret_access_key, credentials?.aws_session_token],
    ['~/.s3cfg', s3cfg?.access_key, s3cfg?.secret_key, s3cfg?.access_token || undefined],
  ];
  const found = candidates.find(([, id, secret]) => id && secret);
  return {
    endpoint: endpoint ? endpoint.replace(/\/+$/, '') : undefined,
    region: String(region === 'US' ? 'us-east-1' : region),
    accessKeyId: found?.[1],
    secretAccessKey: found?.[2],
    sessionToken: found?.[3],
    source: found?.[0] ?? 'no credentials (anonymous)',
  };
}

/** The files resolveS3Settings reads, from their usual places. */
export function defaultFiles(env: NodeJS.ProcessEnv = process.env): Files {
  const home = homedir();
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    awsCredentials: read(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials')),
    awsConfig: read(env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')),
    s3cfg: read(env.S3CMD_CONFIG ?? join(home, '.s3cfg')),
  };
}

export class S3Source {
  private readonly client: S3Client;

  constructor(readonly settings: S3Settings) {
    this.client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      // Path-style works with every S3-compatible store; virtual hosts need DNS.
      forcePathStyle: true,
      credentials: settings.accessKeyId && settings.secretAccessKey ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, sessionToken: settings.sessionToken } : undefined,
      // Ceph RGW and others reject the SDK's default streaming checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async *list(location: S3Location): AsyncGenerator<{ key: string; size: number; modified?: Date }> {
    let token: string | undefined;
    do {
      const page = await this.call(`list s3://${location.bucket}/${location.key}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.key || undefined, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) yield { key: o.Key!, size: Number(o.Size ?? 0), modified: o.LastModified };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async size(location: S3Location): Promise<number> {
    const head = await this.call(`stat s3://${location.bucket}/${location.key}`, () => this.client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key })));
    return Number(head.ContentLength ?? 0);
  }

  /** Streams the object; the caller must consume or destroy the stream. */
  async open(location: S3Location): Promise<{ body: Readable; size: number }> {
    const res = await this.call(`get s3://${location.bucket}/${location.key}`, () => this.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key })));
    return { body: res.Body as Readable, size: Number(res.ContentLength ?? 0) };
  }

  destroy(): void {
    this.client.destroy();
  }

  /** Runs an S3 call, turning its failures into messages that say what to do. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new S3Error(`cannot ${what}: ${explain(err, this.settings)}`, { cause: err });
    }
  }
}

function explain(err: unknown, s: S3Settings): string {
  const where = s.endpoint ?? `AWS S3 (${s.region})`;
  if (err instanceof S3ServiceException) {
    switch (err.name) {
      case 'SignatureDoesNotMatch':
        return `${where} refused the request signature: the secret key for access key ${s.accessKeyId} is wrong (taken from ${s.source})`;
      case 'InvalidAccessKeyId':
        return `${where} does not know access key ${s.accessKeyId} (taken from ${s.source})`;
      case 'AccessDenied':
        return `${where} denied access for ${s.accessKeyId ?? 'anonymous requests'}; check the bucket policy or use other credentials (now from ${s.source})`;
      case 'NoSuchBucket':
        return 'no such bucket; list the buckets you can see with: hatoba s3 ls s3://BUCKET';
      case 'NoSuchKey':
      case 'NotFound':
        return 'no such object; list the bucket with: hatoba s3 ls s3://BUCKET/PREFIX';
    }
    return `${where} answered ${err.$metadata?.httpStatusCode ?? ''} ${err.name}: ${err.message}`;
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') return `cannot reach ${where} (${code}); check --endpoint / AWS_ENDPOINT_URL`;
  return (err as Error)?.message ?? String(err);
}
