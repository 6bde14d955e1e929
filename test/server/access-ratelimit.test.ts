// Integration: repeated failed sign-ins are slowed down per (user name,
// client address) and per address (5 and 30 free failures, then waits that
// double from 1 s), with 429 TOOMANYREQUESTS and Retry-After; a user name
// is never locked out for addresses that have not failed, and the rest of
// the instance is not affected.
//
// Each scenario uses its own loopback source addresses (127.0.0.x) and user
// names, on a server of its own.
//
// Run: node --import tsx --test test/server/access-ratelimit.test.ts
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '../helpers/server.js';
import { Api, bearer, call, expectErr, postToken, tokenUrl, uniq, type CallOptions, type HttpResult } from '../auth/access-helpers.js';

let server: RunningServer;
let api: Api;
let nextAddress = 100;
const address = () => `127.0.0.${++nextAddress}`;

before(async () => {
  server = await startServer();
  api = new Api(server.url);
});

after(async () => {
  await server?.dispose();
});

const v2 = (options: CallOptions) => call(server.url, 'GET', '/v2/', options);

function expectThrottled(res: HttpResult, label: string): number {
  const errors = expectErr(res, 429, 'TOOMANYREQUESTS', label);
  assert.match(errors[0]!.message, /too many failed sign-ins/, label);
  const retry = res.headers['retry-after'];
  assert.match(String(retry), /^\d+$/, `${label}: Retry-After ${retry}`);
  const seconds = Number(retry);
  assert.ok(seconds >= 1 && seconds <= 60, `${label}: Retry-After ${seconds}`);
  return seconds;
}

test('5 failures for one user name from one address, then 429 with Retry-After there, even with the right password', async () => {
  const victim = await api.user(uniq('victim-'));
  const bystander = await api.user(uniq('bystander-'));
  const from = address();
  // a token obtained before the attack keeps working (it is not a sign-in)
  const early = (await call(server.url, 'GET', tokenUrl([]), { auth: victim })).json<{ token: string }>().token;
  for (let i = 1; i <= 5; i++) {
    expectErr(await v2({ auth: { username: victim.username, password: `wrong-${i}` }, from }), 401, 'UNAUTHORIZED', `failure ${i}`);
  }
  assert.equal(expectThrottled(await v2({ auth: { username: victim.username, password: 'wrong-6' }, from }), 'the 6th attempt'), 1);
  expectThrottled(await v2({ auth: victim, from }), 'the right password from the same address');
  // the pair is throttled case-insensitively and at every door
  expectThrottled(await v2({ auth: { username: victim.username.toUpperCase(), password: victim.password }, from }), 'the user name in upper case');
  expectThrottled(await call(server.url, 'GET', tokenUrl(['repository:x/y:pull']), { auth: victim, from }), 'GET /v2/token');
  expectThrottled(await postToken(server.url, { grant_type: 'password', username: victim.username, password: victim.password }, from), 'POST /v2/token');
  expectThrottled(await api.as(victim).call('GET', '/api/v1/me', undefined, from), '/api/v1/me');
  // the user name is not locked: from another address the right password works
  assert.equal((await v2({ auth: victim, from: address() })).status, 200, 'the right password from another address');
  // five failures are far below the address's budget: other users there are not affected
  assert.equal((await v2({ auth: bystander, from })).status, 200, 'another user from the same address');
  assert.equal((await v2({})).status, 200, 'the admin from 127.0.0.1');
  assert.equal((await v2({ auth: bearer(early), from })).status, 200, 'a bearer token is no sign-in and is not throttled');
  // after the wait one more attempt is checked, and the next wait is longer
  await new Promise((r) => setTimeout(r, 1_100));
  expectErr(await v2({ auth: { username: victim.username, password: 'wrong-7' }, from }), 401, 'UNAUTHORIZED', 'after the wait');
  assert.equal(expectThrottled(await v2({ auth: victim, from }), 'after another failure'), 2);
  // the audit log has the failures and the throttled attempts, with the address
  // (repeated failures within a minute share one row with a count)
  const audit = (await api.ok<{ entries: { principal: string; action: string; result: string; remote_addr: string; count: number; detail?: { reason: string } }[] }>('GET', `/api/v1/audit?principal=${victim.username}&limit=1000`)).entries;
  const fromThere = audit.filter((e) => e.action === 'authenticate' && e.remote_addr === from);
  const counted = (reason: string) => fromThere.filter((e) => e.detail?.reason === reason).reduce((n, e) => n + e.count, 0);
  assert.equal(counted('invalid'), 6);
  assert.ok(counted('throttled') >= 6);
  assert.ok(fromThere.every((e) => e.result === 'denied'));
});

test('failures against many user names from one address throttle that address', async () => {
  const from = address();
  const user = await api.user(uniq('sprayed-'));
  for (let i = 1; i <= 30; i++) {
    expectErr(await v2({ auth: { username: uniq(`spray${i}-`), password: 'Password1!' }, from }), 401, 'UNAUTHORIZED', `spray ${i}`);
  }
  expectThrottled(await v2({ auth: user, from }), 'a real user from the spraying address');
  assert.equal((await v2({ auth: user, from: address() })).status, 200, 'the same user from elsewhere');
});

test('failures for one user name from many addresses do not lock the name out', async () => {
  const user = await api.user(uniq('distributed-'));
  const addresses = Array.from({ length: 4 }, () => address());
  for (const from of addresses) {
    for (let i = 1; i <= 5; i++) expectErr(await v2({ auth: { username: user.username, password: `guess-${i}` }, from }), 401, 'UNAUTHORIZED', `guess ${i} from ${from}`);
    expectThrottled(await v2({ auth: { username: user.username, password: 'guess-6' }, from }), `guess 6 from ${from}`);
  }
  assert.equal((await v2({ auth: user, from: address() })).status, 200, 'the right password from a fresh address');
});

test('a successful sign-in resets the count for the user name and address', async () => {
  const user = await api.user(uniq('resetme-'));
  const a = address();
  for (let i = 1; i <= 4; i++) expectErr(await v2({ auth: { username: user.username, password: `bad-${i}` }, from: a }), 401, 'UNAUTHORIZED', `first round ${i}`);
  assert.equal((await v2({ auth: user, from: a })).status, 200, 'the 5th attempt is right');
  for (let i = 1; i <= 4; i++) expectErr(await v2({ auth: { username: user.username, password: `bad-again-${i}` }, from: a }), 401, 'UNAUTHORIZED', `second round ${i}`);
  assert.equal((await v2({ auth: user, from: a })).status, 200, 'four failures since the last success are under the budget');
});
