// Which backends the test servers run on: `HATOBA_TEST_BACKEND` unset (or
// `sqlite-file`) is the embedded default, SQLite and files in the data
// directory; `postgres-s3` puts each server's metadata in a fresh
// PostgreSQL database (test/helpers/postgres.ts) and its blobs in S3.
// startServer() asks this module what to add to a server's environment.
import type { Kysely } from 'kysely';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connect.js';
import { parseDatabaseUrl } from '../../src/db/location.js';
import type { Database } from '../../src/db/schema.js';
import { createTestDatabase, PG_HINT, testPgUrl, type TestDatabase } from './postgres.js';

export type TestBackend = 'sqlite-file' | 'postgres-s3';

export function testBackend(): TestBackend {
  const value = process.env.HATOBA_TEST_BACKEND ?? 'sqlite-file';
  if (value !== 'sqlite-file' && value !== 'postgres-s3') throw new Error(`HATOBA_TEST_BACKEND must be sqlite-file or postgres-s3, not ${value}`);
  return value;
}

/** Why the chosen backend cannot run here (undefined when it can): the runner skips, or in CI fails. */
export function backendUnavailable(): string | undefined {
  if (testBackend() === 'postgres-s3' && !testPgUrl()) return PG_HINT;
  // S3 HALF: the coordinator adds the S3 endpoint's check here (test/helpers/s3-storage.ts).
  return undefined;
}

/**
 * A server's environment for the embedded backend whatever the switch says:
 * for tests of what only it has (`hatoba admin backup` of a data directory).
 * Empty values count as unset, so the defaults apply.
 */
export const EMBEDDED_BACKEND_ENV: Record<string, string> = {
  HATOBA_DB: '',
  // S3 HALF: the coordinator adds HATOBA_STORAGE: '' here.
};

export interface ServerBackend {
  /** The server's --db URL (sqlite:DATA_DIR/hatoba.db by default). */
  database: string;
  /** What the server's environment gets (HATOBA_DB, HATOBA_STORAGE). */
  env: Record<string, string>;
  /** Removes what was made for the server (its database); the data directory is the caller's. */
  dispose(): Promise<void>;
}

/**
 * Backends by data directory: a server restarted on the same data
 * directory finds the same database again, as it would find hatoba.db.
 */
const byDataDir = new Map<string, Promise<ServerBackend>>();

export function serverBackend(dataDir: string): Promise<ServerBackend> {
  let backend = byDataDir.get(dataDir);
  if (backend === undefined) {
    // S3 HALF: with postgres-s3 the coordinator adds HATOBA_STORAGE=s3://... (test/helpers/s3-storage.ts) here.
    backend = testBackend() === 'postgres-s3' ? postgresBackend(dataDir) : Promise.resolve({ database: `sqlite:${join(dataDir, 'hatoba.db')}`, env: {}, dispose: async () => {} });
    // Servers started together on one data directory share one database.
    byDataDir.set(dataDir, backend);
    backend.catch(() => byDataDir.delete(dataDir));
  }
  return backend;
}

async function postgresBackend(dataDir: string): Promise<ServerBackend> {
  let database: TestDatabase;
  try {
    database = await createTestDatabase();
  } catch (err) {
    throw new Error(`HATOBA_TEST_BACKEND=postgres-s3: ${(err as Error).message}`);
  }
  leftovers.add(database);
  return {
    database: database.url,
    env: { HATOBA_DB: database.url },
    async dispose() {
      byDataDir.delete(dataDir);
      leftovers.delete(database);
      await database.drop();
    },
  };
}

/** Databases of servers that were stopped but never disposed: dropped when the test file is done. */
const leftovers = new Set<TestDatabase>();
process.once('beforeExit', () => {
  void Promise.allSettled([...leftovers].map((d) => d.drop()));
});

/**
 * The database a test server uses, opened beside it: for tests that look
 * at or change rows directly, on whichever backend runs. Close it with
 * destroy().
 */
export async function openServerDatabase(server: { dataDir: string }): Promise<Kysely<Database>> {
  const backend = await serverBackend(server.dataDir);
  return openDatabase(parseDatabaseUrl(backend.database, server.dataDir, 2));
}
