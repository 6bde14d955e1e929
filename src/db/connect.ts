// Opens the metadata database and brings its schema up to date: SQLite in
// the data directory (the embedded default) or PostgreSQL through a pool,
// behind the same Kysely query layer.
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config/config.js';
import { makePrivate, PRIVATE_FILE_MODE, privateDir } from '../runtime/private-files.js';
import { describeDatabase, type DatabaseLocation } from './location.js';
import { latestMigration, migrationNames, migrationProvider, type Engine } from './migrations.js';
import type { Database } from './schema.js';

export type { Engine } from './migrations.js';

export async function openDatabase(location: DatabaseLocation): Promise<Kysely<Database>> {
  return location.engine === 'sqlite' ? openSqlite(location.path) : openPostgres(location.url, location.poolSize);
}

export async function openSqlite(path: string): Promise<Kysely<Database>> {
  if (path !== ':memory:') {
    privateDir(dirname(path));
    // SQLite gives the -wal and -shm files the database file's mode, so a
    // private database file (created here, before SQLite would) is enough.
    closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) makePrivate(file);
  }
  const sqlite = new SQLite(path);
  // WAL lets readers run beside the writer (and --workers share the file);
  // synchronous=FULL makes a commit durable before we answer the client.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 10000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  await migrate(db, describeDatabase({ engine: 'sqlite', path }));
  return db;
}

export async function openPostgres(url: string, poolSize: number): Promise<Kysely<Database>> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: PG_TYPES, application_name: 'hatoba' });
  // An idle connection that breaks (the server restarted) is dropped by the
  // pool, which then emits this; the next query gets a new connection.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const where = describeDatabase({ engine: 'postgres', url, poolSize });
  try {
    // Unreachable, wrong password, no such database: said plainly (the URL without its password), not as a stack.
    await sql`select 1`.execute(db).catch((err: Error) => {
      throw new ConfigError(`cannot connect to the database ${where}: ${err.message}`);
    });
    await migrate(db, where);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}

/** Which engine a Kysely instance talks to, for the few statements that are spelled differently. */
export function engineOf(db: Kysely<Database>): Engine {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * pg hands int8 (bigint: sizes, times, count(*)) over as strings; the
 * schema's numbers are JavaScript numbers, exact up to 2^53 (8 PiB, or a
 * Unix time in milliseconds until the year 287396). bytea comes back as a
 * Buffer, which is a Uint8Array.
 */
const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return parseSafeInteger;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function parseSafeInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`database integer ${text} is beyond 2^53`);
  return n;
}

/**
 * Brings the schema up to date, once however many processes start
 * together. On PostgreSQL Kysely's migrator holds a session advisory lock
 * while it migrates, so of several nodes one migrates and the others wait,
 * then find nothing to do. On SQLite it relies on its transaction, which
 * begins deferred: two processes could both read "nothing applied" and
 * both create the tables, so the whole run is one `begin immediate`
 * transaction instead, which waits (busy_timeout) for the other writer.
 * A database that has seen a newer Hatoba is refused before anything is
 * written: this one would not know what its tables mean.
 */
export async function migrate(db: Kysely<Database>, where: string): Promise<void> {
  await refuseNewerSchema(db, where);
  const engine = engineOf(db);
  const migrator = new Migrator({ db, provider: migrationProvider(engine), disableTransactions: engine === 'sqlite' });
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  if (engine === 'sqlite') {
    await sql`begin immediate`.execute(db);
    outcome = await migrator.migrateToLatest();
    await sql.raw(outcome.error ? 'rollback' : 'commit').execute(db);
  } else {
    outcome = await migrator.migrateToLatest();
  }
  const { error, results } = outcome;
  if (error) {
    // A newer node may have migrated between the check above and the lock.
    await refuseNewerSchema(db, where);
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}

async function refuseNewerSchema(db: Kysely<Database>, where: string): Promise<void> {
  let applied: string[];
  try {
    applied = (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((r) => r.name);
  } catch {
    return; // a new database: no migration table yet
  }
  const known = new Set(migrationNames);
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  throw new ConfigError(
    `the database ${where} has schema version ${unknown.at(-1)}, newer than this hatoba knows (its newest is ${latestMigration}): ` +
      'upgrade hatoba to the version that migrated it (every node on one database must run it), or point --db at another database',
  );
}

/** Distinct SQL texts kept prepared; queries are a fixed set, bar `in (...)` lists of varying length. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * Kysely prepares every query anew; better-sqlite3 statements can be run
 * again and again. Keeping them cuts a primary-key lookup from ~14 µs to
 * ~2 µs, and every request does a few. (Safe because nothing here iterates
 * a statement lazily: Kysely's stream() would, and is not used.)
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      sqlite.close();
    },
  };
}
