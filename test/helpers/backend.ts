// Which backends the test servers run on: `HATOBA_TEST_BACKEND` unset (or
// `sqlite-file`) is the embedded default, SQLite and files in the data
// directory; `postgres-s3` puts each server's metadata in a fresh
// PostgreSQL database (test/helpers/postgres.ts) and its blobs on a fresh
// prefix of the test bucket (test/helpers/s3-storage.ts).
// `HATOBA_TEST_STORAGE=s3` alone moves only the blobs to S3.
// startServer() asks this module what to add to a server's environment.
import type { Kysely } from 'kysely';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connect.js';
import { parseDatabaseUrl } from '../../src/db/location.js';
import type { Database } from '../../src/db/schema.js';
import { createTestDatabase, PG_HINT, testPgUrl, type TestDatabase } from './postgres.js';
import { S3_HINT, s3Endpoint } from './s3-endpoint.js';
import { freshS3Storage, removeS3Storage, type S3TestStorage } from './s3-storage.js';

export type TestBackend = 'sqlite-file' | 'postgres-s3';

export function testBackend(): TestBackend {
  const value = process.env.HATOBA_TEST_BACKEND ?? 'sqlite-file';
  if (value !== 'sqlite-file' && value !== 'postgres-s3') throw new Error(`HATOBA_TEST_BACKEND must be sqlite-file or postgres-s3, not ${value}`);
  return value;
}

/** Why the chosen backend cannot run here (undefined when it can): the runner skips, or in CI fails. */
export function backendUnavailable(): string | undefined {
  if (testBackend() === 'postgres-s3' && !testPgUrl()) return PG_HINT;
  if (onS3() && !s3Endpoint()) return S3_HINT;
  return undefined;
}

function onS3(): boolean {
  return testBackend() === 'postgres-s3' || process.env.HATOBA_TEST_STORAGE === 's3';
}

/**
 * A server's environment for the embedded backend whatever the switch says:
 * for tests of what only it has (`hatoba admin backup` of a data directory).
 * Empty values count as unset, so the defaults apply.
 */
export const EMBEDDED_BACKEND_ENV: Record<string, string> = {
  HATOBA_DB: '',
  HATOBA_STORAGE: '',
};

export interface ServerBackend {
  /** The server's --db URL (sqlite:DATA_DIR/hatoba.db by default). */
  database: string;
  /** What the server's environment gets (HATOBA_DB, HATOBA_STORAGE and the AWS credentials). */
  env: Record<string, string>;
  /** The S3 prefix its blobs are on; undefined on files. */
  storage?: S3TestStorage;
  /** Removes what was made for the server (its database, its S3 prefix); the data directory is the caller's. */
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
    backend = makeBackend(dataDir);
    // Servers started together on one data directory share one database.
    byDataDir.set(dataDir, backend);
    backend.catch(() => byDataDir.delete(dataDir));
  }
  return backend;
}

async function makeBackend(dataDir: string): Promise<ServerBackend> {
  let database: TestDatabase | undefined;
  if (testBackend() === 'postgres-s3') {
    try {
      database = await createTestDatabase();
    } catch (err) {
      throw new Error(`HATOBA_TEST_BACKEND=postgres-s3: ${(err as Error).message}`);
    }
    leftovers.add(database);
  }
  const storage = onS3() ? await freshS3Storage() : undefined;
  if (storage) leftoverPrefixes.add(storage);
  return {
    database: database?.url ?? `sqlite:${join(dataDir, 'hatoba.db')}`,
    env: { ...(database ? { HATOBA_DB: database.url } : {}), ...(storage ? { HATOBA_STORAGE: storage.url, ...storage.env } : {}) },
    storage,
    async dispose() {
      byDataDir.delete(dataDir);
      if (database) {
        leftovers.delete(database);
        await database.drop();
      }
      if (storage) {
        leftoverPrefixes.delete(storage);
        // The test gateway keeps objects in memory: give them back.
        await removeS3Storage(storage).catch(() => {});
      }
    },
  };
}

/** Databases and prefixes of servers that were stopped but never disposed: removed when the test file is done. */
const leftovers = new Set<TestDatabase>();
const leftoverPrefixes = new Set<S3TestStorage>();
process.once('beforeExit', () => {
  void Promise.allSettled([...[...leftovers].map((d) => d.drop()), ...[...leftoverPrefixes].map((p) => removeS3Storage(p))]);
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
