// A bearer token's rights on a repository are the union of all its entries
// for it. containerd asks the token endpoint for several scopes on one
// repository (`repository:R:pull` and `repository:R:pull,push`, with the
// OAuth2 password grant); the JWT lists both, and the check used to read
// only the first, so `ctr images push` got insufficient_scope.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, AuthRegistry, bearer, call, expectErr, formBody, freshAddress, getToken, jwtPayload, postToken, uniq } from '../auth/access-helpers.js';
import { sha256 } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let api: Api;
before(async () => {
  server = await startServer();
  api = new Api(server.url);
});
after(() => server.dispose());

test('a token with entries `pull` and `pull,push` for one repository may push there (containerd)', async () => {
  const ns = uniq('scopes');
  const writer = await api.user(uniq('writer-'));
  await api.bind(ns, 'artifact-writer', { kind: 'user', name: writer.username });
  const repo = `${ns}/app`;
  // containerd's request: POST form, password grant, the two scopes as separate fields.
  const res = await call(server.url, 'POST', '/v2/token', {
    auth: null,
    body: formBody({ grant_type: 'password', username: writer.username, password: writer.password, service: 'hatoba', client_id: 'containerd-client', scope: [`repository:${repo}:pull`, `repository:${repo}:pull,push`] }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(res.status, 200, res.text);
  const token = res.json<{ access_token: string }>().access_token;
  const access = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).access as { name: string; actions: string[] }[];
  assert.deepEqual(
    access.filter((a) => a.name === repo).map((a) => a.actions),
    [['pull'], ['pull', 'push']],
    'the token lists both entries, as they were asked for',
  );

  const reg = new AuthRegistry(server.url, bearer(token));
  const data = `blob for ${repo}`;
  const pushed = await reg.request(`/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
  assert.equal(pushed.status, 201, `push with the union of entries: ${pushed.status} ${await pushed.text()}`);
  assert.equal((await reg.request(`/v2/${repo}/blobs/${sha256(data)}`, { method: 'HEAD' })).status, 200);
});

test('the union grants nothing that no entry grants: pull-only entries still cannot push', async () => {
  const ns = uniq('scopes');
  const reader = await api.user(uniq('reader-'));
  await api.bind(ns, 'artifact-reader', { kind: 'user', name: reader.username });
  const repo = `${ns}/app`;
  const res = await call(server.url, 'POST', '/v2/token', {
    auth: null,
    body: formBody({ grant_type: 'password', username: reader.username, password: reader.password, scope: [`repository:${repo}:pull`, `repository:${repo}:pull,push`] }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(res.status, 200, res.text);
  const token = res.json<{ access_token: string }>().access_token;
  const data = `refused blob for ${repo}`;
  const refused = await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { auth: bearer(token), body: data });
  expectErr(refused, 403, 'DENIED');
  assert.equal((await call(server.url, 'HEAD', `/v2/${repo}/blobs/${sha256(data)}`)).status, 404, 'nothing was stored');
});

// --- docker login's identity token on the management API --------------------------
//
// docker login keeps only the refresh token /v2/token gave its sign-in (the
// "identity token"). A client holding it trades it, with the OAuth2
// refresh_token grant, for an access token for `registry:api:*`, which
// /api/v1 takes; its holder has token rights (at most an auth token's
// scopes pull, push and api), never the password's.

/** What `docker login` keeps: the refresh token of a sign-in with these credentials. */
async function dockerLogin(creds: { username: string; password: string }): Promise<string> {
  const t = await getToken(server.url, creds, [], { offline_token: 'true', client_id: 'docker' });
  assert.ok(t.refresh_token, 'an identity token');
  return t.refresh_token;
}

/** The refresh_token grant for the management API's scope. */
function exchange(identityToken: string, scope = 'registry:api:*') {
  return postToken(server.url, { grant_type: 'refresh_token', refresh_token: identityToken, service: 'hatoba', client_id: 'hatoba-cli', scope });
}

/** The management API as the holder of an identity token. */
async function apiWith(identityToken: string): Promise<Api> {
  const res = await exchange(identityToken);
  assert.equal(res.status, 200, res.text);
  const body = res.json<{ access_token: string; refresh_token: string }>();
  assert.equal(body.refresh_token, identityToken, 'the refresh grant answers the same refresh token, not a longer-lived one');
  assert.deepEqual(jwtPayload(body.access_token).access, [{ type: 'registry', name: 'api', actions: ['*'] }]);
  return api.as(bearer(body.access_token));
}

async function admin(): Promise<{ username: string; password: string }> {
  const u = await api.user(uniq('idadmin-'));
  await api.bind('', 'system-artifact-management-admin', { kind: 'user', name: u.username });
  return u;
}

test('after docker login, the identity token runs admin commands with token rights, and is audited', async () => {
  const u = await admin();
  const as = await apiWith(await dockerLogin(u));
  const me = (await as.ok<{ principal: { username: string; via: string; scopes: string[] } }>('GET', '/api/v1/me')).principal;
  assert.deepEqual(me, { kind: 'user', username: u.username, via: 'identity-token', scopes: ['pull', 'push', 'api'] });
  const project = uniq('idproj');
  await as.ok('POST', '/api/v1/projects', { name: project }, 201);
  assert.ok((await as.ok<{ projects: { name: string }[] }>('GET', '/api/v1/projects')).projects.some((p) => p.name === project));
  const audit = (await api.ok<{ entries: { action: string; resource: string; principal: string; detail?: { credential?: string } }[] }>('GET', `/api/v1/audit?principal=${u.username}`)).entries;
  assert.ok(
    audit.some((e) => e.action === 'project.create' && e.resource === project && e.detail?.credential === 'identity token'),
    `the write is audited under the user, naming the credential: ${JSON.stringify(audit)}`,
  );
});

test('only an access token for registry:api:* opens the API: not the identity token itself, nor a password sign-in’s token', async () => {
  const u = await admin();
  const identityToken = await dockerLogin(u);
  // The refresh token goes to the token endpoint only (distribution's scope.md).
  expectErr(await api.as(bearer(identityToken)).call('GET', '/api/v1/me'), 401, 'UNAUTHORIZED', 'the refresh token as a bearer');
  expectErr(await api.as({ username: '<token>', password: identityToken }).call('GET', '/api/v1/me', undefined, freshAddress()), 401, 'UNAUTHORIZED', 'the refresh token as Basic');
  // Repository scopes only: refused, as before.
  const repoOnly = (await exchange(identityToken, 'repository:x/y:pull')).json<{ access_token: string }>().access_token;
  expectErr(await api.as(bearer(repoOnly)).call('GET', '/api/v1/me'), 401, 'UNAUTHORIZED', 'a repository-scoped token');
  // A password sign-in has Basic for the API; a bearer token would carry the password's rights.
  const byPassword = await getToken(server.url, u, ['registry:api:*']);
  assert.deepEqual(jwtPayload(byPassword.token).access, [], 'no api entry for a password sign-in');
  expectErr(await api.as(bearer(byPassword.token)).call('GET', '/api/v1/me'), 401, 'UNAUTHORIZED', 'a password sign-in’s token');
});

test('an identity token cannot change the password', async () => {
  const u = await admin();
  const as = await apiWith(await dockerLogin(u));
  const errors = expectErr(await as.call('PATCH', `/api/v1/users/${u.username}`, { password: 'taken-over-Pa55' }), 403, 'DENIED', 'own password');
  assert.match(errors[0]!.message, /identity token/);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: u })).status, 200, 'the password is unchanged');
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: u.username, password: 'taken-over-Pa55' }, from: freshAddress() })).status, 401);
  const audit = (await api.ok<{ entries: { action: string; result: string; detail?: { via?: string } }[] }>('GET', `/api/v1/audit?principal=${u.username}`)).entries;
  assert.ok(audit.some((e) => e.action === 'api.account' && e.result === 'denied' && e.detail?.via === 'identity-token'), 'the refusal is audited');
  // What an api token may do, it may: its e-mail.
  await as.ok('PATCH', `/api/v1/users/${u.username}`, { email: `${u.username}@example.com` });
});

test('an identity token mints no token that outlives it or is wider than it', async () => {
  const u = await admin();
  const as = await apiWith(await dockerLogin(u));
  const path = `/api/v1/users/${u.username}/tokens`;
  expectErr(await as.call('POST', path, { name: 'a-year', expiresInDays: 365 }), 400, 'INVALID_ARGUMENT', 'longer than the identity token');
  const inside = await as.ok<{ expires_at: string; scopes: string[]; parent: string | null }>('POST', path, { name: 'a-week', expiresInDays: 7 }, 201);
  assert.deepEqual(inside.scopes, ['pull', 'push']);
  const unbounded = await as.ok<{ expires_at: string | null }>('POST', path, { name: 'no-expiry-asked', scopes: ['pull', 'push', 'api'] }, 201);
  assert.ok(unbounded.expires_at !== null, 'without expiresInDays it expires with the identity token');
  assert.ok(Date.parse(unbounded.expires_at) <= Date.now() + 30 * 86_400_000 + 60_000, unbounded.expires_at);

  // docker login with an auth token: the identity token has that token's scopes, rules and life.
  const pat = await api.token(u.username, uniq('pat-'), ['pull', 'api']);
  const viaPat = await apiWith(await dockerLogin(pat));
  assert.deepEqual((await viaPat.ok<{ principal: { via: string; scopes: string[] } }>('GET', '/api/v1/me')).principal.scopes, ['pull', 'api']);
  expectErr(await viaPat.call('POST', path, { name: 'wider', scopes: ['pull', 'push'] }), 403, 'DENIED', 'a scope the auth token lacks');
  const child = await viaPat.ok<{ parent: string | null; scopes: string[] }>('POST', path, { name: 'narrower', scopes: ['pull'] }, 201);
  assert.equal(child.parent, pat.id, 'revoked with the auth token docker login signed in with');
  // Without the api scope, no admin right and no token management, whatever the roles.
  const pullOnly = await api.token(u.username, uniq('pat-'), ['pull']);
  const viaPullOnly = await apiWith(await dockerLogin(pullOnly));
  expectErr(await viaPullOnly.call('GET', '/api/v1/users'), 403, 'DENIED', 'admin without the api scope');
  expectErr(await viaPullOnly.call('POST', path, { name: 'x', scopes: ['pull'] }), 403, 'DENIED', 'managing tokens without the api scope');
});

for (const [what, end] of [
  ['a password reset with revokeTokens', (u: string) => api.ok('PATCH', `/api/v1/users/${u}`, { password: 'reset-by-admin-Pa55', revokeTokens: true })],
  ['revokeTokens alone, without a new password', (u: string) => api.ok('PATCH', `/api/v1/users/${u}`, { revokeTokens: true })],
  ['disabling the user (also after enabling again)', async (u: string) => {
    await api.ok('PATCH', `/api/v1/users/${u}`, { disabled: true });
    await api.ok('PATCH', `/api/v1/users/${u}`, { disabled: false });
  }],
] as const) {
  test(`identity tokens stop working after ${what}`, async () => {
    const u = await admin();
    const pat = await api.token(u.username, uniq('pat-'), ['pull', 'push', 'api']);
    const fromPassword = await dockerLogin(u);
    const fromToken = await dockerLogin(pat);
    const sessions = [await apiWith(fromPassword), await apiWith(fromToken)];
    for (const as of sessions) await as.ok('GET', '/api/v1/users');
    await end(u.username);
    for (const [i, identityToken] of [fromPassword, fromToken].entries()) {
      const res = await exchange(identityToken);
      assert.equal(res.status, 401, `identity token ${i}: ${res.text}`);
      assert.equal(res.json().error, 'invalid_grant');
      expectErr(await sessions[i]!.call('GET', '/api/v1/users'), 401, 'UNAUTHORIZED', `access token ${i} issued before`);
    }
  });
}
