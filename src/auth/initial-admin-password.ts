// The generated password of the first `admin`, kept in a 0600 file in the
// data directory besides being printed once (as Argo CD and Jenkins do):
// an operator who missed the log line, or whose first start failed after
// the user was made, can still sign in. It goes away once the admin's
// password is changed.
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password';
/** The user the first start creates. */
export const INITIAL_ADMIN = 'admin';

export function initialAdminPasswordPath(dataDir: string): string {
  return join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
}

export function writeInitialAdminPassword(dataDir: string, password: string): void {
  writeFileSync(initialAdminPasswordPath(dataDir), `${password}\n`, { mode: 0o600 });
}

/** The file's path while it exists. */
export function initialAdminPasswordFile(dataDir: string): string | undefined {
  const path = initialAdminPasswordPath(dataDir);
  return existsSync(path) ? path : undefined;
}

export function removeInitialAdminPassword(dataDir: string): void {
  try {
    unlinkSync(initialAdminPasswordPath(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
