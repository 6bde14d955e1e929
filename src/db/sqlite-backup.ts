// A consistent copy of the SQLite metadata while servers keep writing:
// SQLite's online backup API copies the pages of one snapshot (WAL and
// all), so the copy is a database as it was at one commit.
import SQLite from 'better-sqlite3';
import { fsyncPath } from '../runtime/fsync-path.js';

export interface SqliteBackupResult {
  bytes: number;
  /** Upload sessions dropped from the copy: their staged bytes are not backed up. */
  droppedUploads: number;
}

export async function backupSqlite(source: string, dest: string): Promise<SqliteBackupResult> {
  const live = new SQLite(source, { fileMustExist: true });
  let bytes: number;
  try {
    live.pragma('busy_timeout = 10000');
    ({ totalPages: bytes } = await live.backup(dest));
    bytes *= live.pragma('page_size', { simple: true }) as number;
  } finally {
    live.close();
  }
  const copy = new SQLite(dest);
  let droppedUploads: number;
  try {
    // A restored registry must not offer to resume uploads whose bytes it does not have.
    droppedUploads = copy.prepare('delete from uploads').run().changes;
    // One self-contained file: no -wal or -shm beside it.
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
  await fsyncPath(dest);
  return { bytes, droppedUploads };
}
