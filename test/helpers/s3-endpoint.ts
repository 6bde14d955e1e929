// The S3 endpoint the tests use: a real Ceph RADOS Gateway started by
// scripts/s3/ceph-up.sh (CI does it). Its settings come from the
// environment, or from the s3.env file the script writes.
import { readFileSync } from 'node:fs';

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const ENV_FILE = `${process.env.CEPH_DIR ?? '/tmp/hatoba-ceph'}/s3.env`;

export function s3Endpoint(): S3Endpoint | undefined {
  const vars: Record<string, string | undefined> = { ...process.env };
  if (!vars.S3_ENDPOINT) {
    try {
      for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
        const m = /^export (\w+)=(.*)$/.exec(line.trim());
        if (m) vars[m[1]!] = m[2]!;
      }
    } catch {
      return undefined;
    }
  }
  if (!vars.S3_ENDPOINT || !vars.AWS_ACCESS_KEY_ID || !vars.AWS_SECRET_ACCESS_KEY) return undefined;
  return { endpoint: vars.S3_ENDPOINT, accessKeyId: vars.AWS_ACCESS_KEY_ID, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY, region: vars.AWS_REGION ?? 'us-east-1' };
}

export const S3_HINT = 'no S3 endpoint: start one with `INSTALL=1 bash scripts/s3/ceph-up.sh` (Ceph RGW from Debian packages, see docs/testing.md)';

/** node:test options: skip without an endpoint outside CI; in CI, fail. */
export function s3TestOptions(): { skip?: string } {
  if (s3Endpoint() || process.env.CI === 'true') return {};
  return { skip: S3_HINT };
}
