// The master key that encrypts private keys at rest. From HATOBA_MASTER_KEY
// (base64 of 32 bytes; every process of a scaled-out instance needs the
// same one), else a file in the data directory created on first start.
//
// A new key is made only for a database that holds nothing sealed yet:
// once the token signing keys exist (after the first start they always
// do), a missing or different key is refused with what to do, instead of
// a fresh key that opens nothing.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { ConfigError } from '../config/config.js';
import type { Database } from '../db/schema.js';
import { makePrivate } from '../runtime/private-files.js';
import { decryptSecret } from './secrets.js';

export async function loadMasterKey(dataDir: string, fromEnv: string | undefined, db: Kysely<Database>): Promise<Buffer> {
  const sealed = (await db.selectFrom('jwt_keys').select('private_jwk_encrypted').limit(1).executeTakeFirst())?.private_jwk_encrypted;
  const path = join(dataDir, 'master.key');
  const remedy = `restore master.key or set HATOBA_MASTER_KEY to the key this data directory was set up with`;
  if (fromEnv) return checked(decode(fromEnv, 'HATOBA_MASTER_KEY'), sealed, `HATOBA_MASTER_KEY does not open the keys in the database: ${remedy}`);
  if (!existsSync(path)) {
    if (sealed !== undefined) throw new ConfigError(`${path} is missing, but the database holds keys encrypted under a master key: ${remedy}`);
    try {
      writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  makePrivate(path);
  return checked(decode(readFileSync(path, 'utf8').trim(), path), sealed, `${path} does not open the keys in the database: ${remedy}`);
}

function checked(key: Buffer, sealed: string | undefined, refusal: string): Buffer {
  if (sealed === undefined) return key;
  try {
    decryptSecret(key, sealed);
  } catch {
    throw new ConfigError(refusal);
  }
  return key;
}

function decode(value: string, source: string): Buffer {
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32) throw new ConfigError(`${source} must hold 32 bytes in base64 (e.g. from: openssl rand -base64 32)`);
  return key;
}
