// Unit tests: the registry token service (ES256 JWTs) over an in-memory
// SQLite metadata database.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { openSqlite } from '../../src/db/connect.js';
import { IdentityStore } from '../../src/db/identity.js';
import type { Database } from '../../src/db/schema.js';
import { decryptSecret } from '../../src/auth/secrets.js';
import { TokenError, TokenService, type AccessEntry, type TokenSubject } from '../../src/auth/tokens.js';

const SERVICE = 'hatoba-unit';
const USER: TokenSubject = { kind: 'user', id: 7, tokenId: 'tok123', name: 'jdoe' };
const ACCESS: AccessEntry[] = [{ type: 'repository', name: 'system/oracle_db', actions: ['pull', 'push'] }];

let db: Kysely<Database>;
let other: Kysely<Database>;
let store: IdentityStore;
const masterKey = randomBytes(32);
let tokens: TokenService;
let foreign: TokenService;

before(async () => {
  db = await openSqlite(':memory:');
  other = await openSqlite(':memory:');
  store = new IdentityStore(db);
  tokens = await TokenService.load(store, masterKey, SERVICE);
  foreign = await TokenService.load(new IdentityStore(other), randomBytes(32), SERVICE);
});

after(async () => {
  await db.destroy();
  await other.destroy();
});

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The service's own private key, decrypted as the service does. */
async function signingKey(): Promise<{ kid: string; key: Awaited<ReturnType<typeof importJWK>> }> {
  const [row] = await store.jwtKeys();
  assert.ok(row);
  const jwk = JSON.parse(decryptSecret(masterKey, row.private_jwk_encrypted)) as JWK;
  return { kid: row.kid, key: await importJWK(jwk, 'ES256') };
}

async function rejected(promise: Promise<unknown>, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('a signing key is generated once and persisted; loading again reuses it; the JWKS publishes it', async () => {
  const rows = await store.jwtKeys();
  assert.equal(rows.length, 1);
  assert.ok(!rows[0]!.private_jwk_encrypted.includes('"d"'), 'the private key is stored encrypted');
  const again = await TokenService.load(store, masterKey, SERVICE);
  assert.equal((await store.jwtKeys()).length, 1);
  const jwks = tokens.jwks();
  assert.equal(jwks.keys.length, 1);
  const [jwk] = jwks.keys;
  assert.equal(jwk!.kty, 'EC');
  assert.equal(jwk!.crv, 'P-256');
  assert.equal(jwk!.alg, 'ES256');
  assert.equal(jwk!.kid, rows[0]!.kid);
  assert.equal((jwk as Record<string, unknown>).d, undefined, 'no private part in the JWKS');
  // a token from one instance verifies in the other (same key)
  const issued = await tokens.issueAccess(USER, ACCESS);
  assert.deepEqual((await again.verifyAccess(issued.token)).access, ACCESS);
});

test('loading with another master key cannot decrypt the signing key', async () => {
  await assert.rejects(TokenService.load(store, randomBytes(32), SERVICE));
});

test('issueAccess / verifyAccess round trip; header and claims', async () => {
  const before = Math.floor(Date.now() / 1000);
  const issued = await tokens.issueAccess(USER, ACCESS);
  assert.equal(issued.expiresIn, 300);
  assert.ok(Math.abs(Date.parse(issued.issuedAt) / 1000 - before) <= 2, issued.issuedAt);
  const header = decodeProtectedHeader(issued.token);
  assert.equal(header.alg, 'ES256');
  assert.equal(header.kid, tokens.jwks().keys[0]!.kid);
  const claims = decodeJwt(issued.token);
  assert.equal(claims.iss, SERVICE);
  assert.equal(claims.aud, SERVICE);
  assert.equal(claims.sub, 'jdoe');
  assert.equal(claims.exp! - claims.iat!, 300);
  assert.equal(typeof claims.jti, 'string');
  assert.deepEqual(claims.access, ACCESS);
  const verified = await tokens.verifyAccess(issued.token);
  assert.deepEqual(verified.access, ACCESS);
  assert.deepEqual(verified.subject, USER);
  // two tokens are never the same (jti)
  assert.notEqual((await tokens.issueAccess(USER, ACCESS)).token, issued.token);
});

test('robot and anonymous subjects', async () => {
  const robot: TokenSubject = { kind: 'robot', id: 3, name: 'robot$system+ci' };
  assert.deepEqual((await tokens.verifyAccess((await tokens.issueAccess(robot, [])).token)).subject, { ...robot, tokenId: undefined });
  const anon = await tokens.verifyAccess((await tokens.issueAccess({ kind: 'anonymous', name: '' }, ACCESS)).token);
  assert.equal(anon.subject.kind, 'anonymous');
});

test('issueRefresh / verifyRefresh round trip (30 days)', async () => {
  const refresh = await tokens.issueRefresh(USER);
  const claims = decodeJwt(refresh);
  assert.equal(claims.exp! - claims.iat!, 30 * 24 * 3600);
  assert.equal(claims.access, undefined, 'a refresh token grants no access by itself');
  // The subject comes back marked as signed in with this refresh token, until it expires.
  assert.deepEqual(await tokens.verifyRefresh(refresh), { ...USER, refreshExpiresAt: claims.exp! * 1000 });
});

test('a refresh token issued for a refresh-token holder never outlives the one it came from', async () => {
  const refreshExpiresAt = (Math.floor(Date.now() / 1000) + 3600) * 1000;
  const claims = decodeJwt(await tokens.issueRefresh({ ...USER, refreshExpiresAt }));
  assert.equal(claims.exp! * 1000, refreshExpiresAt);
  // Access tokens carry the mark, so their holder keeps the identity token's rights.
  const access = (await tokens.issueAccess({ ...USER, refreshExpiresAt }, ACCESS)).token;
  assert.equal((await tokens.verifyAccess(access)).subject.refreshExpiresAt, refreshExpiresAt);
});

test('an access token is not a refresh token, and a refresh token is not an access token', async () => {
  const access = (await tokens.issueAccess(USER, ACCESS)).token;
  const refresh = await tokens.issueRefresh(USER);
  await rejected(tokens.verifyRefresh(access), /not a refresh token/);
  await rejected(tokens.verifyAccess(refresh), /not an access token/);
});

test('a token signed by another service key is rejected', async () => {
  const token = (await foreign.issueAccess(USER, ACCESS)).token;
  await rejected(tokens.verifyAccess(token), /unknown key/);
  await rejected(tokens.verifyRefresh(await foreign.issueRefresh(USER)), /unknown key/);
});

test('a token signed by another key but claiming our kid is rejected', async () => {
  const token = (await foreign.issueAccess(USER, ACCESS)).token;
  const [, payload, signature] = token.split('.');
  const header = b64url({ alg: 'ES256', kid: tokens.jwks().keys[0]!.kid, typ: 'JWT' });
  await rejected(tokens.verifyAccess(`${header}.${payload}.${signature}`), /signature/);
});

test('alg none is rejected', async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: SERVICE, aud: SERVICE, sub: 'admin', iat: now, nbf: now - 5, exp: now + 300, use: 'access', access: ACCESS, hatoba: { kind: 'user', id: 1 } };
  const kid = tokens.jwks().keys[0]!.kid;
  for (const header of [{ alg: 'none', typ: 'JWT' }, { alg: 'none', kid, typ: 'JWT' }, { alg: 'None', kid }]) {
    await rejected(tokens.verifyAccess(`${b64url(header)}.${b64url(claims)}.`));
  }
});

test('HS256 with the public key as the HMAC secret (algorithm confusion) is rejected', async () => {
  const jwk = tokens.jwks().keys[0]!;
  const secret = new TextEncoder().encode(JSON.stringify(jwk));
  const token = await new SignJWT({ use: 'access', access: ACCESS, hatoba: { kind: 'user', id: 1 } })
    .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
    .setIssuer(SERVICE)
    .setAudience(SERVICE)
    .setSubject('admin')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(secret);
  await rejected(tokens.verifyAccess(token));
});

test('a tampered payload is rejected', async () => {
  const token = (await tokens.issueAccess(USER, [{ type: 'repository', name: 'a/b', actions: ['pull'] }])).token;
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  // escalate the actions
  const escalated = { ...claims, access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push', 'delete'] }] };
  await rejected(tokens.verifyAccess(`${header}.${b64url(escalated)}.${signature}`), /signature/);
  // become someone else
  const other = { ...claims, sub: 'admin', hatoba: { kind: 'user', id: 1 } };
  await rejected(tokens.verifyAccess(`${header}.${b64url(other)}.${signature}`), /signature/);
  // extend the lifetime
  const longer = { ...claims, exp: (claims.exp as number) + 86_400 };
  await rejected(tokens.verifyAccess(`${header}.${b64url(longer)}.${signature}`), /signature/);
  // a changed signature byte
  const sig = Buffer.from(signature, 'base64url');
  sig[10] = sig[10]! ^ 0xff;
  await rejected(tokens.verifyAccess(`${header}.${payload}.${sig.toString('base64url')}`));
  // garbage
  await rejected(tokens.verifyAccess('not.a.jwt'));
  await rejected(tokens.verifyAccess(''));
});

test('an expired token, signed with the right key, is rejected (access and refresh)', async () => {
  const { kid, key } = await signingKey();
  const now = Math.floor(Date.now() / 1000);
  const make = (use: string, exp: number) =>
    new SignJWT({ use, access: ACCESS, hatoba: { kind: 'user', id: 7 } })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(SERVICE)
      .setAudience(SERVICE)
      .setSubject('jdoe')
      .setIssuedAt(now - 3600)
      .setNotBefore(now - 3600)
      .setExpirationTime(exp)
      .sign(key);
  // control: the same construction, not yet expired, is accepted
  assert.deepEqual((await tokens.verifyAccess(await make('access', now + 60))).access, ACCESS);
  await rejected(tokens.verifyAccess(await make('access', now - 60)), /exp/);
  await rejected(tokens.verifyRefresh(await make('refresh', now - 60)), /exp/);
  // within the 5 s clock tolerance it is still accepted
  assert.deepEqual((await tokens.verifyAccess(await make('access', now - 1))).access, ACCESS);
});

test('a token for another service (issuer / audience) or not yet valid is rejected', async () => {
  const { kid, key } = await signingKey();
  const now = Math.floor(Date.now() / 1000);
  const base = () => new SignJWT({ use: 'access', access: ACCESS, hatoba: { kind: 'user', id: 7 } }).setProtectedHeader({ alg: 'ES256', kid }).setSubject('jdoe').setIssuedAt(now).setExpirationTime(now + 300);
  await rejected(tokens.verifyAccess(await base().setIssuer('other').setAudience(SERVICE).sign(key)), /iss/);
  await rejected(tokens.verifyAccess(await base().setIssuer(SERVICE).setAudience('other').sign(key)), /aud/);
  await rejected(tokens.verifyAccess(await base().setIssuer(SERVICE).setAudience(SERVICE).setNotBefore(now + 600).sign(key)), /nbf/);
  // and a token of the other service name from a TokenService with the same key
  const renamed = await TokenService.load(store, masterKey, 'another-service');
  await rejected(tokens.verifyAccess((await renamed.issueAccess(USER, ACCESS)).token));
});

test('a signed token without a subject claim is rejected', async () => {
  const { kid, key } = await signingKey();
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ use: 'access', ...claims }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(SERVICE).setAudience(SERVICE).setIssuedAt().setExpirationTime('5m').sign(key);
  await rejected(tokens.verifyAccess(await sign({})), /no subject/);
  await rejected(tokens.verifyAccess(await sign({ hatoba: { kind: 'admin', id: 1 } })), /no subject/);
  await rejected(tokens.verifyAccess(await sign({ hatoba: { kind: 'user' } })), /no subject id/);
});
