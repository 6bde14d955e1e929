// Integration: repeated failed sign-ins are slowed down, per user name and
// per client address (10 failures per minute each), with 429 TOOMANYREQUESTS
// and Retry-After; the rest of the instance is not affected.
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

test('10 failures for one user name from one address, then 429 with Retry-After, even with the right password', async () => {
  const victim = await api.user(uniq('victim-'));
  const bystander = await api.user(uniq('bystander-'));
  const from = address();
  // a token obtained before the attack keeps working (it is not a sign-in)
  const early = (await call(server.url, 'GET', tokenUrl([]), { auth: victim })).json<{ token: string }>().token;
  for (let i = 1; i <= 10; i++) {
    expectErr(await v2({ auth: { username: victim.username, password: `wrong-${i}` }, from }), 401, 'UNAUTHORIZED', `failure ${i}`);
  }
  expectThrottled(await v2({ auth: { username: victim.username, password: 'wrong-11' }, from }), 'the 11th attempt');
  expectThrottled(await v2({ auth: victim, from }), 'the right password from the same address');
  // the user name is throttled from any address, case-insensitively, and at the token endpoint
  expectThrottled(await v2({ auth: victim, from: address() }), 'the right password from another address');
  expectThrottled(await v2({ auth: { username: victim.username.toUpperCase(), password: victim.password }, from: address() }), 'the user name in upper case');
  expectThrottled(await call(server.url, 'GET', tokenUrl(['repository:x/y:pull']), { auth: victim, from: address() }), 'GET /v2/token');
  expectThrottled(await postToken(server.url, { grant_type: 'password', username: victim.username, password: victim.password }, address()), 'POST /v2/token');
  expectThrottled(await api.as(victim).call('GET', '/api/v1/me', undefined, address()), '/api/v1/me');
  // the address is throttled for other users too
  expectThrottled(await v2({ auth: bystander, from }), 'another user from the throttled address');
  // others are not affected
  assert.equal((await v2({ auth: bystander, from: address() })).status, 200, 'another user from another address');
  assert.equal((await v2({})).status, 200, 'the admin from 127.0.0.1');
  assert.equal((await v2({ auth: bearer(early), from })).status, 200, 'a bearer token is no sign-in and is not throttled');
  // the audit log has the failures and the throttled attempts, with the address
  // (repeated failures within a minute share one row with a count)
  const audit = (await api.ok<{ entries: { principal: string; action: string; result: string; remote_addr: string; count: number; detail?: { reason: string } }[] }>('GET', `/api/v1/audit?principal=${victim.username}&limit=1000`)).entries;
  const fromThere = audit.filter((e) => e.action === 'authenticate' && e.remote_addr === from);
  const counted = (reason: string) => fromThere.filter((e) => e.detail?.reason === reason).reduce((n, e) => n + e.count, 0);
  assert.equal(counted('invalid'), 10);
  assert.ok(counted('throttled') >= 2);
  assert.ok(fromThere.every((e) => e.result === 'denied'));
});

test('failures against many user names from one address throttle that address', async () => {
  const from = address();
  const user = await api.user(uniq('sprayed-'));
  for (let i = 1; i <= 10; i++) {
    expectErr(await v2({ auth: { username: uniq(`spray${i}-`), password: 'Password1!' }, from }), 401, 'UNAUTHORIZED', `spray ${i}`);
  }
  expectThrottled(await v2({ auth: user, from }), 'a real user from the spraying address');
  assert.equal((await v2({ auth: user, from: address() })).status, 200, 'the same user from elsewhere');
});

test('failures for one user name from many addresses throttle that user name', async () => {
  const user = await api.user(uniq('distributed-'));
  for (let i = 1; i <= 10; i++) {
    expectErr(await v2({ auth: { username: user.username, password: `guess-${i}` }, from: address() }), 401, 'UNAUTHORIZED', `guess ${i}`);
  }
  expectThrottled(await v2({ auth: user, from: address() }), 'the right password from a fresh address');
});

test('a successful sign-in resets the count for the user name', async () => {
  const user = await api.user(uniq('resetme-'));
  const a = address();
  for (let i = 1; i <= 9; i++) expectErr(await v2({ auth: { username: user.username, password: `bad-${i}` }, from: a }), 401, 'UNAUTHORIZED', `first round ${i}`);
  assert.equal((await v2({ auth: user, from: address() })).status, 200, 'the 10th attempt is right');
  const b = address();
  for (let i = 1; i <= 9; i++) expectErr(await v2({ auth: { username: user.username, password: `bad-again-${i}` }, from: b }), 401, 'UNAUTHORIZED', `second round ${i}`);
  assert.equal((await v2({ auth: user, from: address() })).status, 200, 'nine failures since the last success are under the budget');
});
