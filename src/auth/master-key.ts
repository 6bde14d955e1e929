// The master key that encrypts private keys at rest. From HATOBA_MASTER_KEY
// (base64 of 32 bytes; every process of a scaled-out instance needs the
// same one), else a file in the data directory created on first start.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function loadMasterKey(dataDir: string, fromEnv: string | undefined): Buffer {
  if (fromEnv) return decode(fromEnv, 'HATOBA_MASTER_KEY');
  const path = join(dataDir, 'master.key');
  if (!existsSync(path)) {
    try {
      writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return decode(readFileSync(path, 'utf8').trim(), path);
}

function decode(value: string, source: string): Buffer {
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32) throw new Error(`${source} must hold 32 bytes in base64 (e.g. from: openssl rand -base64 32)`);
  return key;
}
