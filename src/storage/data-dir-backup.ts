// `hatoba admin backup`: a consistent copy of an embedded data directory
// (SQLite + files) while the server runs. The copy is itself a data
// directory: start `hatoba serve --data-dir` on it to restore.
//
// Order is what makes it consistent: the database snapshot is taken first,
// and every blob a committed row names was published (renamed into
// blobs/) before that row committed; blobs are never rewritten, so the
// blob tree copied afterwards holds all of them (and perhaps newer ones,
// which are harmless). A later garbage collector must not delete blobs
// during a backup.
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { backupSqlite, type SqliteBackupResult } from '../db/sqlite-backup.js';
import { fsyncPath } from '../runtime/fsync-path.js';
import { linkOrCopyTree, type TreeCopyResult } from './filesystem/blob-tree-copy.js';

export const DATABASE_FILE = 'hatoba.db';
export const MASTER_KEY_FILE = 'master.key';
export const BACKUP_MANIFEST_FILE = 'BACKUP.json';

/** A data directory that cannot be used as asked, with what to do instead. */
export class DataDirError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface BackupReport {
  source: string;
  dest: string;
  createdAt: string;
  seconds: number;
  database: SqliteBackupResult;
  blobs: TreeCopyResult;
  /** Where the master key is: copied with the backup, or only in HATOBA_MASTER_KEY (keep it with the backup). */
  masterKey: 'copied' | 'environment';
}

export type BackupStep = { step: 'database'; bytes: number } | { step: 'blob'; bytes: number; files: number } | { step: 'master-key' };

export async function backupDataDir(dataDir: string, dest: string, options: { masterKeyInEnvironment: boolean; onStep?: (s: BackupStep) => void }): Promise<BackupReport> {
  const started = Date.now();
  const source = resolve(dataDir);
  const target = resolve(dest);
  await requireDataDirectory(source);
  if (await exists(target)) throw new DataDirError(`${target} already exists`, 'back up into a new directory; nothing was written');
  if (target === source || target.startsWith(`${source}/`)) throw new DataDirError(`the backup ${target} cannot be inside the data directory ${source}`);
  // The server uses HATOBA_MASTER_KEY over the file when it is set.
  const hasKeyFile = !options.masterKeyInEnvironment && (await exists(join(source, MASTER_KEY_FILE)));
  if (!hasKeyFile && !options.masterKeyInEnvironment) {
    throw new DataDirError(`${source} has no ${MASTER_KEY_FILE} and HATOBA_MASTER_KEY is not set`, 'without the master key a backup cannot decrypt its keys; set HATOBA_MASTER_KEY as the server has it');
  }

  // Built under a temporary name and renamed whole: a backup that stops
  // half-way is never mistaken for a complete one.
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  await mkdir(dirname(target), { recursive: true });
  await mkdir(partial, { mode: 0o700 });
  try {
    const database = await backupSqlite(join(source, DATABASE_FILE), join(partial, DATABASE_FILE));
    await chmod(join(partial, DATABASE_FILE), 0o600);
    options.onStep?.({ step: 'database', bytes: database.bytes });

    let files = 0;
    let bytes = 0;
    const blobsDir = join(source, 'blobs');
    const blobs = (await exists(blobsDir))
      ? await linkOrCopyTree(blobsDir, join(partial, 'blobs'), (_path, size) => {
          files++;
          bytes += size;
          options.onStep?.({ step: 'blob', bytes, files });
        })
      : { files: 0, bytes: 0, linked: 0, copied: 0 };

    if (hasKeyFile) {
      await copyFile(join(source, MASTER_KEY_FILE), join(partial, MASTER_KEY_FILE));
      await chmod(join(partial, MASTER_KEY_FILE), 0o600);
      await fsyncPath(join(partial, MASTER_KEY_FILE));
      options.onStep?.({ step: 'master-key' });
    }

    const report: BackupReport = {
      source,
      dest: target,
      createdAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      database,
      blobs,
      masterKey: hasKeyFile ? 'copied' : 'environment',
    };
    await writeFile(join(partial, BACKUP_MANIFEST_FILE), `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
    await fsyncPath(join(partial, BACKUP_MANIFEST_FILE));
    await fsyncPath(partial);
    await rename(partial, target);
    await fsyncPath(dirname(target));
    return report;
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/** The path of the data directory's database; a directory without one is refused. */
export async function requireDataDirectory(dir: string): Promise<string> {
  const database = join(dir, DATABASE_FILE);
  if (!(await exists(database))) {
    throw new DataDirError(`${dir} holds no ${DATABASE_FILE}: it is not a Hatoba data directory`, "give the server's data directory with --data-dir (or HATOBA_DATA_DIR)");
  }
  return database;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
