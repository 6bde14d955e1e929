// What the three parts of signing/ promise each other: the key store
// (keys.ts), signatures (signatures.ts, verify.ts) and the verification
// policy (policy.ts). Each part depends on these types, not on the
// others' classes, so that each can be built and tested on its own.
import type { KeyObject } from 'node:crypto';

/** Algorithms of keys the registry generates; imported keys keep whatever their PEM holds. */
export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** One version of a signing key, as verification sees it: never the private half. */
export interface PublicKeyVersion {
  /** The namespace that owns the key: '' for the instance, else an organization or project. */
  namespace: string;
  name: string;
  /** 1, 2, ... Only the newest version of an enabled, generated key signs; every version verifies. */
  version: number;
  /** `external` for keys registered with `hatoba key import` (the private half stays with the user). */
  algorithm: KeyAlgorithm | 'external';
  publicKey: KeyObject;
  publicKeyPem: string;
  /** The key (all of its versions) is disabled: its signatures no longer verify. */
  disabled: boolean;
  /** Bumped on every change to the key (rotate, disable, enable): part of cached decisions' keys. */
  revision: number;
  createdAt: Date;
}

/** What policy and verification need from the key store. */
export interface KeyLookup {
  /**
   * Every version of key `name` as seen from `namespace`: the key of that
   * name in `namespace` itself, else in its nearest parent, else at the
   * instance. Undefined when there is none (or it was deleted).
   */
  resolve(namespace: string, name: string): Promise<PublicKeyVersion[] | undefined>;
}

/** The server-side half of signing with a key the registry holds. */
export interface KeySigner {
  /**
   * Signs sha256(data) with the newest version of the key (ECDSA: ASN.1
   * DER; RSA: PKCS#1 v1.5), as cosign does. Throws a RegistryError
   * (NAME_UNKNOWN for a missing key, DENIED for a disabled or imported
   * one). Authorization (the `sign` verb) and the audit entry are the
   * caller's.
   */
  sign(namespace: string, name: string, data: Buffer): Promise<{ signature: Buffer; key: PublicKeyVersion }>;
}

/** Where a signature came from. */
export type SignatureFormat = 'cosign-simplesigning' | 'sigstore-bundle';

export interface VerifiedSignature {
  /** The manifest digest the signature covers. */
  digest: string;
  key: PublicKeyVersion;
  format: SignatureFormat;
  /** `critical.identity.docker-reference` (or the bundle statement's subject name). */
  dockerReference: string;
  /** When it was signed, where the signature says (cosign's optional creation time, the bundle's). */
  signedAt?: Date;
}

export interface SignatureCheck {
  valid: VerifiedSignature[];
  /** Signatures found but not valid with any of the keys, with why (for logs and `image verify`). */
  rejected: { format: SignatureFormat; reason: string }[];
}

/** What the policy (and the admission webhook) need from signatures. */
export interface SignatureVerifier {
  /**
   * The signatures over `digest` stored in `repository` (the cosign
   * `sha256-<hex>.sig` tag and the referrers of `digest`) that verify with
   * one of `keys`. With `matchRepository` (the default), a signature whose
   * docker-reference names another repository is rejected.
   */
  verify(repository: string, digest: string, keys: PublicKeyVersion[], options?: { matchRepository?: boolean }): Promise<SignatureCheck>;
}
