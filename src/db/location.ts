// Where the metadata lives, from `--db URL` / HATOBA_DB / `db:`:
// `sqlite:PATH` (the embedded default, DATA_DIR/hatoba.db) or
// `postgres://user:pass@host:port/db` (also `postgresql://`). What the URL
// leaves out, libpq's variables fill in (PGHOST, PGPORT, PGUSER,
// PGPASSWORD, PGDATABASE, PGSSLMODE...): `pg` reads them itself.
import { isAbsolute, join, resolve } from 'node:path';

export type DatabaseLocation = { engine: 'sqlite'; path: string } | { engine: 'postgres'; url: string; poolSize: number };

export const DEFAULT_POOL_SIZE = 10;

export class DatabaseUrlError extends Error {}

/** The database URL, checked; a relative sqlite path is taken from the working directory. */
export function parseDatabaseUrl(value: string | undefined, dataDir: string, poolSize = DEFAULT_POOL_SIZE): DatabaseLocation {
  if (value === undefined || value === '') return { engine: 'sqlite', path: join(dataDir, 'hatoba.db') };
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new DatabaseUrlError('db: sqlite: needs a file path, e.g. sqlite:/var/lib/hatoba/hatoba.db');
    return { engine: 'sqlite', path: path === ':memory:' || isAbsolute(path) ? path : resolve(path) };
  }
  if (value.startsWith('postgres://') || value.startsWith('postgresql://')) {
    if (!URL.canParse(value)) throw new DatabaseUrlError(`db: ${redactDatabaseUrl(value)} is not a valid URL`);
    return { engine: 'postgres', url: value, poolSize };
  }
  throw new DatabaseUrlError(`db must be sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE, not ${redactDatabaseUrl(value)}`);
}

/** The URL with its password (and any password= parameter) replaced: for logs and messages. */
export function redactDatabaseUrl(value: string): string {
  if (!URL.canParse(value)) return value.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@').replace(/(password=)[^&]*/gi, '$1***');
  const url = new URL(value);
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()]) if (key.toLowerCase() === 'password') url.searchParams.set(key, '***');
  return url.toString();
}

/** What to call the database in messages: a path, or the URL without its password. */
export function describeDatabase(location: DatabaseLocation): string {
  return location.engine === 'sqlite' ? location.path : redactDatabaseUrl(location.url);
}
