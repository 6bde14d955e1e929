// Security: sign-in and its throttle under attack (issue 9, "Sign-in and the
// throttle"). One test per item:
//   1. parallel wrong passwords cannot race the failure budget;
//   2. failures never lock a name out for an address that has not failed,
//      and X-Forwarded-For counts only from a trusted proxy;
//   3. argon2 cannot be used to stall everyone, and an unknown name costs
//      what a known one does.
// The burst tests print their figures (t.diagnostic) and assert statuses
// only: timings depend on the machine.
//
// Run: node --import tsx --test test/security/signin.test.ts
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '../helpers/server.js';
import { Api, call, expectErr, freshAddress, postToken, tokenUrl, uniq, type HttpResult } from '../auth/access-helpers.js';
import type { Credentials } from '../helpers/registry-client.js';

/** A (name, address) pair may fail this often before it has to wait (src/auth/rate-limit.ts). */
const PAIR_FREE_FAILURES = 5;

let server: RunningServer;
let api: Api;

before(async () => {
  server = await startServer();
  api = new Api(server.url);
});

after(async () => {
  await server?.dispose();
});

const v2 = (auth: Credentials, from: string, headers?: Record<string, string>) => call(server.url, 'GET', '/v2/', { auth, from, headers });

function expectThrottled(res: HttpResult, label: string): void {
  expectErr(res, 429, 'TOOMANYREQUESTS', label);
  assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/, `${label}: Retry-After ${res.headers['retry-after']}`);
}

function tally(results: HttpResult[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** How many events the audit rows matching `which` stand for (repeats within a minute share a row). */
function occurrences<T extends { count: number }>(rows: T[], which: (row: T) => boolean): number {
  return rows.filter(which).reduce((n, row) => n + row.count, 0);
}

/** The sign-in entries of the audit log for `username`. */
async function authAudit(username: string, on = api): Promise<{ remote_addr: string; count: number; detail?: { reason: string } }[]> {
  const page = await on.ok<{ entries: { action: string; remote_addr: string; count: number; detail?: { reason: string } }[] }>('GET', `/api/v1/audit?principal=${encodeURIComponent(username)}&limit=1000`);
  return page.entries.filter((e) => e.action === 'authenticate');
}

test('200 parallel wrong passwords from one address: only the budget is checked, the rest get 429', { timeout: 120_000 }, async (t) => {
  const victim = await api.user(uniq('raced-'));
  const from = freshAddress();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => v2({ username: victim.username, password: `wrong-${i}` }, from)));
  const counts = tally(results);
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(`200 parallel wrong passwords: ${counts[401] ?? 0} checked (401), ${counts[429] ?? 0} refused (429), in ${Math.round(seconds * 1000)} ms`);
  assert.deepEqual(Object.keys(counts).sort(), ['401', '429'], `statuses ${JSON.stringify(counts)}`);
  // The free failures, plus one more each time a delay (1 s, then 2, 4...) ran out
  // during a slow burst: 2^k - 1 seconds let k more through.
  const delaysElapsed = Math.floor(Math.log2(seconds + 1));
  assert.ok(counts[401]! >= PAIR_FREE_FAILURES && counts[401]! <= PAIR_FREE_FAILURES + delaysElapsed, `the free failures of the pair are checked (and one per elapsed delay): ${counts[401]} in ${seconds.toFixed(2)} s`);
  for (const r of results) if (r.status === 429) expectThrottled(r, 'a raced guess');
  // what was checked is what the audit log says failed
  const audit = (await authAudit(victim.username)).filter((e) => e.remote_addr === from);
  assert.equal(occurrences(audit, (e) => e.detail?.reason === 'invalid'), counts[401]);
  assert.equal(occurrences(audit, (e) => e.detail?.reason === 'throttled'), counts[429]);
  // the account itself is not locked: its owner signs in from elsewhere
  assert.equal((await v2(victim, freshAddress())).status, 200);
});

test('64 parallel sign-ins with the right password from a clean address all get in (none is refused by the others in progress)', { timeout: 120_000 }, async (t) => {
  const owner = await api.user(uniq('busy-'));
  const from = freshAddress();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 64 }, () => v2(owner, from)));
  const counts = tally(results);
  t.diagnostic(`64 parallel right passwords: ${JSON.stringify(counts)} in ${Math.round(performance.now() - started)} ms`);
  assert.deepEqual(counts, { 200: 64 });
});

test('failures for a name lock out only the addresses that failed: password, token and robot secret still work elsewhere', { timeout: 120_000 }, async () => {
  const victim = await api.user(uniq('lockout-'));
  const token = await api.token(victim.username);
  const project = uniq('lockns');
  await api.project(project);
  const robot = await api.ok<{ login: string; secret: string }>('POST', '/api/v1/robots', { namespace: project, name: 'ci' }, 201);
  const robotCreds = { username: robot.login, password: robot.secret };
  // an attacker fails 12 times for each name, from three addresses each
  const attackers = [freshAddress(), freshAddress(), freshAddress()];
  for (const name of [victim.username, robot.login]) {
    for (const from of attackers) {
      for (let i = 0; i < 4; i++) {
        const res = await v2({ username: name, password: `guess-${i}` }, from);
        assert.ok(res.status === 401 || res.status === 429, `guess: ${res.status} ${res.text}`);
      }
    }
  }
  for (let i = 0; i < PAIR_FREE_FAILURES; i++) await v2({ username: victim.username, password: `more-${i}` }, attackers[0]!);
  expectThrottled(await v2(victim, attackers[0]!), 'the right password from an address that failed too often');
  expectThrottled(await v2({ username: victim.username.toUpperCase(), password: victim.password }, attackers[0]!), 'the name in upper case');
  // from an address with a clean record, every kind of right secret works, at every door
  const clean = freshAddress();
  assert.equal((await v2(victim, clean)).status, 200, 'password');
  assert.equal((await v2(token, freshAddress())).status, 200, 'personal auth token');
  assert.equal((await v2(robotCreds, freshAddress())).status, 200, 'robot secret');
  assert.equal((await call(server.url, 'GET', tokenUrl([]), { auth: victim, from: freshAddress() })).status, 200, 'GET /v2/token');
  assert.equal((await postToken(server.url, { grant_type: 'password', username: victim.username, password: victim.password }, freshAddress())).status, 200, 'POST /v2/token');
  assert.equal((await api.as(victim).call('GET', '/api/v1/me', undefined, freshAddress())).status, 200, '/api/v1/me');
});

test('X-Forwarded-For names the client only when the peer is a trusted proxy', { timeout: 120_000 }, async (t) => {
  const proxy = freshAddress();
  const proxied = await startServer({ env: { HATOBA_TRUSTED_PROXIES: `${proxy}/32,10.99.0.0/16` } });
  t.after(() => proxied.dispose());
  const papi = new Api(proxied.url);
  const get = (auth: Credentials, from: string, forwardedFor?: string) =>
    call(proxied.url, 'GET', '/v2/', { auth, from, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });

  // the token realm follows X-Forwarded-Proto and -Host from the trusted proxy only
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'registry.example' };
  const viaProxy = await call(proxied.url, 'GET', '/v2/', { auth: null, from: proxy, headers: forwarded });
  assert.equal(viaProxy.headers['www-authenticate'], 'Bearer realm="https://registry.example/v2/token",service="hatoba"');
  const spoofedRealm = await call(proxied.url, 'GET', '/v2/', { auth: null, from: freshAddress(), headers: forwarded });
  assert.equal(spoofedRealm.headers['www-authenticate'], `Bearer realm="${proxied.url}/v2/token",service="hatoba"`);

  // an untrusted peer: a new spoofed header on every guess does not make it a new client
  const spoofer = freshAddress();
  const victim = await papi.user(uniq('spoofed-'));
  const spoofed: number[] = [];
  for (let i = 0; i < PAIR_FREE_FAILURES + 3; i++) spoofed.push((await get({ username: victim.username, password: `g${i}` }, spoofer, `203.0.113.${i + 1}`)).status);
  t.diagnostic(`untrusted peer, a different X-Forwarded-For each time: ${JSON.stringify(spoofed)}`);
  expectThrottled(await get({ username: victim.username, password: 'again' }, spoofer, '198.51.100.7'), 'spoofed X-Forwarded-For');
  const seen = new Set((await authAudit(victim.username, papi)).map((e) => e.remote_addr));
  assert.deepEqual([...seen], [spoofer], 'the audit log has the peer, not the spoofed header');

  // the trusted proxy: each forwarded client has its own budget and is the audited address
  const user = await papi.user(uniq('proxied-'));
  for (let i = 0; i < PAIR_FREE_FAILURES; i++) expectErr(await get({ username: user.username, password: `w${i}` }, proxy, '192.0.2.10'), 401, 'UNAUTHORIZED', `proxied guess ${i}`);
  expectThrottled(await get(user, proxy, '192.0.2.10'), 'the failing client behind the proxy');
  assert.equal((await get(user, proxy, '192.0.2.11')).status, 200, 'another client behind the same proxy');
  // hops through two trusted proxies: the first untrusted address from the right is the client
  expectThrottled(await get(user, proxy, '192.0.2.10, 10.99.1.2'), 'the failing client through two proxies');
  const entries = await authAudit(user.username, papi);
  assert.equal(occurrences(entries, (e) => e.remote_addr === '192.0.2.10' && e.detail?.reason === 'invalid'), PAIR_FREE_FAILURES);
  assert.ok(!entries.some((e) => e.remote_addr === proxy), 'the proxy itself is never the audited address');
});

test('300 parallel bad guesses from 30 addresses: an innocent first login is served first', { timeout: 180_000 }, async (t) => {
  const known = await Promise.all(Array.from({ length: 5 }, () => api.user(uniq('target-'))));
  const names = [...known.map((u) => u.username), ...Array.from({ length: 5 }, () => uniq('nobody-'))];
  const innocent = await api.user(uniq('innocent-'));
  const started = performance.now();
  // every guess differs (no single flight to help), one per (name, address): within every budget
  const burst = Promise.all(
    Array.from({ length: 30 }, () => freshAddress()).flatMap((from, a) =>
      names.map((username, n) => v2({ username, password: `guess-${a}-${n}` }, from)),
    ),
  );
  await new Promise((r) => setTimeout(r, 300));
  const loginStart = performance.now();
  const login = await v2(innocent, freshAddress());
  const loginMs = Math.round(performance.now() - loginStart);
  const results = await burst;
  const counts = tally(results);
  t.diagnostic(`innocent first login during the burst: ${loginMs} ms (status ${login.status}); burst of 300: ${counts[401] ?? 0} checked, ${counts[429] ?? 0} refused, in ${Math.round(performance.now() - started)} ms`);
  assert.equal(login.status, 200, `the innocent login: ${login.text}`);
  assert.equal(counts[401], 300, `every guess was within budget and checked: ${JSON.stringify(counts)}`);
});

test('an unknown name costs as long as a known one', { timeout: 120_000 }, async (t) => {
  const known = await Promise.all(Array.from({ length: 20 }, () => api.user(uniq('timed-'))));
  const knownMs: number[] = [];
  const unknownMs: number[] = [];
  let from = freshAddress();
  for (let i = 0; i < known.length; i++) {
    if (i % 2 === 0) from = freshAddress();
    for (const [username, into] of [[known[i]!.username, knownMs], [uniq('ghost-'), unknownMs]] as const) {
      const start = performance.now();
      expectErr(await v2({ username, password: `not-it-${i}` }, from), 401, 'UNAUTHORIZED', username);
      into.push(performance.now() - start);
    }
  }
  t.diagnostic(`wrong password, median of ${known.length}: known name ${median(knownMs).toFixed(1)} ms, unknown name ${median(unknownMs).toFixed(1)} ms`);
});
