// The data directory holds the metadata, every blob and the master key:
// nobody but the server's user may read it. Modes are set explicitly
// (chmod), so they do not depend on the umask the server was started with.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the directory (and parents) if needed and makes it 0700. */
export function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(path, PRIVATE_DIR_MODE);
}

/** Makes an existing file 0600; a missing one is left alone. */
export function makePrivate(path: string): void {
  if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE);
}
