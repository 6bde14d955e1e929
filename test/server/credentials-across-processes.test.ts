// What one process learns about a credential, the others learn at once:
// two servers on one data directory (as --workers processes are, and as
// nodes on one database will be). A password changed or a user disabled
// through one is refused by the other, whatever it had cached.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, bearer, call, expectErr, freshAddress, getToken, uniq } from '../auth/access-helpers.js';
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

test('failed sign-ins on one process count against the budget on the other', async () => {
  const u = await new Api(a.url).user(uniq('guessed-'));
  const from = freshAddress();
  const wrong = { username: u.username, password: 'not-the-password' };
  // The pair's free failures (5), all spent on A ...
  for (let i = 0; i < 5; i++) expectErr(await call(a.url, 'GET', '/v2/', { auth: wrong, from }), 401, 'UNAUTHORIZED', `failure ${i + 1} on A`);
  // ... so B makes the next guess wait, as A would.
  const res = await call(b.url, 'GET', '/v2/', { auth: wrong, from });
  expectErr(res, 429, 'TOOMANYREQUESTS', 'sixth guess, on B');
  assert.ok(Number(res.headers['retry-after']) >= 1);
  // The right password after the wait is let in on B, and that success
  // forgets the pair's failures for every process.
  await sleep(1100);
  assert.equal((await call(b.url, 'GET', '/v2/', { auth: u, from })).status, 200);
  const another = freshAddress();
  for (let i = 0; i < 5; i++) expectErr(await call(b.url, 'GET', '/v2/', { auth: wrong, from: another }), 401, 'UNAUTHORIZED', `failure ${i + 1} on B`);
  assert.equal((await call(a.url, 'GET', '/v2/', { auth: u, from: another })).status, 429, 'A sees the failures made on B');
});
