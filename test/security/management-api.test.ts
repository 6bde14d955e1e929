// Security: the management API (/api/v1) against cross-site form posts,
// anonymous and cross-tenant listing, leaked personal auth tokens, and
// client mistakes that used to be 500s. One describe per item of issue 9;
// each asserts the exact status and code and that nothing changed.
//
// Run: npm test -- test/security/management-api
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import type { Credentials } from '../helpers/registry-client.js';
import { actionsFor, Api, bearer, call, expectErr, freshAddress, getToken, postToken, uniq, type HttpResult } from '../auth/access-helpers.js';

const CONSOLE = 'https://console.example.com';
let server: RunningServer;
let api: Api;

before(async () => {
  server = await startServer({ env: { HATOBA_API_ALLOWED_ORIGINS: `${CONSOLE}, https://other.example.org:8443` } });
  api = new Api(server.url);
});

after(async () => {
  await server?.dispose();
});

const bindingNames = async () => (await api.ok<{ rolebindings: { namespace: string; name: string }[] }>('GET', '/api/v1/rolebindings')).rolebindings.map((b) => `${b.namespace}/${b.name}`).sort();

describe('cross-site requests', () => {
  test('a text/plain form post with cached credentials creates no role binding; a foreign Origin is refused; 401 has no Basic challenge', async () => {
    const victim = await api.user(uniq('victim-'));
    const before = await bindingNames();
    const grant = JSON.stringify({ name: uniq('xsite-'), role: 'system-artifact-management-admin', subject: { kind: 'user', name: victim.username } });
    // What a browser sends for <form enctype="text/plain"> on evil.example, with the admin's cached Basic credentials.
    const fromEvil = await call(server.url, 'POST', '/api/v1/rolebindings', { body: grant, headers: { 'content-type': 'text/plain', origin: 'https://evil.example' } });
    expectErr(fromEvil, 403, 'DENIED', 'foreign origin');
    // The same without an Origin header (old browsers, some redirects): the media type alone stops it.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain; charset=application/json']) {
      expectErr(await call(server.url, 'POST', '/api/v1/rolebindings', { body: grant, headers: { 'content-type': type } }), 415, 'UNSUPPORTED', type);
    }
    expectErr(await call(server.url, 'POST', '/api/v1/rolebindings', { body: grant }), 415, 'UNSUPPORTED', 'no content type');
    // Origin "null" (sandboxed frames, file:) and lookalikes are foreign too, on every method.
    for (const origin of ['null', `${server.url}.evil.example`, server.url.replace('http:', 'https:'), 'http://localhost']) {
      expectErr(await call(server.url, 'POST', '/api/v1/rolebindings', { body: grant, headers: { 'content-type': 'application/json', origin } }), 403, 'DENIED', origin);
    }
    expectErr(await call(server.url, 'GET', '/api/v1/users', { headers: { origin: 'https://evil.example' } }), 403, 'DENIED', 'foreign GET');
    assert.deepEqual(await bindingNames(), before, 'no role binding was created');
    const audit = await api.ok<{ entries: { action: string; result: string; detail?: { origin?: string } }[] }>('GET', '/api/v1/audit?limit=50');
    assert.ok(audit.entries.some((e) => e.action === 'api.origin' && e.result === 'denied' && e.detail?.origin === 'https://evil.example'), 'the refusal is audited');

    // The registry's own origin and the configured ones work.
    for (const origin of [server.url, CONSOLE, 'https://other.example.org:8443']) {
      const res = await call(server.url, 'GET', '/api/v1/me', { headers: { origin } });
      assert.equal(res.status, 200, `${origin}: ${res.text}`);
    }
    const made = await call(server.url, 'POST', '/api/v1/groups', { body: JSON.stringify({ name: uniq('grp-') }), headers: { 'content-type': 'application/json; charset=utf-8', origin: CONSOLE } });
    assert.equal(made.status, 201, made.text);

    // No challenge that browsers answer with a password dialog (and then cache).
    const anonymous = await call(server.url, 'GET', '/api/v1/me', { auth: null });
    expectErr(anonymous, 401, 'UNAUTHORIZED');
    assert.equal(anonymous.headers['www-authenticate'], 'Hatoba realm="hatoba"');
    const wrong = await call(server.url, 'GET', '/api/v1/me', { auth: { username: victim.username, password: 'wrong-password' }, from: freshAddress() });
    expectErr(wrong, 401, 'UNAUTHORIZED');
    assert.ok(!/^basic/i.test(String(wrong.headers['www-authenticate'] ?? '')), `no Basic challenge: ${wrong.headers['www-authenticate']}`);
  });
});

test('api_allowed_origins: a list in the file, comma-separated in the environment, origins only', () => {
  assert.deepEqual(loadConfig({ env: {} }).apiAllowedOrigins, []);
  assert.deepEqual(loadConfig({ env: { HATOBA_API_ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080/' } }).apiAllowedOrigins, ['https://a.example', 'http://b.example:8080']);
  assert.deepEqual(loadConfig({ env: {}, flags: { api_allowed_origins: ['https://c.example:443'] } }).apiAllowedOrigins, ['https://c.example']);
  for (const bad of ['https://a.example/console', 'not a url', 'https://a.example/?x=1']) {
    assert.throws(() => loadConfig({ env: { HATOBA_API_ALLOWED_ORIGINS: bad } }), (err: unknown) => err instanceof ConfigError && /api_allowed_origins/.test(err.message), bad);
  }
});

describe('listing', () => {
  test('bearer tokens (the anonymous one too) are refused on /api/v1; lists show only what the caller may see', async () => {
    const anon = await getToken(server.url, null, []);
    for (const path of ['/api/v1/projects', '/api/v1/roles', '/api/v1/me', '/api/v1/users']) {
      const res = await call(server.url, 'GET', path, { auth: bearer(anon.token) });
      expectErr(res, 401, 'UNAUTHORIZED', `anonymous bearer ${path}`);
      assert.doesNotMatch(res.text, /"projects"|"roles"/);
    }
    const tenantA = await api.user(uniq('tenant-a-'));
    const tenantB = await api.user(uniq('tenant-b-'));
    const [projA, projB, pub] = [uniq('private-a'), uniq('private-b'), uniq('public-')];
    await api.project(projA);
    await api.project(projB);
    await api.project(pub, true);
    await api.bind(projA, 'artifact-reader', { kind: 'user', name: tenantA.username });
    await api.bind(`${projB}/team`, 'project-admin', { kind: 'user', name: tenantB.username });
    await api.bind(projB, 'artifact-writer', { kind: 'user', name: tenantB.username });
    const robot = await api.ok<{ login: string; secret: string }>('POST', '/api/v1/robots', { namespace: projA, name: 'ci' }, 201);
    await api.bind(projA, 'artifact-reader', { kind: 'robot', name: robot.login });

    const signedIn = await getToken(server.url, tenantA, [`repository:${projA}/app:pull`]);
    expectErr(await call(server.url, 'GET', '/api/v1/projects', { auth: bearer(signedIn.token) }), 401, 'UNAUTHORIZED', "a user's bearer token");

    const visible = async (auth: Credentials) => (await api.as(auth).ok<{ projects: { name: string }[] }>('GET', '/api/v1/projects')).projects.map((p) => p.name).filter((n) => [projA, projB, pub].includes(n)).sort();
    assert.deepEqual(await visible(tenantA), [projA, pub].sort(), 'tenant A');
    assert.deepEqual(await visible(tenantB), [projB, pub].sort(), 'tenant B');
    assert.deepEqual(await visible({ username: robot.login, password: robot.secret }), [projA, pub].sort(), 'robot of A');
    const outsider = await api.user(uniq('outsider-'));
    assert.deepEqual(await visible(outsider), [pub], 'a user without bindings sees the public project only');
    assert.deepEqual(await visible(api.auth as Credentials), [projA, projB, pub].sort(), 'the instance admin sees them all');
  });
});

describe('leaked personal auth tokens', () => {
  let user: Credentials;
  let repo: string;
  before(async () => {
    user = await api.user(uniq('owner-'));
    repo = `${uniq('scoped')}/app`;
    await api.bind(repo.split('/')[0]!, 'project-admin', { kind: 'user', name: user.username });
  });
  /** The tokens as listed, without last_used_at (which signing in with them moves). */
  const tokensOf = async (username: string) =>
    (await api.ok<{ tokens: { id: string; name: string; revoked: boolean; scopes: string[]; parent: string | null; expires_at: string | null; last_used_at?: string | null }[] }>('GET', `/api/v1/users/${username}/tokens`)).tokens.map(
      ({ last_used_at: _, ...t }) => t,
    );

  test('a default (pull, push) token cannot mint tokens, manage tokens, change the e-mail or administer', async () => {
    const created = await api.as(user).ok<{ id: string; secret: string; scopes: string[] }>('POST', `/api/v1/users/${user.username}/tokens`, { name: 'ci' }, 201);
    assert.deepEqual(created.scopes, ['pull', 'push']);
    const leaked = { username: user.username, password: created.secret };
    const before = await tokensOf(user.username);
    const email = (await api.ok<{ email: string | null }>('GET', `/api/v1/users/${user.username}`)).email;
    const as = api.as(leaked);
    for (const [method, path, body] of [
      ['POST', `/api/v1/users/${user.username}/tokens`, { name: 'successor', expiresInDays: 3650 }],
      ['GET', `/api/v1/users/${user.username}/tokens`, undefined],
      ['DELETE', `/api/v1/users/${user.username}/tokens/${before[0]!.id}`, undefined],
      ['PATCH', `/api/v1/users/${user.username}`, { email: 'attacker@evil.example' }],
      ['PATCH', `/api/v1/users/${user.username}`, { revokeTokens: true }],
      ['PATCH', `/api/v1/users/${user.username}`, { password: 'attacker-password' }],
      ['POST', '/api/v1/rolebindings', { name: 'more', namespace: repo.split('/')[0], role: 'artifact-reader', subject: { kind: 'user', name: user.username } }],
    ] as const) {
      expectErr(await as.call(method, path, body), 403, 'DENIED', `${method} ${path} ${JSON.stringify(body ?? '')}`);
    }
    assert.deepEqual(await tokensOf(user.username), before, 'no token created or revoked');
    assert.equal((await api.ok<{ email: string | null }>('GET', `/api/v1/users/${user.username}`)).email, email, 'e-mail unchanged');
    // It still does what it is for: pull and push, but not what its scopes lack.
    assert.deepEqual(actionsFor((await getToken(server.url, leaked, [`repository:${repo}:pull,push,delete`])).token, repo), ['pull', 'push', 'delete']);
    const pullOnly = await api.as(user).ok<{ secret: string }>('POST', `/api/v1/users/${user.username}/tokens`, { name: 'puller', scopes: ['pull'] }, 201);
    const puller = { username: user.username, password: pullOnly.secret };
    assert.deepEqual(actionsFor((await getToken(server.url, puller, [`repository:${repo}:pull,push`])).token, repo), ['pull'], 'bearer tokens are narrowed to the scopes');
    expectErr(await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/`, { auth: puller }), 403, 'DENIED', 'Basic push with a pull token');
  });

  test('an api token mints no token wider or longer-lived than itself, and what it minted dies with it', async () => {
    const parent = await api.as(user).ok<{ id: string; secret: string; expires_at: string }>('POST', `/api/v1/users/${user.username}/tokens`, { name: 'admin-tool', scopes: ['pull', 'api'], expiresInDays: 30 }, 201);
    const asParent = api.as({ username: user.username, password: parent.secret });
    const before = await tokensOf(user.username);
    expectErr(await asParent.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'wider', scopes: ['pull', 'push'] }), 403, 'DENIED', 'wider');
    expectErr(await asParent.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'wider' }), 403, 'DENIED', 'default scopes are wider than pull,api');
    expectErr(await asParent.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'longer', scopes: ['pull'], expiresInDays: 3650 }), 400, 'INVALID_ARGUMENT', 'longer-lived');
    assert.deepEqual(await tokensOf(user.username), before, 'nothing was created');
    const child = await asParent.ok<{ id: string; secret: string; parent: string; expires_at: string; scopes: string[] }>('POST', `/api/v1/users/${user.username}/tokens`, { name: 'child', scopes: ['pull', 'api'] }, 201);
    assert.equal(child.parent, parent.id);
    assert.equal(child.expires_at, parent.expires_at, 'without an expiry it expires with its parent');
    const grandchild = await api.as({ username: user.username, password: child.secret }).ok<{ secret: string; parent: string }>('POST', `/api/v1/users/${user.username}/tokens`, { name: 'grandchild', scopes: ['pull'] }, 201);
    assert.equal(grandchild.parent, child.id);
    assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password: grandchild.secret } })).status, 200);
    const refresh = await postToken(server.url, { grant_type: 'password', username: user.username, password: grandchild.secret, service: 'hatoba', scope: `repository:${repo}:pull` });
    assert.equal(refresh.status, 200, refresh.text);

    // Revoking the parent (with the password) revokes the whole line.
    assert.equal((await api.as(user).call('DELETE', `/api/v1/users/${user.username}/tokens/${parent.id}`)).status, 204);
    for (const secret of [parent.secret, child.secret, grandchild.secret]) {
      expectErr(await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password: secret }, from: freshAddress() }), 401, 'UNAUTHORIZED', 'a revoked line');
    }
    const again = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh.json().refresh_token, service: 'hatoba' });
    assert.equal(again.status, 401, `the grandchild's refresh token: ${again.text}`);
    const listed = await tokensOf(user.username);
    assert.deepEqual(
      listed.filter((t) => ['admin-tool', 'child', 'grandchild'].includes(t.name)).map((t) => [t.name, t.revoked]),
      [['admin-tool', true], ['child', true], ['grandchild', true]],
    );
  });

  test('a password reset can revoke every token; without it the tokens stay', async () => {
    const u = await api.user(uniq('reset-'));
    const keep = await api.token(u.username, 'keep');
    await api.ok('PATCH', `/api/v1/users/${u.username}`, { password: `${u.password}-2` });
    assert.equal((await call(server.url, 'GET', '/v2/', { auth: keep })).status, 200, 'a plain password change keeps the tokens');
    const minted = await api.as({ username: u.username, password: `${u.password}-2` }).ok<{ secret: string }>('POST', `/api/v1/users/${u.username}/tokens`, { name: 'api', scopes: ['api', 'pull'] }, 201);
    const fromApi = await api.as({ username: u.username, password: minted.secret }).ok<{ secret: string }>('POST', `/api/v1/users/${u.username}/tokens`, { name: 'from-api', scopes: ['pull'] }, 201);
    const res = await api.call('PATCH', `/api/v1/users/${u.username}`, { password: `${u.password}-3`, revokeTokens: true });
    assert.equal(res.status, 200, res.text);
    for (const password of [keep.password, minted.secret, fromApi.secret]) {
      expectErr(await call(server.url, 'GET', '/v2/', { auth: { username: u.username, password }, from: freshAddress() }), 401, 'UNAUTHORIZED', 'after the reset');
    }
    assert.ok((await tokensOf(u.username)).every((t) => t.revoked), 'all revoked');
    assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: u.username, password: `${u.password}-3` } })).status, 200, 'the new password works');
  });

  test('enabling a disabled user does not bring back the bearer and refresh tokens issued before', async () => {
    const u = await api.user(uniq('disabled-'));
    await api.bind(repo.split('/')[0]!, 'artifact-reader', { kind: 'user', name: u.username });
    const tok = await api.token(u.username, 'laptop');
    const issued: { label: string; access: string; refresh: string }[] = [];
    for (const [label, password] of [['password', u.password], ['auth token', tok.password]] as const) {
      const r = await postToken(server.url, { grant_type: 'password', username: u.username, password, service: 'hatoba', scope: `repository:${repo}:pull` });
      assert.equal(r.status, 200, r.text);
      issued.push({ label, access: r.json().access_token, refresh: r.json().refresh_token });
    }
    const probe = (access: string) => call(server.url, 'GET', `/v2/${repo}/tags/list`, { auth: bearer(access) });
    for (const t of issued) assert.notEqual((await probe(t.access)).status, 401, `${t.label} bearer works before`);
    await api.ok('PATCH', `/api/v1/users/${u.username}`, { disabled: true });
    await api.ok('PATCH', `/api/v1/users/${u.username}`, { disabled: false });
    for (const t of issued) {
      expectErr(await probe(t.access), 401, 'UNAUTHORIZED', `${t.label} bearer after re-enabling`);
      const r = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: t.refresh, service: 'hatoba' });
      assert.equal(r.status, 401, `${t.label} refresh after re-enabling: ${r.text}`);
      assert.equal(r.json().error, 'invalid_grant');
    }
    // Signing in again works: password and the (not revoked) auth token.
    for (const password of [u.password, tok.password]) {
      const r = await postToken(server.url, { grant_type: 'password', username: u.username, password, service: 'hatoba', scope: `repository:${repo}:pull` });
      assert.equal(r.status, 200, r.text);
      assert.notEqual((await probe(r.json().access_token)).status, 401);
    }
  });
});

describe('client mistakes are 4xx, never 500', () => {
  const routes: [string, string][] = [
    ['GET', '/api/v1/me'],
    ['GET', '/api/v1/users'],
    ['POST', '/api/v1/users'],
    ['GET', '/api/v1/users/admin'],
    ['PATCH', '/api/v1/users/admin'],
    ['DELETE', '/api/v1/users/nobody'],
    ['GET', '/api/v1/users/admin/tokens'],
    ['POST', '/api/v1/users/admin/tokens'],
    ['DELETE', '/api/v1/users/admin/tokens/none'],
    ['GET', '/api/v1/robots'],
    ['POST', '/api/v1/robots'],
    ['DELETE', '/api/v1/robots'],
    ['GET', '/api/v1/groups'],
    ['POST', '/api/v1/groups'],
    ['DELETE', '/api/v1/groups/none'],
    ['PUT', '/api/v1/groups/none/members/admin'],
    ['DELETE', '/api/v1/groups/none/members/admin'],
    ['GET', '/api/v1/organizations'],
    ['POST', '/api/v1/organizations'],
    ['DELETE', '/api/v1/organizations/none'],
    ['PUT', '/api/v1/organizations/none/members/admin'],
    ['DELETE', '/api/v1/organizations/none/members/admin'],
    ['GET', '/api/v1/projects'],
    ['POST', '/api/v1/projects'],
    ['PATCH', '/api/v1/projects/none'],
    ['DELETE', '/api/v1/projects/none'],
    ['GET', '/api/v1/roles'],
    ['POST', '/api/v1/roles'],
    ['DELETE', '/api/v1/roles/none'],
    ['GET', '/api/v1/rolebindings'],
    ['POST', '/api/v1/rolebindings'],
    ['DELETE', '/api/v1/rolebindings'],
    ['GET', '/api/v1/audit'],
    ['GET', '/api/v1/jwks'],
  ];
  const queries = ['?namespace=a&namespace=b', '?name=a&name=b&namespace=x', '?limit=-5', '?limit=abc', '?limit=1e999', '?limit=0', '?before=abc', '?before=-1', '?since=a&since=b', '?principal=a&principal=b', '?since=99999999999999999999'];
  const JSON_TYPE = { 'content-type': 'application/json' };
  const bodies: [string, Record<string, string>, string | Buffer, number][] = [
    ['malformed JSON', JSON_TYPE, '{"name":', 400],
    ['text/plain', { 'content-type': 'text/plain' }, '{"name":"x"}', 415],
    ['no content type', {}, '{"name":"x"}', 415],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=x', 415],
    ['2 MiB', JSON_TYPE, Buffer.alloc(2 * 1024 * 1024, 32), 413],
    ['null', JSON_TYPE, 'null', 400],
    ['deep nesting', JSON_TYPE, `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 400],
  ];

  test('every route, with repeated parameters, bad limits, wrong bodies: no 500, exact answers where it matters', async () => {
    const fivehundreds: string[] = [];
    let probes = 0;
    const check = (label: string, res: HttpResult) => {
      probes += 1;
      if (res.status >= 500) fivehundreds.push(`${label} -> ${res.status}`);
    };
    for (const [method, path] of routes) {
      for (const q of queries) check(`${method} ${path}${q}`, await call(server.url, method, `${path}${q}`));
      if (method === 'GET') continue;
      for (const [label, headers, body] of bodies) check(`${method} ${path} [${label}]`, await call(server.url, method, path, { headers, body }));
    }
    console.log(`probed ${probes} requests on ${routes.length} routes; 500s: ${fivehundreds.length}`);
    assert.deepEqual(fivehundreds, []);

    // The exact answers.
    for (const path of ['/api/v1/robots?namespace=a&namespace=b', '/api/v1/rolebindings?namespace=a&namespace=b', '/api/v1/audit?principal=a&principal=b']) {
      expectErr(await call(server.url, 'GET', path), 400, 'INVALID_ARGUMENT', path);
    }
    expectErr(await call(server.url, 'DELETE', '/api/v1/rolebindings?name=a&name=b&namespace=x'), 400, 'INVALID_ARGUMENT', 'repeated name on DELETE');
    for (const limit of ['-5', 'abc', '0', '1001', '1e3', '1.5']) {
      const errors = expectErr(await call(server.url, 'GET', `/api/v1/audit?limit=${limit}`), 400, 'INVALID_ARGUMENT', `limit=${limit}`);
      assert.match(errors[0]!.message, /limit must be a whole number from 1 to 1000/);
    }
    assert.equal((await api.ok<{ entries: unknown[] }>('GET', '/api/v1/audit?limit=1')).entries.length, 1);
    const groups = async () => (await api.ok<{ groups: { name: string }[] }>('GET', '/api/v1/groups')).groups.length;
    const groupsBefore = await groups();
    for (const [label, headers, body, status] of bodies) {
      const res = await call(server.url, 'POST', '/api/v1/groups', { headers, body });
      const code = status === 415 ? 'UNSUPPORTED' : 'INVALID_ARGUMENT';
      expectErr(res, status, code, label);
    }
    assert.equal(await groups(), groupsBefore, 'no group was created by a refused body');
    // A PATCH that changes nothing is not an error.
    assert.equal((await api.call('PATCH', '/api/v1/users/admin', {})).status, 200);
  });
});
