// The PostgreSQL cluster the tests use: a throwaway one started by
// scripts/postgres/pg-up.sh (CI does it). Its URL comes from
// HATOBA_TEST_PG_URL, or from the pg.env file the script writes. Each test
// server (and each test of the metadata layer) gets a database of its own,
// created here and dropped when it is done.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';

const ENV_FILE = `${process.env.PG_DIR ?? '/tmp/hatoba-pg'}/pg.env`;

export const PG_HINT = 'no PostgreSQL for the tests: start one with `INSTALL=1 bash scripts/postgres/pg-up.sh` (Debian postgresql, on 127.0.0.1:5432)';

/** A URL of the test cluster whose user may create databases; undefined when there is none. */
export function testPgUrl(): string | undefined {
  if (process.env.HATOBA_TEST_PG_URL) return process.env.HATOBA_TEST_PG_URL;
  try {
    return /^export HATOBA_TEST_PG_URL=(.+)$/m.exec(readFileSync(ENV_FILE, 'utf8'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** node:test options: skip without PostgreSQL outside CI; in CI, run (and fail). */
export function pgTestOptions(): { skip?: string } {
  if (testPgUrl() || process.env.CI === 'true') return {};
  return { skip: PG_HINT };
}

export interface TestDatabase {
  /** postgres://... of the new, empty database */
  url: string;
  name: string;
  /** Drops the database, closing whatever connections are still open on it. */
  drop(): Promise<void>;
}

/** A new, empty database on the test cluster, named so that parallel test files never collide. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = testPgUrl();
  if (!base) throw new Error(PG_HINT);
  const name = `hatoba_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onCluster(base, `create database ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await onCluster(base, `drop database if exists ${name} with (force)`);
    },
  };
}

async function onCluster(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
