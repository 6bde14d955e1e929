// Where the two registries keep their data: on the embedded default
// (`file`: hatoba's SQLite + files, distribution's filesystem driver) or on
// `postgres-s3` (hatoba on PostgreSQL + the S3 store, distribution on its
// own S3 driver), both against the same Ceph RGW bucket endpoint, each in a
// fresh bucket. The endpoint and the database server come from the scripts
// the tests use: scripts/s3/ceph-up.sh and scripts/postgres/pg-up.sh.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { s3Endpoint, S3_HINT } from '../test/helpers/s3-endpoint.js';
import { readFileSync } from 'node:fs';

export type BackendName = 'file' | 'postgres-s3';
export const BACKENDS: BackendName[] = ['file', 'postgres-s3'];

export interface Backend {
  name: BackendName;
  /** Extra `hatoba serve` arguments and environment. */
  hatobaArgs: string[];
  hatobaEnv: Record<string, string>;
  /** The `storage:` section of distribution's config.yml, for its data directory. */
  distributionStorage(dataDir: string): string[];
  distributionEnv: Record<string, string>;
  /** What it runs on, for the report. */
  describe: string;
}

const PG_HINT = 'no PostgreSQL: start one with `bash scripts/postgres/pg-up.sh` (or set HATOBA_TEST_PG_URL)';

/** The test cluster's superuser URL: HATOBA_TEST_PG_URL, or the env file pg-up.sh writes. */
function postgresUrl(): string | undefined {
  if (process.env.HATOBA_TEST_PG_URL) return process.env.HATOBA_TEST_PG_URL;
  try {
    const m = /HATOBA_TEST_PG_URL=['"]?([^'"\n]+)/.exec(readFileSync(`${process.env.PG_DIR ?? '/tmp/hatoba-pg'}/pg.env`, 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

export async function prepareBackend(name: BackendName): Promise<Backend> {
  const fileStorage = (dataDir: string) => ['  filesystem:', `    rootdirectory: ${dataDir}`];
  if (name === 'file') return { name, hatobaArgs: [], hatobaEnv: {}, distributionStorage: fileStorage, distributionEnv: {}, describe: 'hatoba: SQLite + files; distribution: filesystem driver' };

  const s3 = s3Endpoint();
  if (!s3) throw new Error(S3_HINT);
  const admin = postgresUrl();
  if (!admin) throw new Error(PG_HINT);
  const id = randomBytes(4).toString('hex');
  const database = `hatoba_bench_${id}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`create database ${database}`);
  } finally {
    await client.end();
  }
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${database}`;
  const s3Client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  const buckets = { hatoba: `hatoba-bench-${id}`, distribution: `distribution-bench-${id}` };
  for (const bucket of Object.values(buckets)) await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
  s3Client.destroy();
  const awsEnv = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  const storage = `s3://${buckets.hatoba}?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&path_style=true`;
  return {
    name,
    hatobaArgs: ['--db', dbUrl.toString(), '--storage', storage],
    hatobaEnv: awsEnv,
    // distribution 2.8's S3 driver: path-style addressing follows from regionendpoint.
    distributionStorage: () => [
      '  s3:',
      `    region: ${s3.region}`,
      `    regionendpoint: ${s3.endpoint}`,
      `    bucket: ${buckets.distribution}`,
      `    accesskey: ${s3.accessKeyId}`,
      `    secretkey: ${s3.secretAccessKey}`,
      `    secure: ${s3.endpoint.startsWith('https:')}`,
      '    v4auth: true',
      // Its default answers blob GETs with a 307 to a presigned URL;
      // hatoba's default (redirect=false) streams them itself: compare that.
      '  redirect:',
      '    disable: true',
    ],
    // aws-sdk-go loads AWS_CA_BUNDLE (set machine-wide on some hosts) into
    // the HTTP transport and panics on the driver's own transport
    // ("unsupported transport, *transport.transport"); an empty value is unset to it.
    distributionEnv: { AWS_CA_BUNDLE: '' },
    describe: `hatoba: PostgreSQL (${dbUrl.host}) + S3; distribution: its S3 driver; both on ${s3.endpoint}`,
  };
}
