// Unit tests: authorize() and sign-in over an in-memory SQLite identity
// store, built through Accounts as the API builds it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kysely } from 'kysely';
import { Accounts } from '../../src/auth/accounts.js';
import { AuthenticationError, Authenticator } from '../../src/auth/authenticate.js';
import { Authorizer } from '../../src/auth/authorize.js';
import { ANONYMOUS, type Principal } from '../../src/auth/principal.js';
import { ADDRESS_BUDGET, InMemorySignInThrottle, PAIR_BUDGET } from '../../src/auth/rate-limit.js';
import { openSqlite } from '../../src/db/connect.js';
import { IdentityStore } from '../../src/db/identity.js';
import type { Database } from '../../src/db/schema.js';

let db: Kysely<Database>;
let accounts: Accounts;
let authz: Authorizer;
let authn: Authenticator;
const users: Record<string, Principal> = {};
let robot: Principal;
let robotSecret: string;
let tokenSecret: string;
let tokenId: string;

async function user(name: string): Promise<Principal> {
  await accounts.createUser({ username: name, password: `${name}-password` });
  const row = await accounts.user(name);
  return { kind: 'user', id: row.id, username: name, via: 'password' };
}

before(async () => {
  db = await openSqlite(':memory:');
  const store = new IdentityStore(db);
  accounts = new Accounts(store);
  await accounts.ensureBuiltinRoles();
  authz = new Authorizer(store);
  authn = new Authenticator(store);
  for (const name of ['root', 'orgadmin', 'reader', 'writer', 'grouped', 'nobody']) users[name] = await user(name);
  await accounts.createOrganization('acme');
  await accounts.setOrganizationMember('acme', 'orgadmin', true);
  await accounts.createProject('acme/project01', false);
  await accounts.createProject('pub', true);
  await accounts.createRoleBinding({ name: 'root', namespace: '', role: 'system-artifact-management-admin', subject: { kind: 'user', name: 'root' } });
  await accounts.createRoleBinding({ name: 'orgadmin', namespace: 'acme', role: 'organization-system-artifact-management-admin', subject: { kind: 'user', name: 'orgadmin' } });
  await accounts.createRoleBinding({ name: 'reader', namespace: 'acme/project01', role: 'artifact-reader', subject: { kind: 'user', name: 'reader' } });
  await accounts.createRoleBinding({ name: 'writer', namespace: 'team', role: 'artifact-writer', subject: { kind: 'user', name: 'writer' } });
  await accounts.createGroup('devs');
  await accounts.setGroupMember('devs', 'grouped', true);
  await accounts.createRoleBinding({ name: 'devs', namespace: 'team/app', role: 'artifact-writer', subject: { kind: 'group', name: 'devs' } });
  const r = await accounts.createRobot({ namespace: 'acme/project01', name: 'ci' });
  robotSecret = r.secret;
  await accounts.createRoleBinding({ name: 'ci', namespace: 'acme/project01', role: 'artifact-writer', subject: { kind: 'robot', name: r.login } });
  robot = { kind: 'robot', id: (await store.robotByName('acme/project01', 'ci'))!.id, namespace: 'acme/project01', name: 'ci' };
  const t = await accounts.createToken('reader', { name: 'laptop' });
  tokenSecret = t.secret;
  tokenId = t.id;
});

after(async () => {
  await db.destroy();
});

async function verbs(p: Principal, resource: string): Promise<string[]> {
  return [...(await authz.allowedVerbs(p, resource))].sort();
}

test('the instance-wide admin role covers every repository and the instance', async () => {
  const all = ['admin', 'delete', 'pull', 'push', 'read-audit', 'sign'];
  assert.deepEqual(await verbs(users.root!, 'system/oracle_db'), all);
  assert.deepEqual(await verbs(users.root!, 'acme/project01/x'), all);
  assert.deepEqual(await verbs(users.root!, ''), all);
});

test('the organization admin role covers its organization only', async () => {
  assert.equal(await authz.authorize(users.orgadmin!, 'push', 'acme/project01/ngnix-lb'), true);
  assert.equal(await authz.authorize(users.orgadmin!, 'push', 'acme/other/app'), true);
  assert.equal(await authz.authorize(users.orgadmin!, 'push', 'acme2/app'), false);
  assert.equal(await authz.authorize(users.orgadmin!, 'push', 'system/oracle_db'), false);
  assert.equal(await authz.authorize(users.orgadmin!, 'admin', ''), false);
});

test('a reader pulls inside its project only, and never pushes', async () => {
  assert.deepEqual(await verbs(users.reader!, 'acme/project01/app'), ['pull']);
  assert.deepEqual(await verbs(users.reader!, 'acme/project02/app'), []);
  assert.deepEqual(await verbs(users.reader!, 'acme/project01'), ['pull'], 'the project namespace itself');
  assert.deepEqual(await verbs(users.reader!, 'acme'), [], 'a binding does not apply above its namespace');
});

test('a writer binding at a namespace that is no project still applies below it', async () => {
  assert.deepEqual(await verbs(users.writer!, 'team/app'), ['pull', 'push']);
  assert.deepEqual(await verbs(users.writer!, 'teams/app'), []);
});

test('group bindings apply to members', async () => {
  assert.deepEqual(await verbs(users.grouped!, 'team/app/web'), ['pull', 'push']);
  assert.deepEqual(await verbs(users.grouped!, 'team/other'), []);
  assert.deepEqual(await verbs(users.nobody!, 'team/app/web'), []);
});

test('public projects: anyone pulls, nobody else gets more', async () => {
  assert.deepEqual(await verbs(ANONYMOUS, 'pub/app'), ['pull']);
  assert.deepEqual(await verbs(users.nobody!, 'pub/app'), ['pull']);
  assert.deepEqual(await verbs(ANONYMOUS, 'pub'), ['pull']);
  assert.deepEqual(await verbs(ANONYMOUS, 'pubx/app'), []);
  assert.deepEqual(await verbs(ANONYMOUS, 'acme/project01/app'), []);
  assert.deepEqual(await verbs(ANONYMOUS, ''), []);
});

test('a robot acts inside its namespace only', async () => {
  assert.deepEqual(await verbs(robot, 'acme/project01/app'), ['pull', 'push']);
  assert.deepEqual(await verbs(robot, 'acme/project02/app'), []);
  assert.deepEqual(await verbs(robot, 'acme'), []);
  assert.deepEqual(await verbs(robot, ''), []);
  assert.deepEqual(await verbs(robot, 'pub/app'), ['pull'], 'public projects are public to robots too');
});

test('a robot cannot be bound outside its namespace', async () => {
  await assert.rejects(
    accounts.createRoleBinding({ name: 'escape', namespace: 'acme', role: 'artifact-writer', subject: { kind: 'robot', name: 'robot$acme/project01+ci' } }),
    /only be bound inside its namespace/,
  );
  await assert.rejects(accounts.createRoleBinding({ name: 'escape2', namespace: '', role: 'artifact-reader', subject: { kind: 'robot', name: 'robot$acme/project01+ci' } }));
});

test('the built-in admin roles are bound where they belong', async () => {
  await assert.rejects(accounts.createRoleBinding({ name: 'x', namespace: 'system', role: 'system-artifact-management-admin', subject: { kind: 'user', name: 'nobody' } }), /bound at the instance/);
  await assert.rejects(accounts.createRoleBinding({ name: 'x', namespace: 'acme/project01', role: 'organization-system-artifact-management-admin', subject: { kind: 'user', name: 'nobody' } }), /organization/);
  await assert.rejects(accounts.createRoleBinding({ name: 'x', namespace: 'nosuchorg', role: 'organization-system-artifact-management-admin', subject: { kind: 'user', name: 'nobody' } }), /organization/);
});

test('a principal signed in with an auth token holds at most its scopes', async () => {
  const root = users.root as Extract<Principal, { kind: 'user' }>;
  const all = ['admin', 'delete', 'pull', 'push', 'read-audit', 'sign'];
  const viaToken = (scopes?: ('pull' | 'push' | 'api')[]): Principal => ({ ...root, via: 'token', tokenId: 'x', scopes });
  assert.deepEqual(await verbs(root, 'system/app'), all);
  assert.deepEqual(await verbs(viaToken(['pull']), 'system/app'), ['pull']);
  assert.deepEqual(await verbs(viaToken(['pull', 'push']), 'system/app'), ['delete', 'pull', 'push', 'sign']);
  assert.deepEqual(await verbs(viaToken(['api']), ''), ['admin', 'read-audit']);
  assert.deepEqual(await verbs(viaToken(['pull', 'push', 'api']), 'system/app'), all);
  assert.deepEqual(await verbs(viaToken(undefined), 'system/app'), [], 'a token principal without scopes holds nothing');
  assert.equal(await authz.authorize(viaToken(['pull', 'push']), 'admin', ''), false);
  const decide = await authz.decider(viaToken(['pull']));
  assert.equal(decide('pull', 'acme/project01/x'), true);
  assert.equal(decide('push', 'acme/project01/x'), false);
  // Scopes never add: a reader's api token is no admin.
  const reader = users.reader as Extract<Principal, { kind: 'user' }>;
  assert.deepEqual(await verbs({ ...reader, via: 'token', tokenId: 'y', scopes: ['pull', 'push', 'api'] }, 'acme/project01/x'), ['pull']);
});

test('sign-in: password, auth token, <org>/<user>, robot', async () => {
  const addr = '192.0.2.1';
  assert.equal((await authn.basic('reader', 'reader-password', addr)).kind, 'user');
  const viaToken = await authn.basic('reader', tokenSecret, addr);
  const { credentialStamp, ...rest } = viaToken as Extract<Principal, { kind: 'user' }>;
  assert.deepEqual(rest, { kind: 'user', id: (users.reader as { id: number }).id, username: 'reader', via: 'token', tokenId, scopes: ['pull', 'push'] });
  assert.equal(typeof credentialStamp, 'string');
  assert.equal((await authn.basic('acme/orgadmin', 'orgadmin-password', addr)).kind, 'user');
  const r = await authn.basic('robot$acme/project01+ci', robotSecret, addr);
  assert.deepEqual(r, robot);
});

test('sign-in failures: wrong password, <org>/<user> for a non-member, empty secret, unknown robot', async () => {
  const fresh = new Authenticator(new IdentityStore(db));
  const addr = '192.0.2.2';
  for (const [login, secret] of [
    ['reader', 'wrong-password'],
    ['acme/reader', 'reader-password'],
    ['other/orgadmin', 'orgadmin-password'],
    ['reader', ''],
    ['robot$acme/project01+nope', robotSecret],
    ['robot$acme/project01+ci', 'wrong'],
    ['nosuchuser', 'whatever-password'],
  ] as const) {
    await assert.rejects(fresh.basic(login, secret, addr), (e: unknown) => e instanceof AuthenticationError && e.reason === 'invalid', `${login}`);
  }
});

test('a revoked auth token no longer signs in or resolves', async () => {
  const t = await accounts.createToken('writer', { name: 'temp' });
  const id = (users.writer as { id: number }).id;
  assert.equal((await authn.basic('writer', t.secret, '192.0.2.3')).kind, 'user');
  assert.ok(await authn.resolve({ kind: 'user', id, tokenId: t.id, name: 'writer' }));
  await accounts.revokeToken('writer', t.id);
  await assert.rejects(authn.basic('writer', t.secret, '192.0.2.3'), AuthenticationError);
  assert.equal(await authn.resolve({ kind: 'user', id, tokenId: t.id, name: 'writer' }), undefined);
  assert.ok(await authn.resolve({ kind: 'user', id, name: 'writer' }), 'the user without the token still resolves');
});

test('an expired auth token no longer signs in or resolves', async () => {
  const store = new IdentityStore(db);
  const id = (users.writer as { id: number }).id;
  const { hashSecret } = await import('../../src/auth/secrets.js');
  await store.createAuthToken({ id: 'expired-token', user_id: id, name: 'old', secret_hash: hashSecret('old-secret-]{;)'), scopes: 'pull push', parent_id: null, created_at: Date.now() - 10_000, expires_at: Date.now() - 1_000 });
  await assert.rejects(authn.basic('writer', 'old-secret-]{;)', '192.0.2.4'), AuthenticationError);
  assert.equal(await authn.resolve({ kind: 'user', id, tokenId: 'expired-token', name: 'writer' }), undefined);
});

test('repeated failures are throttled per (user name, address) and per address, never for the name everywhere', async () => {
  const limited = new Authenticator(new IdentityStore(db), new InMemorySignInThrottle({ ...PAIR_BUDGET, freeFailures: 3 }));
  for (let i = 0; i < 3; i++) {
    await assert.rejects(limited.basic('nobody', 'bad', '198.51.100.1'), (e: unknown) => e instanceof AuthenticationError && e.reason === 'invalid');
  }
  await assert.rejects(limited.basic('nobody', 'nobody-password', '198.51.100.1'), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError);
    assert.equal(e.reason, 'throttled');
    assert.ok(e.retryAfterSeconds! > 0 && e.retryAfterSeconds! <= 60);
    return true;
  });
  assert.equal((await limited.basic('nobody', 'nobody-password', '198.51.100.9')).kind, 'user', 'the right password from an address that has not failed');
  // the address that failed is throttled for other users as well
  const byAddr = new Authenticator(new IdentityStore(db), new InMemorySignInThrottle(PAIR_BUDGET, { ...ADDRESS_BUDGET, freeFailures: 2 }));
  await assert.rejects(byAddr.basic('a1', 'x', '203.0.113.5'));
  await assert.rejects(byAddr.basic('a2', 'x', '203.0.113.5'));
  await assert.rejects(byAddr.basic('reader', 'reader-password', '203.0.113.5'), (e: unknown) => e instanceof AuthenticationError && e.reason === 'throttled');
  assert.equal((await byAddr.basic('reader', 'reader-password', '203.0.113.6')).kind, 'user');
});
