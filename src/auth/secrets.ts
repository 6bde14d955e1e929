// Secrets at rest: passwords hashed with argon2id, generated tokens hashed
// with SHA-256 (they carry enough entropy) and compared in constant time,
// and private keys encrypted with AES-256-GCM under the master key.
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password);
}

let unknownUser: Promise<string> | undefined;

/**
 * The hash of a random password nobody knows, made once with the same
 * parameters as real ones: checking a password for a name that does not
 * exist against it costs what a real check costs, so the answer's time
 * does not tell which names exist.
 */
export function unknownUserHash(): Promise<string> {
  unknownUser ??= hashPassword(generateSecret());
  return unknownUser;
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(hash, password);
  } catch {
    return false;
  }
}

// Letters, digits and the punctuation Oracle-style auth tokens contain
// (e.g. `k]j64r{1sJSSF-;)K8`), minus quotes, backslash and space, which
// break shell quoting and Basic-auth parsers.
const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-.:;<=>?@[]^_{|}~';

/** A random secret of `length` characters (~6.5 bits each). */
export function generateSecret(length = 32): string {
  let out = '';
  for (let i = 0; i < length; i++) out += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return out;
}

/** A password to hand out (the first admin's, a reset's): 20 letters and digits, then 4 of any kind; always 24 long. */
export function generatePassword(): string {
  const alphanumeric = TOKEN_ALPHABET.slice(0, 62);
  let out = '';
  for (let i = 0; i < 20; i++) out += alphanumeric[randomInt(alphanumeric.length)];
  return out + generateSecret(4);
}

export function generateId(bytes = 12): string {
  return randomBytes(bytes).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Authenticated encryption of small secrets under a 32-byte master key. */
export function encryptSecret(masterKey: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
}

export function decryptSecret(masterKey: Buffer, sealed: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown sealed-secret format');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
}
