// Presigned GET URLs (AWS Signature Version 4 in the query string), so that
// a blob GET can be redirected to the object store after the registry has
// authorized it. The URL is good for `expiresSeconds` and for GET only; a
// Range header the client sends along is not part of the signature.
// (What @aws-sdk/s3-request-presigner does, written out: it is a few HMACs.)
import { createHash, createHmac } from 'node:crypto';

export interface PresignCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface PresignRequest {
  /** Origin and path of the object, e.g. http://127.0.0.1:5080/bucket/key */
  url: URL;
  region: string;
  credentials: PresignCredentials;
  expiresSeconds: number;
  now: Date;
}

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function objectUrl(endpoint: URL, bucket: string, key: string, pathStyle: boolean): URL {
  const path = key.split('/').map(encode).join('/');
  const base = new URL(endpoint);
  if (pathStyle) return new URL(`${base.origin}/${bucket}/${path}`);
  base.hostname = `${bucket}.${base.hostname}`;
  return new URL(`${base.origin}/${path}`);
}

export function presignGet(req: PresignRequest): string {
  const amzDate = req.now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${req.region}/s3/aws4_request`;
  const query: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${req.credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(req.expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  if (req.credentials.sessionToken) query.push(['X-Amz-Security-Token', req.credentials.sessionToken]);
  const canonicalQuery = query
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .sort()
    .join('&');
  // The path is already encoded once (objectUrl); S3 does not encode it twice.
  const canonicalRequest = ['GET', req.url.pathname, canonicalQuery, `host:${req.url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${req.credentials.secretAccessKey}`).update(date).digest();
  for (const part of [req.region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `${req.url.origin}${req.url.pathname}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
