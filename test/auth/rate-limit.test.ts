// Unit tests: the sign-in throttle (reservations, budgets per (name,
// address) and per address, growing delays, forgetting, IPv6 networks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADDRESS_BUDGET, clientNetwork, InMemorySignInThrottle, PAIR_BUDGET, waitMs, type Reservation } from '../../src/auth/rate-limit.js';

const T0 = 1_700_000_000_000;

function granted(r: Reservation, label = ''): Extract<Reservation, { granted: true }> {
  assert.equal(r.granted, true, `${label}: refused ${JSON.stringify(r)}`);
  return r as Extract<Reservation, { granted: true }>;
}

function refused(r: Reservation, label = ''): number {
  assert.equal(r.granted, false, `${label}: granted`);
  return (r as Extract<Reservation, { granted: false }>).retryAfterSeconds;
}

test('defaults: 5 free failures per (name, address), 30 per address, delays from 1 s to 60 s, forgotten after 15 min', () => {
  assert.deepEqual(PAIR_BUDGET, { freeFailures: 5, firstDelayMs: 1_000, maxDelayMs: 60_000, memoryMs: 900_000 });
  assert.deepEqual(ADDRESS_BUDGET, { freeFailures: 30, firstDelayMs: 1_000, maxDelayMs: 60_000, memoryMs: 900_000 });
});

test('an attempt is reserved before its check: parallel attempts beyond the free ones are refused at once', () => {
  const t = new InMemorySignInThrottle();
  const inFlight = Array.from({ length: 200 }, () => t.reserve('bob', '10.0.0.1', T0));
  assert.equal(inFlight.filter((r) => r.granted).length, 5);
  assert.deepEqual([...new Set(inFlight.filter((r) => !r.granted).map((r) => refused(r)))], [1]);
});

test('releasing a reservation (a success) refunds it and forgets the pair', () => {
  const t = new InMemorySignInThrottle({ ...PAIR_BUDGET, freeFailures: 2 });
  t.reserve('bob', '10.0.0.1', T0); // failed
  granted(t.reserve('bob', '10.0.0.1', T0 + 1)).release();
  granted(t.reserve('bob', '10.0.0.1', T0 + 2), 'the success cleared the earlier failure too');
  granted(t.reserve('bob', '10.0.0.1', T0 + 3));
  refused(t.reserve('bob', '10.0.0.1', T0 + 4), 'two failures since the success');
});

test('each failure beyond the free ones doubles the wait, up to the cap', () => {
  const budget = { freeFailures: 2, firstDelayMs: 1_000, maxDelayMs: 8_000, memoryMs: 3_600_000 };
  const t = new InMemorySignInThrottle(budget, { ...budget, freeFailures: 1000 });
  let now = T0;
  granted(t.reserve('bob', '10.0.0.1', now));
  granted(t.reserve('bob', '10.0.0.1', now));
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    const wait = refused(t.reserve('bob', '10.0.0.1', now));
    waits.push(wait);
    refused(t.reserve('bob', '10.0.0.1', now + wait * 1000 - 1), 'a millisecond early');
    now += wait * 1000;
    granted(t.reserve('bob', '10.0.0.1', now), 'after the wait');
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 8, 8]);
  assert.equal(waitMs([T0, T0, T0], budget, T0 + 500), 1_500);
});

test('failures are forgotten after the memory time', () => {
  const t = new InMemorySignInThrottle({ ...PAIR_BUDGET, freeFailures: 1, memoryMs: 60_000 });
  t.reserve('bob', '10.0.0.1', T0);
  refused(t.reserve('bob', '10.0.0.1', T0 + 500));
  granted(t.reserve('bob', '10.0.0.1', T0 + 60_000), 'the first failure is forgotten');
});

test('a name is never refused from an address that has not failed', () => {
  const t = new InMemorySignInThrottle();
  for (let a = 1; a <= 50; a++) for (let i = 0; i < 5; i++) t.reserve('bob', `10.0.0.${a}`, T0);
  refused(t.reserve('bob', '10.0.0.1', T0 + 1));
  const fresh = granted(t.reserve('bob', '10.0.1.1', T0 + 1));
  assert.equal(fresh.cleanRecord, true);
  assert.equal(refused(t.reserve('bob', '10.0.0.7', T0 + 1)), 1);
});

test('the address budget stops spraying over many names; other addresses are not affected', () => {
  const t = new InMemorySignInThrottle();
  const first = granted(t.reserve('user0', '192.0.2.9', T0));
  assert.equal(first.cleanRecord, true);
  assert.equal(granted(t.reserve('user1', '192.0.2.9', T0)).cleanRecord, false, 'after one failure the record is not clean');
  for (let i = 2; i < 30; i++) granted(t.reserve(`user${i}`, '192.0.2.9', T0), `name ${i}`);
  assert.equal(refused(t.reserve('alice', '192.0.2.9', T0)), 1, 'a 31st name from the same address waits');
  assert.equal(granted(t.reserve('alice', '192.0.2.10', T0)).cleanRecord, true);
});

test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', () => {
  assert.equal(clientNetwork('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientNetwork('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientNetwork('2001:db8::7'), '2001:db8:0:0::/64');
  assert.equal(clientNetwork('::1'), '0:0:0:0::/64');
  assert.equal(clientNetwork('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientNetwork('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(clientNetwork('192.0.2.1'), '192.0.2.1');
  const t = new InMemorySignInThrottle({ ...PAIR_BUDGET, freeFailures: 1 });
  t.reserve('bob', '2001:db8:1:2::a', T0);
  refused(t.reserve('bob', '2001:db8:1:2::b', T0), 'another address of the same /64');
  granted(t.reserve('bob', '2001:db8:1:3::a', T0));
});

test('memory is bounded: beyond 100000 keys the oldest are forgotten', () => {
  const t = new InMemorySignInThrottle();
  for (let i = 0; i < 60_000; i++) t.reserve('bob', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0);
  const keys = (t as unknown as { failures: Map<string, number[]> }).failures;
  assert.ok(keys.size <= 100_000, `${keys.size} keys`);
  // the most recent addresses are still remembered
  t.reserve('eve', '10.0.234.95', T0);
  for (let i = 0; i < 4; i++) t.reserve('eve', '10.0.234.95', T0);
  refused(t.reserve('eve', '10.0.234.95', T0));
});

test('the real clock is used when no time is given', () => {
  const t = new InMemorySignInThrottle({ ...PAIR_BUDGET, freeFailures: 1, firstDelayMs: 30_000 });
  t.reserve('bob', '10.0.0.1');
  const wait = refused(t.reserve('bob', '10.0.0.1'));
  assert.ok(wait > 25 && wait <= 30, `wait ${wait}`);
});

test('attempts held back only by checks in progress are told to wait, and get in when those succeed', async () => {
  const t = new InMemorySignInThrottle();
  const first = Array.from({ length: 5 }, () => granted(t.reserve('bob', '10.0.0.2', T0)));
  const held = t.reserve('bob', '10.0.0.2', T0);
  assert.equal(held.granted, false);
  const settled = (held as Extract<Reservation, { granted: false }>).settled;
  assert.ok(settled, 'refused only because of attempts in progress: it may wait for them');
  first[0]!.release();
  await settled;
  granted(t.reserve('bob', '10.0.0.2', T0 + 1), 'after a success the waiting attempt gets in');
  for (const a of first.slice(1)) a.release();
});

test('once the attempts in progress have failed, the waiting ones are refused for good', async () => {
  const t = new InMemorySignInThrottle();
  const first = Array.from({ length: 5 }, () => granted(t.reserve('bob', '10.0.0.3', T0)));
  const held = t.reserve('bob', '10.0.0.3', T0) as Extract<Reservation, { granted: false }>;
  for (const a of first) a.fail();
  await held.settled;
  const after = t.reserve('bob', '10.0.0.3', T0 + 1);
  assert.equal(after.granted, false);
  assert.equal((after as Extract<Reservation, { granted: false }>).settled, undefined, 'five settled failures: a plain refusal with a wait');
});
