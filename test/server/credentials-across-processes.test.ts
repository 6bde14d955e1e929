// What one process learns about a credential, the others learn at once:
// two servers on one data directory (as --workers processes are, and as
// nodes on one database will be). A password changed or a user disabled
// through one is refused by the other, whatever it had cached.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Api, bearer, call, expectErr, getToken, uniq } from '../auth/access-helpers.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let dataDir: string;
let a: RunningServer;
let b: RunningServer;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hatoba-two-'));
  a = await startServer({ dataDir });
  b = await startServer({ dataDir });
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('a password changed on one process is refused by the other, though it had just verified it', async () => {
  const u = await new Api(a.url).user(uniq('moved-'));
  assert.equal((await call(b.url, 'GET', '/v2/', { auth: u })).status, 200, 'B verified (and cached) the password');
  await new Api(a.url).as(u).ok('PATCH', `/api/v1/users/${u.username}`, { password: 'the-new-password' });
  expectErr(await call(b.url, 'GET', '/v2/', { auth: u }), 401, 'UNAUTHORIZED', 'old password on B after the change on A');
  assert.equal((await call(b.url, 'GET', '/v2/', { auth: { username: u.username, password: 'the-new-password' } })).status, 200);
});

test('a user disabled on one process loses their bearer token on the other', async () => {
  const api = new Api(a.url);
  const u = await api.user(uniq('off-'));
  const t = await getToken(b.url, u, []);
  assert.equal((await call(b.url, 'GET', '/v2/', { auth: bearer(t.token) })).status, 200);
  assert.equal((await call(b.url, 'GET', '/v2/', { auth: u })).status, 200);
  await api.ok('PATCH', `/api/v1/users/${u.username}`, { disabled: true });
  expectErr(await call(b.url, 'GET', '/v2/', { auth: bearer(t.token) }), 401, 'UNAUTHORIZED', 'bearer on B after disable on A');
  expectErr(await call(b.url, 'GET', '/v2/', { auth: u }), 401, 'UNAUTHORIZED', 'password on B after disable on A');
});
