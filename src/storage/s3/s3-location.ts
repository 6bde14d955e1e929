// The `s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true&redirect=true`
// storage URL, parsed once. Credentials never come from it: a URL ends up
// in config files, process listings and logs, so it is refused when it
// carries any; the AWS credential chain (environment, ~/.aws, instance
// roles) supplies them.

export interface S3StorageLocation {
  bucket: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
  /** e.g. http://127.0.0.1:5080 (Ceph RGW, MinIO); AWS S3 when absent. */
  endpoint?: string;
  region: string;
  /** Bucket in the path (https://host/bucket/key) instead of the host name; on by default with an endpoint. */
  pathStyle: boolean;
  /** Blob GETs are answered with a 307 to a presigned URL. */
  redirect: boolean;
}

export class StorageUrlError extends Error {}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const OPTIONS = ['endpoint', 'region', 'path_style', 'redirect'] as const;

export function parseS3StorageUrl(text: string): S3StorageLocation {
  if (!URL.canParse(text)) throw new StorageUrlError(`storage URL is not a URL: expected s3://BUCKET[/PREFIX]?endpoint=URL&region=R`);
  const url = new URL(text);
  if (url.protocol !== 's3:') throw new StorageUrlError(`not an s3:// storage URL`);
  if (url.username || url.password) {
    throw new StorageUrlError('the storage URL must not carry credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials, or an instance role) instead');
  }
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) throw new StorageUrlError(`"${bucket}" is not an S3 bucket name (3-63 of a-z 0-9 . -)`);
  const prefixPath = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (prefixPath.split('/').some((segment) => segment === '.' || segment === '..' || (prefixPath !== '' && segment === ''))) {
    throw new StorageUrlError(`storage prefix "${prefixPath}" must be plain path segments`);
  }
  for (const key of url.searchParams.keys()) {
    if (!(OPTIONS as readonly string[]).includes(key)) {
      const hint = /key|secret|token|password/i.test(key) ? ': credentials come from the AWS environment variables, ~/.aws or an instance role, never from the URL' : '';
      throw new StorageUrlError(`unknown storage URL option "${key}" (known: ${OPTIONS.join(', ')})${hint}`);
    }
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) throw new StorageUrlError(`endpoint "${endpoint}" must be an http:// or https:// URL`);
    if (new URL(endpoint).username || new URL(endpoint).password) throw new StorageUrlError('the endpoint must not carry credentials: use the AWS credential chain');
  }
  return {
    bucket,
    prefix: prefixPath === '' ? '' : `${prefixPath}/`,
    endpoint: endpoint?.replace(/\/+$/, ''),
    region: url.searchParams.get('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    pathStyle: flag(url, 'path_style', endpoint !== undefined),
    redirect: flag(url, 'redirect', false),
  };
}

function flag(url: URL, name: string, fallback: boolean): boolean {
  const value = url.searchParams.get(name);
  if (value === null) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new StorageUrlError(`storage URL option ${name} must be true or false, not "${value}"`);
}
