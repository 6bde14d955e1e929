// Where Hatoba keeps its client files, and how it writes private files:
// atomically (temp file in the same directory, fsync, rename), mode 0600,
// in a directory created 0700, serialised between processes by a lock file.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** $HATOBA_CONFIG_DIR, else $XDG_CONFIG_HOME/hatoba, else ~/.config/hatoba. */
export function hatobaConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HATOBA_CONFIG_DIR) return env.HATOBA_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'hatoba');
}

/** The credential store file: <config dir>/credentials.json. */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(hatobaConfigDir(env), 'credentials.json');
}

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json (as the docker CLI). */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  return join(dir, 'config.json');
}

/**
 * Replaces `file` with `text` atomically, mode 0600. The directory is made
 * (0700) if missing. If `file` is a symbolic link the file it points to is
 * replaced and the link kept (dotfile setups link ~/.docker/config.json).
 */
export async function writePrivateFileAtomic(file: string, text: string): Promise<void> {
  let target = file;
  try {
    target = await realpath(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.chmod(0o600); // exactly 0600, whatever the umask
    await handle.sync();
    await handle.close();
    await rename(temp, target);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  // Make the rename itself durable.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some file systems cannot fsync a directory; the data is already synced.
  }
}

/** Makes a directory 0700 if it does not exist yet (an existing one is left as it is). */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
    await chmod(dir, 0o700); // mkdir's mode is filtered by the umask
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      await mkdir(dirname(dir), { recursive: true });
      return ensurePrivateDir(dir);
    }
    throw err;
  }
}

export class LockTimeoutError extends Error {}

const LOCK_STALE_MS = 30_000;

/**
 * Runs `body` while holding `<file>.lock` (created exclusively), so that
 * two processes changing the same file (docker may run several helpers at
 * once) do not lose each other's change. A lock older than 30 s is taken
 * to be left over by a crashed process and removed.
 */
export async function withFileLock<T>(file: string, body: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const lock = `${file}.lock`;
  await ensurePrivateDir(dirname(file));
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        const info = await stat(lock);
        if (Date.now() - info.mtimeMs > LOCK_STALE_MS) {
          await unlink(lock).catch(() => undefined);
          continue;
        }
      } catch {
        continue; // gone meanwhile: try again at once
      }
      if (Date.now() > deadline) throw new LockTimeoutError(`${lock} is held by another process; if none is running, remove the file`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 100);
    }
  }
  try {
    return await body();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
