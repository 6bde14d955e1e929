// Opens the metadata database and brings its schema up to date. The
// embedded default is SQLite in the data directory.
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase } from 'kysely';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { makePrivate, PRIVATE_FILE_MODE, privateDir } from '../runtime/private-files.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

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
  await migrate(db);
  return db;
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
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
