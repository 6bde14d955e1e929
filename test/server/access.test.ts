// Integration: identity and access on /v2/ — the Docker token protocol,
// Basic credentials, and every grant and denial path of authorize(),
// through a real `hatoba serve` and its /api/v1 management API.
//
// Sign-ins that are meant to fail are sent from their own loopback source
// addresses (127.0.0.x), so that the failed-sign-in limiter (10 per minute
// per user name and per address) never throttles the rest of the file.
//
// Run: node --import tsx --test test/server/access.test.ts
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import { decryptSecret } from '../../src/auth/secrets.js';
import { openServerDatabase } from '../helpers/backend.js';
import { sha256, TestRegistry, type Credentials } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { actionsFor, Api, AuthRegistry, bearer, call, expectErr, freshAddress, getToken, jwtHeader, jwtPayload, postToken, tokenUrl, uniq, type CallOptions, type TokenResponse } from '../auth/access-helpers.js';

let server: RunningServer;
let api: Api;
let admin: TestRegistry;

before(async () => {
  server = await startServer();
  api = new Api(server.url);
  admin = new TestRegistry(server.url);
});

after(async () => {
  await server?.dispose();
});

const get = (path: string, options?: CallOptions) => call(server.url, 'GET', path, options);
const head = (path: string, options?: CallOptions) => call(server.url, 'HEAD', path, options);
const realm = () => `http://127.0.0.1:${server.port}/v2/token`;

/** POST of a small blob (monolithic), the first write of any push. */
function pushBlobAs(auth: CallOptions['auth'], repo: string, content = uniq('blob-')): Promise<{ res: Awaited<ReturnType<typeof call>>; digest: string }> {
  const digest = sha256(content);
  return call(server.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { auth, body: content, headers: { 'content-type': 'application/octet-stream' } }).then((res) => ({ res, digest }));
}

/** A minimal manifest PUT whose blobs do not need to exist to be authorized (the check comes first). */
function putManifestAs(auth: CallOptions['auth'], repo: string, tag: string): ReturnType<typeof call> {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
    layers: [],
  });
  return call(server.url, 'PUT', `/v2/${repo}/manifests/${tag}`, { auth, body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
}

/** Asserts that, as the admin sees it, a repository holds nothing at all. */
async function assertNothingWritten(repo: string, digest?: string): Promise<void> {
  const tags = await get(`/v2/${repo}/tags/list`);
  assert.equal(tags.status, 404, `tags of ${repo} should not exist: ${tags.status} ${tags.text}`);
  if (digest) assert.equal((await head(`/v2/${repo}/blobs/${digest}`)).status, 404, `blob ${digest} should not be in ${repo}`);
}

// ---------------------------------------------------------------------------

describe('the challenge', () => {
  test('unauthenticated GET /v2/ is 401 with exactly the Bearer challenge of the token spec', async () => {
    for (const path of ['/v2/', '/v2']) {
      const res = await get(path, { auth: null });
      expectErr(res, 401, 'UNAUTHORIZED', path);
      assert.equal(res.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba"`, path);
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0', path);
    }
    assert.equal((await head('/v2/', { auth: null })).status, 401);
  });

  test('unauthenticated pull is 401 with scope="repository:NAME:pull"; push asks for pull,push', async () => {
    const repo = uniq('chal/app-');
    const pull = await get(`/v2/${repo}/manifests/latest`, { auth: null });
    expectErr(pull, 401, 'UNAUTHORIZED');
    assert.equal(pull.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull"`);
    const blob = await get(`/v2/${repo}/blobs/${sha256('x')}`, { auth: null });
    assert.equal(blob.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull"`);
    const tags = await get(`/v2/${repo}/tags/list`, { auth: null });
    assert.equal(tags.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull"`);
    const { res: push } = await pushBlobAs(null, repo);
    expectErr(push, 401, 'UNAUTHORIZED');
    assert.equal(push.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull,push"`);
    const del = await call(server.url, 'DELETE', `/v2/${repo}/manifests/latest`, { auth: null });
    expectErr(del, 401, 'UNAUTHORIZED');
    assert.equal(del.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull,delete"`);
    await assertNothingWritten(repo);
  });

  test('wrong credentials are 401 UNAUTHORIZED (with the challenge), never 403', async () => {
    const from = freshAddress();
    const user = await api.user(uniq('wrong-'));
    for (const creds of [
      { username: user.username, password: 'not-the-password' },
      { username: uniq('nosuchuser-'), password: 'whatever-password' },
      { username: user.username, password: '' },
    ]) {
      const res = await get('/v2/', { auth: creds, from });
      expectErr(res, 401, 'UNAUTHORIZED', creds.username);
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm=/);
      const token = await get(tokenUrl([`repository:x/y:pull`]), { auth: creds, from });
      expectErr(token, 401, 'UNAUTHORIZED', `token endpoint ${creds.username}`);
    }
    // malformed headers
    expectErr(await get('/v2/', { auth: 'Basic !!!notbase64-without-colon', from }), 401, 'UNAUTHORIZED', 'malformed Basic');
    expectErr(await get('/v2/', { auth: 'Digest abc', from }), 401, 'UNAUTHORIZED', 'unknown scheme');
    expectErr(await get('/v2/', { auth: 'Bearer', from }), 401, 'UNAUTHORIZED', 'empty bearer');
    // the right password works (from yet another address)
    assert.equal((await get('/v2/', { auth: user })).status, 200);
  });

  test('Basic credentials straight to /v2/ work', async () => {
    const res = await get('/v2/');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '{}');
  });
});

describe('the token endpoint', () => {
  let repo: string;
  before(async () => {
    repo = uniq('tokflow/app-');
  });

  test('GET /v2/token with Basic and scope=repository:x:pull,push gives token, access_token, expires_in, issued_at', async () => {
    const before = Date.now();
    const res = await get(tokenUrl([`repository:${repo}:pull,push`]));
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json<TokenResponse>();
    assert.equal(typeof body.token, 'string');
    assert.equal(body.access_token, body.token);
    assert.equal(body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(body.issued_at) - before) < 5_000, body.issued_at);
    assert.equal(body.refresh_token, undefined, 'no refresh token without offline_token=true');
    const header = jwtHeader(body.token);
    assert.equal(header.alg, 'ES256');
    const claims = jwtPayload(body.token);
    assert.equal(claims.iss, 'hatoba');
    assert.equal(claims.aud, 'hatoba');
    assert.equal(claims.sub, 'admin');
    assert.deepEqual(claims.access, [{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
    // the signing key is published
    const jwks = (await get('/v2/token/jwks', { auth: null })).json<{ keys: JWK[] }>();
    assert.ok(jwks.keys.some((k) => k.kid === header.kid), 'the token kid is in the JWKS');
    for (const k of jwks.keys) assert.equal((k as Record<string, unknown>).d, undefined, 'no private key material in the JWKS');
    const apiJwks = (await get('/api/v1/jwks', { auth: null })).json<{ keys: JWK[] }>();
    assert.deepEqual(apiJwks, jwks);

    // the token works as a Bearer token for /v2/, push and pull
    const reg = new AuthRegistry(server.url, bearer(body.token));
    assert.equal((await get('/v2/', { auth: bearer(body.token) })).status, 200);
    const pushed = await reg.pushImage(repo, 'v1');
    const pulled = await reg.request(`/v2/${repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pulled.status, 200);
    assert.equal(await pulled.text(), pushed.bytes);
  });

  test('offline_token=true also returns a refresh_token', async () => {
    const body = await getToken(server.url, ADMIN, [`repository:${repo}:pull`], { offline_token: 'true', client_id: 'hatoba-test' });
    assert.equal(typeof body.refresh_token, 'string');
    assert.notEqual(body.refresh_token, body.token);
    assert.equal(jwtPayload(body.refresh_token!).access, undefined, 'a refresh token carries no access');
    // a refresh token is not accepted as a Bearer token
    const res = await get(`/v2/${repo}/tags/list`, { auth: bearer(body.refresh_token!) });
    expectErr(res, 401, 'UNAUTHORIZED', 'refresh token as bearer');
    // and an access token is not a refresh token
    const misuse = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: body.token, service: 'hatoba', scope: `repository:${repo}:pull` });
    assert.equal(misuse.status, 401, misuse.text);
    assert.equal(misuse.json().error, 'invalid_grant');
  });

  test('several scope parameters, and several scopes in one parameter, each get their own access entry', async () => {
    const a = uniq('multi/a-');
    const b = uniq('multi/b-');
    const c = uniq('multi/c-');
    const body = await getToken(server.url, ADMIN, [`repository:${a}:pull`, `repository:${b}:pull,push`, `repository:${c}:delete registry:catalog:*`]);
    const access = jwtPayload(body.token).access;
    assert.deepEqual(access, [
      { type: 'repository', name: a, actions: ['pull'] },
      { type: 'repository', name: b, actions: ['pull', 'push'] },
      { type: 'repository', name: c, actions: ['delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    // '*' expands to every repository action the caller holds
    assert.deepEqual(actionsFor((await getToken(server.url, ADMIN, [`repository:${a}:*`])).token, a), ['pull', 'push', 'delete']);
    // unknown resource types, bad names and unknown actions are dropped, not errors
    const odd = await getToken(server.url, ADMIN, ['repository:UPPER/case:pull', 'repository:ok/name:fly', 'nonsense', 'plugin:x:pull']);
    assert.deepEqual(jwtPayload(odd.token).access, [{ type: 'repository', name: 'ok/name', actions: [] }]);
    // no scope at all: a token with no access (docker login does this)
    assert.deepEqual(jwtPayload((await getToken(server.url, ADMIN, [])).token).access, []);
  });

  test('a token grants only the named repository', async () => {
    const other = uniq('tokflow/other-');
    const body = await getToken(server.url, ADMIN, [`repository:${repo}:pull,push`]);
    const { res } = await pushBlobAs(bearer(body.token), other);
    // the admin could get push on it: the client is told to fetch a wider token
    expectErr(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${other}:pull,push",error="insufficient_scope"`);
    await assertNothingWritten(other);
  });

  test('POST /v2/token: the password grant (as docker login sends it) and the refresh_token grant', async () => {
    const user = await api.user(uniq('poster-'));
    const r = uniq('postgrant/app-');
    await api.bind(r.split('/')[0]!, 'artifact-writer', { kind: 'user', name: user.username });
    const res = await postToken(server.url, {
      grant_type: 'password',
      username: user.username,
      password: user.password,
      service: 'hatoba',
      client_id: 'docker',
      access_type: 'offline',
      scope: [`repository:${r}:pull,push`],
    });
    assert.equal(res.status, 200, res.text);
    const body = res.json<TokenResponse>();
    assert.equal(body.access_token, body.token);
    assert.equal(body.expires_in, 300);
    assert.equal(typeof body.issued_at, 'string');
    assert.equal(typeof body.refresh_token, 'string', 'the password grant returns a refresh token');
    assert.equal(body.scope, `repository:${r}:pull,push`);
    assert.deepEqual(actionsFor(body.access_token, r), ['pull', 'push']);
    assert.equal(jwtPayload(body.access_token).sub, user.username);
    const { res: pushed } = await pushBlobAs(bearer(body.access_token), r);
    assert.equal(pushed.status, 201, pushed.text);

    // refresh_token grant: a new access token for another scope, same refresh token
    const refreshed = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: body.refresh_token!, service: 'hatoba', client_id: 'docker', scope: `repository:${r}:pull` });
    assert.equal(refreshed.status, 200, refreshed.text);
    const rb = refreshed.json<TokenResponse>();
    assert.deepEqual(actionsFor(rb.access_token, r), ['pull']);
    assert.equal(rb.refresh_token, body.refresh_token);
    const listed = await get(`/v2/${r}/tags/list`, { auth: bearer(rb.access_token) });
    assert.equal(listed.status, 200, `the refreshed token pulls: ${listed.text}`);
    assert.deepEqual(listed.json().tags, []);

    // a refresh cannot widen beyond what the user holds
    const wider = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: body.refresh_token!, scope: [`repository:${r}:pull,push,delete`, `repository:elsewhere/x:pull`] });
    const wb = wider.json<TokenResponse>();
    assert.deepEqual(actionsFor(wb.access_token, r), ['pull', 'push']);
    assert.deepEqual(actionsFor(wb.access_token, 'elsewhere/x'), []);

    // wrong password, garbage refresh token, unknown grant
    const from = freshAddress();
    const bad = await postToken(server.url, { grant_type: 'password', username: user.username, password: 'wrong-password', scope: `repository:${r}:pull` }, from);
    expectErr(bad, 401, 'UNAUTHORIZED', 'password grant with a wrong password');
    const garbage = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: 'garbage' });
    assert.equal(garbage.status, 401);
    assert.equal(garbage.json().error, 'invalid_grant');
    // OAuth2's error fields for docker and containerd, and the OCI envelope as on every /v2/ error
    expectErr(garbage, 401, 'UNAUTHORIZED', 'a garbage refresh token');
    const unknown = await postToken(server.url, { grant_type: 'client_credentials' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json().error, 'unsupported_grant_type');
    expectErr(unknown, 400, 'UNSUPPORTED', 'an unknown grant type');
  });

  test('the token endpoint refuses a Bearer header (it takes Basic or nothing)', async () => {
    const body = await getToken(server.url, ADMIN, []);
    expectErr(await get(tokenUrl([`repository:${repo}:pull`]), { auth: bearer(body.token) }), 401, 'UNAUTHORIZED');
  });
});

describe('grants and denials', () => {
  // project a: reader has artifact-reader, writer has artifact-writer; project b: nobody
  let projA: string;
  let projB: string;
  let reader: Credentials;
  let writer: Credentials;
  let imageA: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let imageB: Awaited<ReturnType<TestRegistry['pushImage']>>;

  before(async () => {
    projA = uniq('proja');
    projB = uniq('projb');
    await api.project(projA);
    await api.project(projB);
    reader = await api.user(uniq('reader-'));
    writer = await api.user(uniq('writer-'));
    await api.bind(projA, 'artifact-reader', { kind: 'user', name: reader.username });
    await api.bind(projA, 'artifact-writer', { kind: 'user', name: writer.username });
    imageA = await admin.pushImage(`${projA}/app`, 'v1');
    imageB = await admin.pushImage(`${projB}/app`, 'v1');
  });

  test('a reader pulls from its project, with Basic and with a token', async () => {
    const basic = await get(`/v2/${projA}/app/manifests/v1`, { auth: reader });
    assert.equal(basic.status, 200, basic.text);
    assert.equal(basic.text, imageA.bytes);
    assert.equal((await get(`/v2/${projA}/app/blobs/${imageA.layerDigests[0]}`, { auth: reader })).status, 200);
    const t = await getToken(server.url, reader, [`repository:${projA}/app:pull`]);
    assert.deepEqual(actionsFor(t.token, `${projA}/app`), ['pull']);
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(t.token) })).status, 200);
    assert.deepEqual((await get(`/v2/${projA}/app/tags/list`, { auth: bearer(t.token) })).json().tags, ['v1']);
  });

  test('cross-project read: a reader of project a cannot pull from project b (403 DENIED)', async () => {
    for (const path of [`/v2/${projB}/app/manifests/v1`, `/v2/${projB}/app/blobs/${imageB.layerDigests[0]}`, `/v2/${projB}/app/tags/list`, `/v2/${projB}/app/referrers/${imageB.digest}`]) {
      const errors = expectErr(await get(path, { auth: reader }), 403, 'DENIED', path);
      assert.match(errors[0]!.message, new RegExp(`${reader.username} has no pull right on ${projB}/app`));
    }
    assert.equal((await head(`/v2/${projB}/app/manifests/v1`, { auth: reader })).status, 403, 'HEAD of a manifest in b');
    // a token request for b is granted nothing, and using it is a 403 too
    const t = await getToken(server.url, reader, [`repository:${projB}/app:pull`]);
    assert.deepEqual(actionsFor(t.token, `${projB}/app`), []);
    expectErr(await get(`/v2/${projB}/app/manifests/v1`, { auth: bearer(t.token) }), 403, 'DENIED', 'bearer');
    // nor can a blob of b be mounted into a
    const mount = await call(server.url, 'POST', `/v2/${projA}/app2/blobs/uploads/?mount=${imageB.layerDigests[0]}&from=${projB}/app`, { auth: writer });
    assert.equal(mount.status, 202, `a mount from a repository the caller cannot pull falls back to an upload: ${mount.status} ${mount.text}`);
    assert.equal((await head(`/v2/${projA}/app2/blobs/${imageB.layerDigests[0]}`)).status, 404, 'the blob of b was not mounted into a');
  });

  test('push without the role: 403 DENIED naming the missing right, and nothing is written', async () => {
    const repo = `${projA}/${uniq('noright-')}`;
    const { res, digest } = await pushBlobAs(reader, repo);
    const errors = expectErr(res, 403, 'DENIED');
    assert.match(errors[0]!.message, /no push right/);
    assert.match(errors[0]!.message, new RegExp(`${reader.username} has no push right on ${repo}`));
    assert.match(errors[0]!.message, /artifact-writer/, 'the message says which role would help');
    assert.equal(res.headers['www-authenticate'], undefined, 'a 403 does not ask to sign in again');
    expectErr(await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/`, { auth: reader }), 403, 'DENIED', 'start upload');
    expectErr(await putManifestAs(reader, repo, 'v1'), 403, 'DENIED', 'manifest PUT');
    expectErr(await call(server.url, 'DELETE', `/v2/${projA}/app/manifests/${imageA.digest}`, { auth: reader }), 403, 'DENIED', 'manifest DELETE');
    expectErr(await call(server.url, 'DELETE', `/v2/${projA}/app/manifests/${imageA.digest}`, { auth: writer }), 403, 'DENIED', 'a writer cannot delete');
    await assertNothingWritten(repo, digest);
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`)).status, 200, 'the image is still there');
    // the writer can push to the same repository
    const { res: ok } = await pushBlobAs(writer, repo);
    assert.equal(ok.status, 201, ok.text);
  });

  test('scope escalation: a reader asking for pull,push gets a token with pull only, and cannot push with it', async () => {
    const repo = `${projA}/app`;
    const t = await getToken(server.url, reader, [`repository:${repo}:pull,push,delete`]);
    assert.deepEqual(jwtPayload(t.token).access, [{ type: 'repository', name: repo, actions: ['pull'] }]);
    assert.deepEqual(jwtPayload(t.token).access[0].actions, ['pull']);
    const { res, digest } = await pushBlobAs(bearer(t.token), repo);
    // the reader could never get push: a plain denial, not a "get a wider token" challenge
    expectErr(res, 403, 'DENIED');
    assert.equal((await head(`/v2/${repo}/blobs/${digest}`)).status, 404, 'nothing was written');
    expectErr(await putManifestAs(bearer(t.token), repo, 'evil'), 403, 'DENIED');
    assert.equal((await get(`/v2/${repo}/manifests/evil`)).status, 404);
    // the same through POST /v2/token
    const posted = await postToken(server.url, { grant_type: 'password', username: reader.username, password: reader.password, scope: `repository:${repo}:*` });
    assert.deepEqual(actionsFor(posted.json<TokenResponse>().access_token, repo), ['pull']);
  });

  test('a writer holding a pull-only token is told to get a wider one (401 insufficient_scope), and nothing is written', async () => {
    const repo = `${projA}/${uniq('narrow-')}`;
    const t = await getToken(server.url, writer, [`repository:${repo}:pull`]);
    const { res, digest } = await pushBlobAs(bearer(t.token), repo);
    expectErr(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${realm()}",service="hatoba",scope="repository:${repo}:pull,push",error="insufficient_scope"`);
    await assertNothingWritten(repo, digest);
  });

  test('a revoked personal auth token: Basic 401, its refresh token invalid_grant, its bearer tokens 401', async () => {
    const tok = await api.token(writer.username, 'to-revoke');
    const repo = `${projA}/app`;
    assert.equal((await get('/v2/', { auth: tok })).status, 200, 'the token works as a Basic password');
    const offline = await getToken(server.url, tok, [`repository:${repo}:pull`], { offline_token: 'true' });
    assert.equal(jwtPayload(offline.token).hatoba.tid, tok.id, 'the bearer token remembers which auth token signed in');
    const posted = (await postToken(server.url, { grant_type: 'password', username: tok.username, password: tok.password, scope: `repository:${repo}:pull` })).json<TokenResponse>();
    assert.equal((await get(`/v2/${repo}/manifests/v1`, { auth: bearer(posted.access_token) })).status, 200);

    const del = await api.call('DELETE', `/api/v1/users/${writer.username}/tokens/${tok.id}`);
    assert.equal(del.status, 204, del.text);
    const listed = (await api.ok<{ tokens: { id: string; revoked: boolean }[] }>('GET', `/api/v1/users/${writer.username}/tokens`)).tokens;
    assert.equal(listed.find((t) => t.id === tok.id)?.revoked, true);

    const from = freshAddress();
    expectErr(await get('/v2/', { auth: tok, from }), 401, 'UNAUTHORIZED', 'Basic with the revoked token');
    expectErr(await get(tokenUrl([`repository:${repo}:pull`]), { auth: tok, from }), 401, 'UNAUTHORIZED', 'token endpoint with the revoked token');
    for (const refresh of [offline.refresh_token!, posted.refresh_token!]) {
      const r = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh, scope: `repository:${repo}:pull` });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json().error, 'invalid_grant');
    }
    expectErr(await get(`/v2/${repo}/manifests/v1`, { auth: bearer(posted.access_token) }), 401, 'UNAUTHORIZED', 'a bearer token issued for the revoked auth token');
    // the user's password still works
    assert.equal((await get('/v2/', { auth: writer })).status, 200);
    // revoking an unknown token, or another user's
    assert.equal((await api.call('DELETE', `/api/v1/users/${reader.username}/tokens/${tok.id}`)).status, 404);
  });

  test('an expired personal auth token is refused everywhere (expiry set in the database)', async () => {
    const tok = await api.token(writer.username, 'to-expire');
    const repo = `${projA}/app`;
    const offline = await getToken(server.url, tok, [`repository:${repo}:pull`], { offline_token: 'true' });
    assert.equal((await get(`/v2/${repo}/manifests/v1`, { auth: bearer(offline.token) })).status, 200);
    // the API only creates tokens that expire in whole days: move this one's expiry into the past
    const db = await openServerDatabase(server);
    try {
      const changed = await sql`update auth_tokens set expires_at = ${Date.now() - 1_000} where id = ${tok.id}`.execute(db);
      assert.equal(Number(changed.numAffectedRows), 1);
    } finally {
      await db.destroy();
    }
    const from = freshAddress();
    expectErr(await get('/v2/', { auth: tok, from }), 401, 'UNAUTHORIZED', 'Basic with the expired token');
    const r = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: offline.refresh_token!, scope: `repository:${repo}:pull` });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json().error, 'invalid_grant');
    expectErr(await get(`/v2/${repo}/manifests/v1`, { auth: bearer(offline.token) }), 401, 'UNAUTHORIZED', 'bearer token of the expired auth token');
  });

  test('an expired bearer token, signed with the server key, is 401', async () => {
    const key = await serverSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const sign = (exp: number) =>
      new SignJWT({ use: 'access', access: [{ type: 'repository', name: `${projA}/app`, actions: ['pull'] }], hatoba: { kind: 'user', id: 1 } })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
        .setIssuer('hatoba')
        .setAudience('hatoba')
        .setSubject('admin')
        .setIssuedAt(now - 600)
        .setNotBefore(now - 600)
        .setExpirationTime(exp)
        .sign(key.key);
    // control: the same construction, unexpired, is accepted (admin is user 1)
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(await sign(now + 60)) })).status, 200);
    const res = await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(await sign(now - 60)) });
    const errors = expectErr(res, 401, 'UNAUTHORIZED', 'expired');
    assert.match(errors[0]!.message, /exp/);
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm=/);
  });

  test('forged bearer tokens are 401 UNAUTHORIZED: another key, alg none, a tampered payload', async () => {
    const real = await getToken(server.url, reader, [`repository:${projA}/app:pull`]);
    const claims = jwtPayload(real.token);
    const kid = jwtHeader(real.token).kid as string;
    const wanted = { ...claims, sub: 'admin', hatoba: { kind: 'user', id: 1 }, access: [{ type: 'repository', name: `${projB}/app`, actions: ['pull', 'push', 'delete'] }] };
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

    // another key, with our kid and with its own
    const { privateKey } = await generateKeyPair('ES256');
    const forged = (k: string) => new SignJWT(wanted).setProtectedHeader({ alg: 'ES256', kid: k, typ: 'JWT' }).sign(privateKey);
    const [, , realSig] = real.token.split('.') as [string, string, string];
    const cases: [string, string][] = [
      ['another key, our kid', await forged(kid)],
      ['another key, its own kid', await forged('attacker-key')],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(wanted)}.`],
      ['alg none with our kid', `${b64({ alg: 'none', kid, typ: 'JWT' })}.${b64(wanted)}.`],
      ['tampered payload', `${real.token.split('.')[0]}.${b64(wanted)}.${realSig}`],
      ['tampered actions only', `${real.token.split('.')[0]}.${b64({ ...claims, access: [{ type: 'repository', name: `${projA}/app`, actions: ['pull', 'push'] }] })}.${realSig}`],
      ['not a JWT', 'abc.def.ghi'],
    ];
    for (const [label, token] of cases) {
      for (const path of ['/v2/', `/v2/${projB}/app/manifests/v1`]) {
        const res = await get(path, { auth: bearer(token) });
        expectErr(res, 401, 'UNAUTHORIZED', `${label} ${path}`);
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm=/, label);
      }
      const { res: push, digest } = await pushBlobAs(bearer(token), `${projA}/app`);
      expectErr(push, 401, 'UNAUTHORIZED', `${label} push`);
      assert.equal((await head(`/v2/${projA}/app/blobs/${digest}`)).status, 404, `${label}: nothing written`);
      expectErr(await api.as(bearer(token)).call('GET', '/api/v1/users'), 401, 'UNAUTHORIZED', `${label} on the API`);
    }
    // the genuine token still works
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(real.token) })).status, 200);
  });

  test('a robot works inside its project and is denied outside it', async () => {
    const robot = await api.ok<{ login: string; secret: string; namespace: string; name: string }>('POST', '/api/v1/robots', { namespace: projA, name: 'ci' }, 201);
    assert.equal(robot.login, `robot$${projA}+ci`);
    await api.bind(projA, 'artifact-writer', { kind: 'robot', name: robot.login });
    const creds = { username: robot.login, password: robot.secret };
    // inside: Basic and through the token flow
    const inside = `${projA}/${uniq('robot-')}`;
    const { res } = await pushBlobAs(creds, inside);
    assert.equal(res.status, 201, res.text);
    const t = await getToken(server.url, creds, [`repository:${inside}:pull,push`, `repository:${projB}/app:pull,push`]);
    assert.deepEqual(actionsFor(t.token, inside), ['pull', 'push']);
    assert.deepEqual(actionsFor(t.token, `${projB}/app`), [], 'nothing outside its project');
    assert.equal(jwtPayload(t.token).sub, robot.login);
    await new AuthRegistry(server.url, bearer(t.token)).pushImage(inside, 'v1');
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`, { auth: creds })).status, 200);
    // outside
    expectErr(await get(`/v2/${projB}/app/manifests/v1`, { auth: creds }), 403, 'DENIED', 'robot pull outside');
    const { res: out, digest } = await pushBlobAs(creds, `${projB}/${uniq('robot-')}`);
    const errors = expectErr(out, 403, 'DENIED', 'robot push outside');
    assert.match(errors[0]!.message, /robot/);
    assert.equal((await head(`/v2/${projB}/app/blobs/${digest}`)).status, 404);
    // it cannot be bound outside its project, even by an admin
    const bad = await api.call('POST', '/api/v1/rolebindings', { name: uniq('rb-'), namespace: projB, role: 'artifact-writer', subject: { kind: 'robot', name: robot.login } });
    expectErr(bad, 400, 'INVALID_ARGUMENT', 'binding a robot outside its namespace');
    const inst = await api.call('POST', '/api/v1/rolebindings', { name: uniq('rb-'), namespace: '', role: 'artifact-reader', subject: { kind: 'robot', name: robot.login } });
    expectErr(inst, 400, 'INVALID_ARGUMENT', 'binding a robot at the instance');
    // a robot has no management rights, and cannot sign in with a password-like guess
    expectErr(await api.as(creds).call('GET', '/api/v1/users'), 403, 'DENIED', 'robot on the API');
    expectErr(await get('/v2/', { auth: { username: robot.login, password: 'guess-guess', }, from: freshAddress() }), 401, 'UNAUTHORIZED', 'robot wrong secret');
    // a deleted robot can no longer sign in, nor use its tokens
    assert.equal((await api.call('DELETE', `/api/v1/robots?namespace=${encodeURIComponent(projA)}&name=ci`)).status, 204);
    expectErr(await get('/v2/', { auth: creds, from: freshAddress() }), 401, 'UNAUTHORIZED', 'deleted robot');
    expectErr(await get(`/v2/${inside}/manifests/v1`, { auth: bearer(t.token) }), 401, 'UNAUTHORIZED', 'token of a deleted robot');
  });

  test('a disabled user can no longer sign in nor use the tokens issued before', async () => {
    const u = await api.user(uniq('disabled-'));
    await api.bind(projA, 'artifact-reader', { kind: 'user', name: u.username });
    const t = await getToken(server.url, u, [`repository:${projA}/app:pull`]);
    assert.equal((await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(t.token) })).status, 200);
    await api.ok('PATCH', `/api/v1/users/${u.username}`, { disabled: true });
    expectErr(await get('/v2/', { auth: u, from: freshAddress() }), 401, 'UNAUTHORIZED', 'disabled user, Basic');
    expectErr(await get(`/v2/${projA}/app/manifests/v1`, { auth: bearer(t.token) }), 401, 'UNAUTHORIZED', 'disabled user, bearer');
  });

  test('removing a role binding removes the right', async () => {
    const u = await api.user(uniq('unbound-'));
    const name = uniq('rb-');
    await api.bind(projB, 'artifact-reader', { kind: 'user', name: u.username }, name);
    assert.equal((await get(`/v2/${projB}/app/manifests/v1`, { auth: u })).status, 200);
    assert.equal((await api.call('DELETE', `/api/v1/rolebindings?namespace=${projB}&name=${name}`)).status, 204);
    expectErr(await get(`/v2/${projB}/app/manifests/v1`, { auth: u }), 403, 'DENIED');
  });

  test('group bindings grant to members only', async () => {
    const member = await api.user(uniq('member-'));
    const outsider = await api.user(uniq('outsider-'));
    const group = uniq('grp-');
    await api.ok('POST', '/api/v1/groups', { name: group }, 201);
    assert.equal((await api.call('PUT', `/api/v1/groups/${group}/members/${member.username}`)).status, 204);
    await api.bind(projB, 'artifact-writer', { kind: 'group', name: group });
    const repo = `${projB}/${uniq('grp-')}`;
    assert.equal((await pushBlobAs(member, repo)).res.status, 201);
    expectErr((await pushBlobAs(outsider, repo)).res, 403, 'DENIED');
  });
});

describe('anonymous access and the catalog', () => {
  let pub: string;
  let priv: string;
  let image: Awaited<ReturnType<TestRegistry['pushImage']>>;

  before(async () => {
    pub = uniq('pubproj');
    priv = uniq('privproj');
    await api.project(pub, false);
    await api.project(priv, false);
    image = await admin.pushImage(`${pub}/app`, 'v1');
    await admin.pushImage(`${priv}/app`, 'v1');
  });

  test('anonymous pull from a project made public works through an anonymous token; a private one does not', async () => {
    // still private: the anonymous token grants nothing
    const before = await getToken(server.url, null, [`repository:${pub}/app:pull`]);
    assert.deepEqual(actionsFor(before.token, `${pub}/app`), []);
    const denied = await get(`/v2/${pub}/app/manifests/v1`, { auth: bearer(before.token) });
    expectErr(denied, 401, 'UNAUTHORIZED', 'anonymous on a private project');

    const patched = await api.call('PATCH', `/api/v1/projects/${pub}`, { public: true });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json(), { name: pub, public: true });
    const listed = (await api.ok<{ projects: { name: string; public: boolean }[] }>('GET', '/api/v1/projects')).projects;
    assert.equal(listed.find((p) => p.name === pub)?.public, true);

    // the client's flow: 401 challenge, anonymous token, retry
    const challenge = await get(`/v2/${pub}/app/manifests/v1`, { auth: null, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const anon = await getToken(server.url, null, [`repository:${pub}/app:pull,push`], { offline_token: 'true' });
    assert.deepEqual(actionsFor(anon.token, `${pub}/app`), ['pull'], 'anonymous gets pull only, never push');
    assert.equal(anon.refresh_token, undefined, 'no refresh token for anonymous');
    assert.equal(jwtPayload(anon.token).hatoba.kind, 'anonymous');
    const m = await get(`/v2/${pub}/app/manifests/v1`, { auth: bearer(anon.token) });
    assert.equal(m.status, 200, m.text);
    assert.equal(m.text, image.bytes);
    assert.equal((await get(`/v2/${pub}/app/blobs/${image.layerDigests[0]}`, { auth: bearer(anon.token) })).status, 200);
    assert.deepEqual((await get(`/v2/${pub}/app/tags/list`, { auth: bearer(anon.token) })).json().tags, ['v1']);
    // without any token the public pull is allowed as well
    assert.equal(challenge.status, 200, `anonymous pull without a token from a public project: ${challenge.status} ${challenge.text}`);

    // anonymous push to the public project: 401 with a challenge, nothing written
    const { res: push, digest } = await pushBlobAs(bearer(anon.token), `${pub}/app`);
    expectErr(push, 401, 'UNAUTHORIZED', 'anonymous push');
    assert.match(String(push.headers['www-authenticate']), new RegExp(`scope="repository:${pub}/app:pull,push"`));
    assert.equal((await head(`/v2/${pub}/app/blobs/${digest}`)).status, 404);
    const { res: push2 } = await pushBlobAs(null, `${pub}/app`);
    expectErr(push2, 401, 'UNAUTHORIZED', 'anonymous push without a token');

    // the private project stays closed
    const privTok = await getToken(server.url, null, [`repository:${priv}/app:pull`]);
    assert.deepEqual(actionsFor(privTok.token, `${priv}/app`), []);
    expectErr(await get(`/v2/${priv}/app/manifests/v1`, { auth: bearer(privTok.token) }), 401, 'UNAUTHORIZED', 'anonymous token on a private project');
    expectErr(await get(`/v2/${priv}/app/manifests/v1`, { auth: null }), 401, 'UNAUTHORIZED', 'no token on a private project');
    // a signed-in user without bindings may pull the public one, not the private one
    const u = await api.user(uniq('plain-'));
    assert.equal((await get(`/v2/${pub}/app/manifests/v1`, { auth: u })).status, 200);
    expectErr(await get(`/v2/${priv}/app/manifests/v1`, { auth: u }), 403, 'DENIED');
    expectErr((await pushBlobAs(u, `${pub}/app`)).res, 403, 'DENIED', 'public does not mean writable');

    // and back to private
    await api.ok('PATCH', `/api/v1/projects/${pub}`, { public: false });
    assert.deepEqual(actionsFor((await getToken(server.url, null, [`repository:${pub}/app:pull`])).token, `${pub}/app`), []);
    // (a token already issued keeps what it was granted until it expires, at most expires_in = 300 s)
    expectErr(await get(`/v2/${pub}/app/manifests/v1`, { auth: null }), 401, 'UNAUTHORIZED', 'private again');
  });

  test('/v2/_catalog lists only the repositories the caller may pull', async () => {
    const u = await api.user(uniq('catalog-'));
    await api.bind(priv, 'artifact-reader', { kind: 'user', name: u.username });
    const all = (await get('/v2/_catalog?n=10000')).json<{ repositories: string[] }>().repositories;
    assert.ok(all.includes(`${pub}/app`) && all.includes(`${priv}/app`), 'the admin sees everything');
    const mine = (await get('/v2/_catalog?n=10000', { auth: u })).json<{ repositories: string[] }>().repositories;
    assert.deepEqual(mine, all.filter((r) => r === priv || r.startsWith(`${priv}/`)), 'the user sees only the project they can read');
    const nobody = await api.user(uniq('nobody-'));
    assert.deepEqual((await get('/v2/_catalog', { auth: nobody })).json().repositories, []);
    // with a bearer token (registry:catalog:*)
    const t = await getToken(server.url, u, ['registry:catalog:*']);
    assert.deepEqual(jwtPayload(t.token).access, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual((await get('/v2/_catalog?n=10000', { auth: bearer(t.token) })).json().repositories, mine);
    // anonymous: 401 (no token grants the catalog to anonymous)
    expectErr(await get('/v2/_catalog', { auth: null }), 401, 'UNAUTHORIZED');
    const anon = await getToken(server.url, null, ['registry:catalog:*']);
    assert.deepEqual(jwtPayload(anon.token).access, []);
    // paging one by one as the user gives exactly the visible repositories, and every page is full
    await admin.pushImage(`${priv}/app2`, 'v1');
    await admin.pushImage(`${priv}/zz/app3`, 'v1');
    const visible = (await get('/v2/_catalog?n=10000', { auth: u })).json<{ repositories: string[] }>().repositories;
    assert.equal(visible.length, 3);
    const paged: string[] = [];
    let next: string | undefined = '/v2/_catalog?n=1';
    while (next) {
      const page = await get(next, { auth: u });
      assert.equal(page.status, 200, page.text);
      const repos = page.json<{ repositories: string[] }>().repositories;
      assert.ok(repos.length === 1 || (repos.length === 0 && paged.length === visible.length), `page ${next}: ${page.text}`);
      paged.push(...repos);
      const link = page.headers.link as string | undefined;
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      assert.ok(paged.length <= visible.length + 1, 'paging does not end');
    }
    assert.deepEqual(paged, visible);
  });
});

describe('Oracle-style sign-in', () => {
  const org = 'ansh81vru1zp';
  let member: Credentials;
  let outsider: Credentials;

  before(async () => {
    await api.ok('POST', '/api/v1/organizations', { name: org }, 201);
    member = await api.user(uniq('oci-'));
    outsider = await api.user(uniq('nonmember-'));
    assert.equal((await api.call('PUT', `/api/v1/organizations/${org}/members/${member.username}`)).status, 204);
    await api.bind(`${org}/project01`, 'artifact-reader', { kind: 'user', name: member.username });
    await api.bind(`${org}/project01`, 'artifact-reader', { kind: 'user', name: outsider.username });
    await admin.pushImage(`${org}/project01/ngnix-lb`, '1.0');
  });

  test('<org>/<user> works for members of the organization only', async () => {
    const asMember = { username: `${org}/${member.username}`, password: member.password };
    assert.equal((await get('/v2/', { auth: asMember })).status, 200);
    assert.equal((await get(`/v2/${org}/project01/ngnix-lb/manifests/1.0`, { auth: asMember })).status, 200);
    const t = await getToken(server.url, asMember, [`repository:${org}/project01/ngnix-lb:pull`]);
    assert.deepEqual(actionsFor(t.token, `${org}/project01/ngnix-lb`), ['pull']);
    assert.equal(jwtPayload(t.token).sub, member.username);
    const posted = await postToken(server.url, { grant_type: 'password', username: asMember.username, password: asMember.password, scope: `repository:${org}/project01/ngnix-lb:pull` });
    assert.equal(posted.status, 200, posted.text);

    const from = freshAddress();
    // a non-member, even with the right password and a binding there
    expectErr(await get('/v2/', { auth: { username: `${org}/${outsider.username}`, password: outsider.password }, from }), 401, 'UNAUTHORIZED', 'non-member');
    // a member under another organization
    expectErr(await get('/v2/', { auth: { username: `otherorg/${member.username}`, password: member.password }, from }), 401, 'UNAUTHORIZED', 'wrong organization');
    // the outsider can still sign in under their plain name
    assert.equal((await get(`/v2/${org}/project01/ngnix-lb/manifests/1.0`, { auth: outsider })).status, 200);
  });

  test('generated auth tokens (with punctuation such as ]{;) work as the Basic password and in the token endpoint', async () => {
    const seen = new Set<string>();
    const tokens: Credentials[] = [];
    // 40 tokens of 24 characters: every punctuation character of the alphabet shows up
    for (let i = 0; i < 40; i++) {
      const t = await api.token(member.username, `oci-${i}`);
      for (const c of t.secret) seen.add(c);
      tokens.push(t);
    }
    for (const c of ']{;)') assert.ok(seen.has(c), `no generated token contains ${c}`);
    for (const c of ':%&+=#') assert.ok(seen.has(c), `no generated token contains ${c}`);
    const repo = `${org}/project01/ngnix-lb`;
    for (const tok of tokens) {
      for (const username of [member.username, `${org}/${member.username}`]) {
        const creds = { username, password: tok.password };
        const label = `${username} with ${JSON.stringify(tok.password)}`;
        assert.equal((await get('/v2/', { auth: creds })).status, 200, `Basic ${label}`);
        const g = await get(tokenUrl([`repository:${repo}:pull`]), { auth: creds });
        assert.equal(g.status, 200, `GET /v2/token ${label}: ${g.text}`);
        const p = await postToken(server.url, { grant_type: 'password', username, password: tok.password, scope: `repository:${repo}:pull` });
        assert.equal(p.status, 200, `POST /v2/token ${label}: ${p.text}`);
        assert.deepEqual(actionsFor(p.json<TokenResponse>().access_token, repo), ['pull'], label);
      }
    }
    // last_used_at is recorded
    const listed = (await api.ok<{ tokens: { name: string; last_used_at: string | null }[] }>('GET', `/api/v1/users/${member.username}/tokens`)).tokens;
    assert.ok(listed.filter((t) => t.name.startsWith('oci-')).every((t) => t.last_used_at !== null));
    // a token is not a wildcard: with one character changed it fails
    const t0 = tokens[0]!.password;
    const changed = `${t0.slice(0, -1)}${t0.endsWith('A') ? 'B' : 'A'}`;
    expectErr(await get('/v2/', { auth: { username: member.username, password: changed }, from: freshAddress() }), 401, 'UNAUTHORIZED');
  });
});

/** The server's current signing key, read from its data directory (master.key) and its database. */
async function serverSigningKey(): Promise<{ kid: string; key: Awaited<ReturnType<typeof importJWK>> }> {
  const masterKey = Buffer.from(readFileSync(join(server.dataDir, 'master.key'), 'utf8').trim(), 'base64');
  const db = await openServerDatabase(server);
  try {
    const row = await db.selectFrom('jwt_keys').select(['kid', 'private_jwk_encrypted']).orderBy('created_at', 'desc').limit(1).executeTakeFirstOrThrow();
    return { kid: row.kid, key: await importJWK(JSON.parse(decryptSecret(masterKey, row.private_jwk_encrypted)) as JWK, 'ES256') };
  } finally {
    await db.destroy();
  }
}

