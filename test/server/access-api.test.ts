// Integration: the management API's own access control, the seeds' flow
// (an instance admin and an organization admin granted by role bindings),
// custom roles, and the audit log of writes and denials.
//
// Run: node --import tsx --test test/server/access-api.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestRegistry, type Credentials } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { actionsFor, Api, AuthRegistry, bearer, call, expectErr, freshAddress, getToken, uniq, type CallOptions } from '../auth/access-helpers.js';

let server: RunningServer;
let api: Api;
let admin: TestRegistry;
const started = Date.now();

before(async () => {
  server = await startServer();
  api = new Api(server.url);
  admin = new TestRegistry(server.url);
});

after(async () => {
  await server?.dispose();
});

const get = (path: string, options?: CallOptions) => call(server.url, 'GET', path, options);

interface AuditEntry {
  id: number;
  at: string;
  principal: string;
  action: string;
  resource: string;
  result: 'allowed' | 'denied';
  remote_addr: string | null;
  detail?: Record<string, unknown>;
}

async function auditOf(query: Record<string, string>): Promise<AuditEntry[]> {
  const q = new URLSearchParams({ limit: '1000', ...query });
  return (await api.ok<{ entries: AuditEntry[] }>('GET', `/api/v1/audit?${q}`)).entries;
}

/** Pushes an image through the token flow (as docker and skopeo do): token for pull,push, then Bearer. */
async function pushWithToken(creds: Credentials, repo: string, tag: string) {
  const t = await getToken(server.url, creds, [`repository:${repo}:pull,push`]);
  assert.deepEqual(actionsFor(t.token, repo), ['pull', 'push'], `${creds.username} should get pull,push on ${repo}`);
  return new AuthRegistry(server.url, bearer(t.token)).pushImage(repo, tag);
}

/** A push attempt that must be denied: the token grants no push, and Basic gets 403 DENIED. */
async function assertCannotPush(creds: Credentials, repo: string): Promise<void> {
  const before = await get(`/v2/${repo}/tags/list`);
  const t = await getToken(server.url, creds, [`repository:${repo}:pull,push`]);
  assert.ok(!actionsFor(t.token, repo).includes('push'), `${creds.username} got push on ${repo}`);
  const res = await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/`, { auth: creds });
  const errors = expectErr(res, 403, 'DENIED', `${creds.username} push to ${repo}`);
  assert.match(errors[0]!.message, /no push right/);
  const bearerRes = await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/`, { auth: bearer(t.token) });
  expectErr(bearerRes, 403, 'DENIED', `${creds.username} push to ${repo} with a token`);
  const after = await get(`/v2/${repo}/tags/list`);
  assert.deepEqual([after.status, after.text], [before.status, before.text], `nothing was written to ${repo}`);
}

describe('the management API guards itself', () => {
  let user: Credentials;
  let other: Credentials;
  before(async () => {
    user = await api.user(uniq('plain-'));
    other = await api.user(uniq('other-'));
  });

  test('anonymous requests are 401, with a challenge browsers do not answer with a password dialog', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/me'],
      ['POST', '/api/v1/users'],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/projects'],
      ['GET', '/api/v1/roles'],
      ['POST', '/api/v1/rolebindings'],
    ] as const) {
      const body = method === 'POST' ? JSON.stringify(path.endsWith('users') ? { username: 'sneaky', password: 'sneaky-password' } : { name: 'x', role: 'artifact-reader', subject: { kind: 'user', name: 'sneaky' } }) : undefined;
      const res = await call(server.url, method, path, { auth: null, body, headers: body ? { 'content-type': 'application/json' } : {} });
      expectErr(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
      assert.equal(res.headers['www-authenticate'], 'Hatoba realm="hatoba"', `${method} ${path}`);
    }
    assert.equal((await api.call('GET', '/api/v1/users/sneaky')).status, 404, 'no user was created');
  });

  test('wrong credentials on the API are 401', async () => {
    expectErr(await api.as({ username: user.username, password: 'wrong-password' }).call('GET', '/api/v1/me', undefined, freshAddress()), 401, 'UNAUTHORIZED');
  });

  test('a user who is not an admin: 403 DENIED for everything administrative, nothing changes', async () => {
    const as = api.as(user);
    const me = await as.ok('GET', '/api/v1/me');
    assert.deepEqual(me, { principal: { kind: 'user', username: user.username, via: 'password' } });
    const denied: [string, string, unknown?][] = [
      ['GET', '/api/v1/users'],
      ['POST', '/api/v1/users', { username: uniq('made-'), password: 'made-password' }],
      ['GET', `/api/v1/users/${other.username}`],
      ['PATCH', `/api/v1/users/${other.username}`, { password: 'taken-over-password' }],
      ['DELETE', `/api/v1/users/${other.username}`],
      ['GET', `/api/v1/users/${other.username}/tokens`],
      ['POST', `/api/v1/users/${other.username}/tokens`, { name: 'stolen' }],
      ['PATCH', `/api/v1/users/${user.username}`, { disabled: false }],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/rolebindings'],
      ['POST', '/api/v1/rolebindings', { name: 'selfgrant', role: 'system-artifact-management-admin', subject: { kind: 'user', name: user.username } }],
      ['POST', '/api/v1/rolebindings', { name: 'selfgrant2', namespace: 'anything', role: 'artifact-writer', subject: { kind: 'user', name: user.username } }],
      ['POST', '/api/v1/projects', { name: uniq('proj') }],
      ['POST', '/api/v1/organizations', { name: uniq('org') }],
      ['POST', '/api/v1/robots', { namespace: 'anything', name: 'bot' }],
      ['POST', '/api/v1/groups', { name: uniq('grp') }],
      ['POST', '/api/v1/roles', { name: uniq('role-'), verbs: ['push'] }],
      ['GET', '/api/v1/organizations'],
      ['GET', '/api/v1/groups'],
    ];
    for (const [method, path, body] of denied) {
      const errors = expectErr(await as.call(method, path, body), 403, 'DENIED', `${method} ${path}`);
      assert.match(errors[0]!.message, /you need the (admin|read-audit) right on/, `${method} ${path}`);
    }
    // nothing happened
    assert.equal((await api.ok<{ rolebindings: unknown[] }>('GET', `/api/v1/rolebindings`)).rolebindings.some((b) => (b as { name: string }).name.startsWith('selfgrant')), false);
    assert.equal((await get('/v2/', { auth: other })).status, 200, "the other user's password is unchanged");
    assert.deepEqual((await api.ok<{ tokens: unknown[] }>('GET', `/api/v1/users/${other.username}/tokens`)).tokens, []);
    // what the user may do: read roles and projects, manage their own tokens and password
    assert.ok((await as.ok<{ roles: { name: string }[] }>('GET', '/api/v1/roles')).roles.some((r) => r.name === 'artifact-reader'));
    await as.ok('GET', '/api/v1/projects');
    const res = await as.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'mine', expiresInDays: 30 });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const tok = res.json<{ id: string; secret: string; expires_at: string }>();
    assert.ok(Date.parse(tok.expires_at) > Date.now() + 29 * 86_400_000);
    const mine = (await as.ok<{ tokens: Record<string, unknown>[] }>('GET', `/api/v1/users/${user.username}/tokens`)).tokens;
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.secret, undefined, 'the secret is shown once, never listed');
    assert.equal(JSON.stringify(mine).includes(tok.secret), false);
    // signed in with the token, the user is "via token"
    assert.equal((await api.as({ username: user.username, password: tok.secret }).ok('GET', '/api/v1/me')).principal.via, 'token');
    // registry bearer tokens are scoped to repositories: the management API refuses them
    const t = await getToken(server.url, user, []);
    expectErr(await api.as(bearer(t.token)).call('GET', '/api/v1/me'), 401, 'UNAUTHORIZED', 'bearer on the API');
    expectErr(await api.as(bearer(t.token)).call('GET', '/api/v1/users'), 401, 'UNAUTHORIZED', 'bearer on the API');
  });

  test('changing a password takes effect at once (no stale cached password)', async () => {
    const u = await api.user(uniq('changer-'));
    assert.equal((await get('/v2/', { auth: u })).status, 200, 'the old password, now cached');
    await api.as(u).ok('PATCH', `/api/v1/users/${u.username}`, { password: 'the-new-password' });
    expectErr(await get('/v2/', { auth: u, from: freshAddress() }), 401, 'UNAUTHORIZED', 'old password after the change');
    assert.equal((await get('/v2/', { auth: { username: u.username, password: 'the-new-password' } })).status, 200);
  });

  test('a deleted user can no longer sign in, even with a password verified a moment ago', async () => {
    const u = await api.user(uniq('deleted-'));
    assert.equal((await get('/v2/', { auth: u })).status, 200);
    const t = await getToken(server.url, u, [], { offline_token: 'true' });
    assert.equal((await api.call('DELETE', `/api/v1/users/${u.username}`)).status, 204);
    expectErr(await get('/v2/', { auth: u, from: freshAddress() }), 401, 'UNAUTHORIZED', 'deleted user, Basic');
    expectErr(await get('/v2/', { auth: bearer(t.token) }), 401, 'UNAUTHORIZED', 'deleted user, bearer');
    // a new user of the same name is someone else: the old tokens do not become theirs
    const again = await api.user(u.username, 'another-password');
    await api.bind('reborn', 'artifact-writer', { kind: 'user', name: again.username });
    expectErr(await get('/v2/', { auth: bearer(t.token) }), 401, 'UNAUTHORIZED', 'old bearer token after re-creation');
    const refreshed = await call(server.url, 'POST', '/v2/token', {
      auth: null,
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t.refresh_token!, scope: 'repository:reborn/app:pull,push' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(refreshed.status, 401, `old refresh token after re-creation: ${refreshed.text}`);
    assert.equal(refreshed.json().error, 'invalid_grant');
    expectErr(await get('/v2/', { auth: u, from: freshAddress() }), 401, 'UNAUTHORIZED', 'old password for the new user');
  });

  test('input is validated', async () => {
    expectErr(await api.call('POST', '/api/v1/users', { username: 'a/b', password: 'long-enough' }), 400, 'INVALID_ARGUMENT', 'slash in a user name');
    expectErr(await api.call('POST', '/api/v1/users', { username: 'robot$x+y', password: 'long-enough' }), 400, 'INVALID_ARGUMENT', 'robot$ user name');
    expectErr(await api.call('POST', '/api/v1/users', { username: uniq('short-'), password: 'short' }), 400, 'INVALID_ARGUMENT', 'short password');
    expectErr(await api.call('POST', '/api/v1/users', { username: 'admin', password: 'long-enough' }), 409, 'CONFLICT', 'existing user');
    expectErr(await api.call('POST', '/api/v1/users', { username: uniq('extra-'), password: 'long-enough', admin: true }), 400, 'INVALID_ARGUMENT', 'unknown field');
    expectErr(await api.call('POST', '/api/v1/rolebindings', { name: uniq('rb-'), namespace: 'system', role: 'system-artifact-management-admin', subject: { kind: 'user', name: user.username } }), 400, 'INVALID_ARGUMENT', 'system admin role in a namespace');
    expectErr(await api.call('POST', '/api/v1/rolebindings', { name: uniq('rb-'), namespace: 'notanorg', role: 'organization-system-artifact-management-admin', subject: { kind: 'user', name: user.username } }), 400, 'INVALID_ARGUMENT', 'org admin role outside an organization');
    expectErr(await api.call('POST', '/api/v1/rolebindings', { name: uniq('rb-'), role: 'no-such-role', subject: { kind: 'user', name: user.username } }), 404, 'NOT_FOUND', 'unknown role');
    expectErr(await api.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'x', expiresInDays: 0 }), 400, 'INVALID_ARGUMENT', 'expiresInDays 0');
    expectErr(await api.call('POST', `/api/v1/users/${user.username}/tokens`, { name: 'x', expiresInDays: -1 }), 400, 'INVALID_ARGUMENT', 'negative expiresInDays');
  });
});

describe("the seeds' flow", () => {
  test('an admin binds system-artifact-management-admin to a user, who then pushes to system/oracle_db', async () => {
    const ops = await api.user(uniq('sysops-'));
    await assertCannotPush(ops, 'system/oracle_db');
    const binding = await api.ok<{ name: string; namespace: string; role: string; subject: { kind: string; name: string } }>(
      'POST',
      '/api/v1/rolebindings',
      { name: `sysops-${ops.username}`, role: 'system-artifact-management-admin', subject: { kind: 'user', name: ops.username } },
      201,
    );
    assert.deepEqual({ ...binding, created_at: undefined }, { name: `sysops-${ops.username}`, namespace: '', role: 'system-artifact-management-admin', subject: { kind: 'user', name: ops.username }, created_at: undefined });
    const listed = (await api.ok<{ rolebindings: { name: string; namespace: string }[] }>('GET', '/api/v1/rolebindings?namespace=')).rolebindings;
    assert.ok(listed.some((b) => b.name === binding.name && b.namespace === ''));

    // with a personal auth token, as a CI job would
    const tok = await api.as(ops).token(ops.username, 'ci');
    const image = await pushWithToken(tok, 'system/oracle_db', '19.3.0');
    const pulled = await get('/v2/system/oracle_db/manifests/19.3.0', { auth: tok, headers: { accept: image.manifest.mediaType } });
    assert.equal(pulled.status, 200);
    assert.equal(pulled.text, image.bytes);
    // and with Basic credentials straight to /v2/
    await new TestRegistry(server.url, ops).pushImage('system/oracle_db', '19.3.1');
    // the instance admin role covers everything, including administration
    await pushWithToken(ops, uniq('anywhere/else-'), 'v1');
    await api.as(ops).ok('GET', '/api/v1/users');
  });

  test('an organization admin pushes inside its organization only', async () => {
    const org = 'ansh81vru1zp';
    await api.ok('POST', '/api/v1/organizations', { name: org }, 201);
    await api.ok('POST', '/api/v1/organizations', { name: `${org}2` }, 201);
    await api.project(`${org}/project01`);
    const tenant = await api.user(uniq('tenantadm-'));
    assert.equal((await api.call('PUT', `/api/v1/organizations/${org}/members/${tenant.username}`)).status, 204);
    await api.bind(org, 'organization-system-artifact-management-admin', { kind: 'user', name: tenant.username });
    // Oracle style: <tenancy-namespace>/<user> with a generated auth token (api: it also administers)
    const tok = await api.token(tenant.username, 'docker-login', ['pull', 'push', 'api']);
    const login = { username: `${org}/${tenant.username}`, password: tok.password };

    await pushWithToken(login, `${org}/project01/ngnix-lb`, '1.0');
    await pushWithToken(login, `${org}/project01/ngnix-lb`, '1.1');
    await pushWithToken(login, `${org}/project02/app`, 'v1');
    const tags = await get(`/v2/${org}/project01/ngnix-lb/tags/list`, { auth: login });
    assert.deepEqual(tags.json().tags.sort(), ['1.0', '1.1']);

    await assertCannotPush(login, 'system/oracle_db');
    await assertCannotPush(login, `${org}2/project01/app`);
    await assertCannotPush(login, `${org}x/app`);
    await assertCannotPush(tenant, uniq('other/app-'));
    expectErr(await get(`/v2/system/oracle_db/manifests/19.3.0`, { auth: login }), 403, 'DENIED', 'no pull outside either');

    // administration inside the organization, not outside
    const as = api.as(login);
    await as.ok('POST', '/api/v1/projects', { name: `${org}/project03` }, 201);
    const robot = await as.ok<{ login: string }>('POST', '/api/v1/robots', { namespace: `${org}/project01`, name: 'deployer' }, 201);
    const dev = await api.user(uniq('dev-'));
    await as.ok('POST', '/api/v1/rolebindings', { name: 'dev', namespace: `${org}/project01`, role: 'artifact-writer', subject: { kind: 'user', name: dev.username } }, 201);
    await as.ok('POST', '/api/v1/rolebindings', { name: 'deployer', namespace: `${org}/project01`, role: 'artifact-reader', subject: { kind: 'robot', name: robot.login } }, 201);
    assert.equal((await as.call('PUT', `/api/v1/organizations/${org}/members/${dev.username}`)).status, 204);
    for (const [method, path, body] of [
      ['POST', '/api/v1/projects', { name: 'system/stolen' }],
      ['POST', '/api/v1/projects', { name: `${org}2/project01` }],
      ['POST', '/api/v1/rolebindings', { name: 'escalate', role: 'system-artifact-management-admin', subject: { kind: 'user', name: dev.username } }],
      ['POST', '/api/v1/rolebindings', { name: 'escalate', namespace: 'system', role: 'artifact-writer', subject: { kind: 'user', name: dev.username } }],
      ['POST', '/api/v1/rolebindings', { name: 'escalate', namespace: `${org}2`, role: 'organization-system-artifact-management-admin', subject: { kind: 'user', name: tenant.username } }],
      ['POST', '/api/v1/robots', { namespace: 'system', name: 'bot' }],
      ['PUT', `/api/v1/organizations/${org}2/members/${dev.username}`, undefined],
      ['GET', '/api/v1/users', undefined],
      ['GET', '/api/v1/audit', undefined],
    ] as const) {
      expectErr(await as.call(method, path, body), 403, 'DENIED', `org admin: ${method} ${path} ${JSON.stringify(body ?? '')}`);
    }
    // the developer the org admin bound can push in project01 only
    await pushWithToken(dev, `${org}/project01/dev-app`, 'v1');
    await assertCannotPush(dev, `${org}/project02/dev-app`);
  });
});

describe('custom roles', () => {
  test('a custom role with read-audit lets its holder read the audit log, and nothing else', async () => {
    const auditor = await api.user(uniq('auditor-'));
    await api.ok('POST', '/api/v1/roles', { name: 'auditor', verbs: ['read-audit'], description: 'reads the audit log' }, 201);
    await api.bind('', 'auditor', { kind: 'user', name: auditor.username });
    await api.as(auditor).ok('GET', '/api/v1/audit?limit=5');
    expectErr(await api.as(auditor).call('GET', '/api/v1/users'), 403, 'DENIED');
    await assertCannotPush(auditor, uniq('audited/app-'));
    expectErr(await get(`/v2/system/oracle_db/manifests/19.3.0`, { auth: auditor }), 403, 'DENIED', 'no pull');
    // a bound role cannot be deleted; a built-in one never
    expectErr(await api.call('DELETE', '/api/v1/roles/auditor'), 409, 'CONFLICT');
    expectErr(await api.call('DELETE', '/api/v1/roles/artifact-reader'), 400, 'INVALID_ARGUMENT');
    expectErr(await api.call('POST', '/api/v1/roles', { name: 'bad', verbs: ['fly'] }), 400, 'INVALID_ARGUMENT');
  });

  test('a custom pull+delete role at a namespace', async () => {
    const janitor = await api.user(uniq('janitor-'));
    const ns = uniq('cleanup');
    const image = await admin.pushImage(`${ns}/app`, 'old');
    await api.ok('POST', '/api/v1/roles', { name: 'janitor', verbs: ['pull', 'delete'] }, 201);
    await api.bind(ns, 'janitor', { kind: 'user', name: janitor.username });
    const t = await getToken(server.url, janitor, [`repository:${ns}/app:pull,push,delete`]);
    assert.deepEqual(actionsFor(t.token, `${ns}/app`), ['pull', 'delete']);
    await assertCannotPush(janitor, `${ns}/app2`);
    const del = await call(server.url, 'DELETE', `/v2/${ns}/app/manifests/${image.digest}`, { auth: bearer(t.token) });
    assert.equal(del.status, 202, del.text);
    assert.equal((await get(`/v2/${ns}/app/manifests/old`)).status, 404);
  });
});

describe('the audit log', () => {
  test('has the writes and the denials, with principal, action, resource, result and address; filters by principal and time', async () => {
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const who = await api.user(uniq('audited-'));
    const bindingName = uniq('rb-');
    await api.bind('auditns', 'artifact-writer', { kind: 'user', name: who.username }, bindingName);
    const image = await pushWithToken(who, 'auditns/app', 'v1');
    const denied = await call(server.url, 'POST', '/v2/system/oracle_db/blobs/uploads/', { auth: who });
    expectErr(denied, 403, 'DENIED');
    expectErr(await api.as(who).call('GET', '/api/v1/users'), 403, 'DENIED');
    const badFrom = freshAddress();
    expectErr(await get('/v2/', { auth: { username: who.username, password: 'not-it-at-all' }, from: badFrom }), 401, 'UNAUTHORIZED');
    expectErr(await get('/v2/', { auth: bearer('a.b.c') }), 401, 'UNAUTHORIZED');

    // the user's own entries
    const mine = await auditOf({ principal: who.username, since });
    assert.ok(mine.length > 0);
    for (const e of mine) {
      assert.equal(e.principal, who.username);
      assert.ok(Date.parse(e.at) >= Date.parse(since), `${e.at} before since ${since}`);
      assert.ok(e.remote_addr === '127.0.0.1' || e.remote_addr === badFrom, `remote_addr ${e.remote_addr}`);
      assert.ok(e.result === 'allowed' || e.result === 'denied');
    }
    const find = (pred: (e: AuditEntry) => boolean, what: string) => {
      const e = mine.find(pred);
      assert.ok(e, `no audit entry for ${what} in ${JSON.stringify(mine, null, 1)}`);
      return e;
    };
    const manifest = find((e) => e.action === 'manifest.push', 'manifest.push');
    assert.deepEqual({ resource: manifest.resource, result: manifest.result, remote_addr: manifest.remote_addr }, { resource: 'auditns/app:v1', result: 'allowed', remote_addr: '127.0.0.1' });
    assert.equal(manifest.detail?.digest, image.digest);
    for (const digest of [image.configDigest, ...image.layerDigests]) find((e) => e.action === 'blob.push' && e.resource === `auditns/app@${digest}` && e.result === 'allowed', `blob.push ${digest}`);
    const push = find((e) => e.action === 'push' && e.result === 'denied', 'the denied push');
    assert.equal(push.resource, 'system/oracle_db');
    assert.equal(push.remote_addr, '127.0.0.1');
    const apiDenied = find((e) => e.action === 'api.admin' && e.result === 'denied', 'the denied API call');
    assert.equal(apiDenied.resource, '(instance)');
    const signIn = find((e) => e.action === 'authenticate' && e.result === 'denied', 'the failed sign-in');
    assert.equal(signIn.remote_addr, badFrom);
    assert.equal(signIn.resource, '/v2/');

    // the admin's writes
    const adminEntries = await auditOf({ principal: 'admin', since });
    assert.ok(adminEntries.some((e) => e.action === 'user.create' && e.resource === who.username && e.result === 'allowed' && e.remote_addr === '127.0.0.1'), 'user.create');
    const rb = adminEntries.find((e) => e.action === 'rolebinding.create' && e.resource === `auditns/${bindingName}`);
    assert.ok(rb, 'rolebinding.create');
    assert.deepEqual(rb.detail, { role: 'artifact-writer', subject: { kind: 'user', name: who.username } });
    assert.ok(adminEntries.every((e) => e.principal === 'admin'));

    // bad bearer tokens are recorded under "unknown"
    const unknown = await auditOf({ principal: 'unknown', since });
    assert.ok(unknown.some((e) => e.action === 'authenticate' && e.result === 'denied' && typeof e.detail?.reason === 'string'));

    // time filters: newest first; since in the future is empty; until before the start is empty
    const all = await auditOf({ since });
    assert.ok(all.length >= mine.length + adminEntries.length);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.id > all[i]!.id, 'newest first');
    assert.deepEqual(await auditOf({ since: new Date(Date.now() + 60_000).toISOString() }), []);
    assert.deepEqual(await auditOf({ principal: who.username, until: since }), []);
    assert.deepEqual(await auditOf({ principal: who.username, since: String(Date.parse(since)) }), mine, 'since in Unix milliseconds');
    expectErr(await api.call('GET', '/api/v1/audit?since=yesterday-ish'), 400, 'INVALID_ARGUMENT');
    // paging
    const page = await api.ok<{ entries: AuditEntry[]; next?: number }>('GET', `/api/v1/audit?since=${encodeURIComponent(since)}&limit=2`);
    assert.equal(page.entries.length, 2);
    assert.equal(page.next, page.entries[1]!.id);
    const page2 = await api.ok<{ entries: AuditEntry[] }>('GET', `/api/v1/audit?since=${encodeURIComponent(since)}&limit=2&before=${page.next}`);
    assert.deepEqual(page2.entries.map((e) => e.id), all.slice(2, 4).map((e) => e.id));
  });

  test('the whole run so far is recorded from the server start', async () => {
    const entries = await auditOf({ since: String(started - 60_000), principal: 'admin' });
    assert.ok(entries.some((e) => e.action === 'rolebinding.create' && e.detail?.role === 'system-artifact-management-admin'));
    assert.ok(entries.some((e) => e.action === 'organization.create' && e.resource === 'ansh81vru1zp'));
    assert.ok(entries.some((e) => e.action === 'project.create'));
    assert.ok(entries.some((e) => e.action === 'token.create'));
  });
});


describe('credentials that must stop working', () => {
  test('a refresh token from a password sign-in ends when the password changes', async () => {
    const u = await api.user(uniq('stamp-'));
    const { postToken } = await import('../auth/access-helpers.js');
    const first = await postToken(server.url, { grant_type: 'password', username: u.username, password: u.password, service: 'hatoba', client_id: 'test' });
    assert.equal(first.status, 200, first.text);
    const refresh = first.json<{ refresh_token: string }>().refresh_token;
    const again = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh, service: 'hatoba', client_id: 'test' });
    assert.equal(again.status, 200, again.text);
    await api.ok('PATCH', `/api/v1/users/${u.username}`, { password: 'a-brand-new-password' });
    const after = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh, service: 'hatoba', client_id: 'test' });
    assert.equal(after.status, 401, after.text);
    assert.equal(after.json<{ error: string }>().error, 'invalid_grant');
  });

  test('an auth token alone cannot change the password', async () => {
    const u = await api.user(uniq('takeover-'));
    const t = await api.token(u.username);
    expectErr(await api.as(t).call('PATCH', `/api/v1/users/${u.username}`, { password: 'attacker-chosen-pw' }), 403, 'DENIED', 'token changes password');
    // the real password still works, and may change it
    await api.as(u).ok('PATCH', `/api/v1/users/${u.username}`, { password: 'owner-chosen-password' });
  });
});
