// Registry bearer tokens (the Docker token protocol): short-lived ES256
// JWTs carrying the access granted, and longer-lived refresh tokens for
// `offline_token=true` / the OAuth2 refresh_token grant. Signing keys are
// generated once, kept in the database with the private half encrypted
// under the master key, and published as a JWKS.
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import type { IdentityStore } from '../db/identity.js';
import { decryptSecret, encryptSecret, generateId } from './secrets.js';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** Who a token was issued to: enough to re-check they still exist. */
export interface TokenSubject {
  kind: 'user' | 'robot' | 'anonymous';
  id?: number;
  /** The personal auth token used to sign in, if any (revoking it ends refresh). */
  tokenId?: string;
  /** For password sign-ins: ends the refresh token when the password changes. */
  credentialStamp?: string;
  /**
   * Set when the holder signed in with a refresh token (docker login's
   * identity token): when that expires (ms). Access tokens issued for it
   * carry it, so their holder keeps the identity token's rights and limits.
   */
  refreshExpiresAt?: number;
  name: string;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export class TokenError extends Error {}

const ACCESS_TTL_SECONDS = 300;
/** Verified access tokens remembered (oldest dropped first). */
const VERIFIED_CACHE_SIZE = 10_000;
const REFRESH_TTL_SECONDS = 30 * 24 * 3600;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey | Uint8Array;
  publicJwk: JWK;
}

export class TokenService {
  private lastReload = 0;
  private readonly verified = new Map<string, { result: { subject: TokenSubject; access: AccessEntry[] }; exp: number }>();

  private constructor(
    readonly service: string,
    private readonly identity: IdentityStore,
    private readonly signing: SigningKey,
    private readonly verifying: Map<string, CryptoKey | Uint8Array>,
    private readonly publicJwks: JWK[],
  ) {}

  static async load(identity: IdentityStore, masterKey: Buffer, service: string): Promise<TokenService> {
    let rows = await identity.jwtKeys();
    if (rows.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateJwk = await exportJWK(privateKey);
      await identity.addJwtKey(kid, JSON.stringify({ ...publicJwk, kid, alg: 'ES256', use: 'sig' }), encryptSecret(masterKey, JSON.stringify(privateJwk)));
      // Another process may have raced us; everyone uses the newest row.
      rows = await identity.jwtKeys();
    }
    const newest = rows[0]!;
    const privateKey = await importJWK(JSON.parse(decryptSecret(masterKey, newest.private_jwk_encrypted)) as JWK, 'ES256');
    const service_ = new TokenService(service, identity, { kid: newest.kid, privateKey, publicJwk: JSON.parse(newest.public_jwk) as JWK }, new Map(), []);
    await service_.loadPublicKeys(rows);
    return service_;
  }

  /** Verifying keys: all in the database, so tokens of other processes (and rotated keys) verify. */
  private async loadPublicKeys(rows: { kid: string; public_jwk: string }[]): Promise<void> {
    for (const row of rows) {
      if (this.verifying.has(row.kid)) continue;
      const jwk = JSON.parse(row.public_jwk) as JWK;
      this.verifying.set(row.kid, await importJWK(jwk, 'ES256'));
      this.publicJwks.push(jwk);
    }
  }

  /** A key id we do not know may be another process's new key: look again, at most every few seconds. */
  private async keyFor(kid: string | undefined): Promise<CryptoKey | Uint8Array | undefined> {
    if (!kid) return undefined;
    const known = this.verifying.get(kid);
    if (known || Date.now() - this.lastReload < 5_000) return known;
    this.lastReload = Date.now();
    await this.loadPublicKeys(await this.identity.jwtKeys());
    return this.verifying.get(kid);
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }

  async issueAccess(subject: TokenSubject, access: AccessEntry[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const token = await this.sign({ access, hatoba: subjectClaim(subject) }, subject.name, now, ACCESS_TTL_SECONDS, 'access');
    return { token, expiresIn: ACCESS_TTL_SECONDS, issuedAt: new Date(now * 1000).toISOString() };
  }

  async issueRefresh(subject: TokenSubject): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    // A refresh token never extends the life of the one it came from.
    const ttl = subject.refreshExpiresAt === undefined ? REFRESH_TTL_SECONDS : Math.min(REFRESH_TTL_SECONDS, Math.floor(subject.refreshExpiresAt / 1000) - now);
    return this.sign({ hatoba: subjectClaim(subject) }, subject.name, now, ttl, 'refresh');
  }

  async verifyAccess(token: string): Promise<{ subject: TokenSubject; access: AccessEntry[] }> {
    // A token's bytes never change, so its signature is checked once; a
    // cached result is still refused after the token's expiry.
    const now = Date.now() / 1000;
    const cached = this.verified.get(token);
    if (cached && cached.exp > now) return cached.result;
    const payload = await this.verify(token, 'access');
    const access = Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [];
    const result = { subject: readSubject(payload), access };
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { result, exp: payload.exp ?? now });
    return result;
  }

  /** The subject, marked as signed in with this refresh token until it expires. */
  async verifyRefresh(token: string): Promise<TokenSubject> {
    const payload = await this.verify(token, 'refresh');
    return { ...readSubject(payload), refreshExpiresAt: (payload.exp ?? 0) * 1000 };
  }

  private async sign(claims: Record<string, unknown>, sub: string, now: number, ttl: number, use: 'access' | 'refresh'): Promise<string> {
    return new SignJWT({ ...claims, use })
      .setProtectedHeader({ alg: 'ES256', kid: this.signing.kid, typ: 'JWT' })
      .setIssuer(this.service)
      .setAudience(this.service)
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + ttl)
      .setJti(generateId())
      .sign(this.signing.privateKey);
  }

  private async verify(token: string, use: 'access' | 'refresh'): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (header) => {
          const key = await this.keyFor(header.kid);
          if (!key) throw new TokenError('token signed by an unknown key');
          return key;
        },
        { algorithms: ['ES256'], issuer: this.service, audience: this.service, clockTolerance: 5 },
      ));
    } catch (err) {
      throw new TokenError(`invalid token: ${(err as Error).message}`);
    }
    if (payload.use !== use) throw new TokenError(`invalid token: not a${use === 'access' ? 'n access' : ' refresh'} token`);
    return payload;
  }
}

function subjectClaim(s: TokenSubject): Record<string, unknown> {
  return { kind: s.kind, id: s.id, tid: s.tokenId, pws: s.credentialStamp, rex: s.refreshExpiresAt === undefined ? undefined : Math.floor(s.refreshExpiresAt / 1000) };
}

function readSubject(payload: JWTPayload): TokenSubject {
  const claim = payload.hatoba as { kind?: string; id?: number; tid?: string; pws?: string; rex?: number } | undefined;
  const kind = claim?.kind;
  if (kind !== 'user' && kind !== 'robot' && kind !== 'anonymous') throw new TokenError('invalid token: no subject');
  if (kind !== 'anonymous' && typeof claim?.id !== 'number') throw new TokenError('invalid token: no subject id');
  const subject: TokenSubject = { kind, id: claim?.id, tokenId: claim?.tid, name: payload.sub ?? '' };
  if (claim?.pws !== undefined) subject.credentialStamp = claim.pws;
  if (typeof claim?.rex === 'number') subject.refreshExpiresAt = claim.rex * 1000;
  return subject;
}
