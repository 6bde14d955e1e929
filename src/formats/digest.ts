// Content digests as the OCI image spec defines them: `algorithm:encoded`.
// Only the registered algorithms a registry must verify are accepted here;
// anything else is rejected at the edge so the rest of the code can trust
// a Digest value to be well formed (and safe to use in a file name).
import { createHash, type Hash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** A validated digest string such as `sha256:9f86d0...`. */
export type Digest = string & { readonly __brand: 'Digest' };

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_PATTERN = /^(sha256|sha512):([a-f0-9]+)$/;

export class DigestFormatError extends Error {}

export function parseDigest(value: string): Digest {
  const m = DIGEST_PATTERN.exec(value);
  if (!m) throw new DigestFormatError(`invalid digest "${truncate(value)}": expected sha256:<64 hex> or sha512:<128 hex>`);
  const algorithm = m[1] as DigestAlgorithm;
  if (m[2]!.length !== HEX_LENGTH[algorithm]) {
    throw new DigestFormatError(`invalid digest "${truncate(value)}": ${algorithm} needs ${HEX_LENGTH[algorithm]} hex characters`);
  }
  return value as Digest;
}

export function isDigest(value: string): boolean {
  const m = DIGEST_PATTERN.exec(value);
  return m !== null && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

export function finishDigest(hash: Hash, algorithm: DigestAlgorithm): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
