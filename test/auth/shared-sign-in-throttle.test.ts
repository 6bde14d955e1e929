// The sign-in throttle shared through PostgreSQL (auth/shared-sign-in-
// throttle.ts): two instances on one database stand for two nodes behind
// a load balancer, and together get one budget, not two.
//
// Run: node --import tsx --test test/auth/shared-sign-in-throttle.test.ts (needs scripts/postgres/pg-up.sh)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kysely } from 'kysely';
import { SharedSignInThrottle } from '../../src/auth/shared-sign-in-throttle.js';
import { PAIR_BUDGET, type Reservation } from '../../src/auth/rate-limit.js';
import { openDatabase } from '../../src/db/connect.js';
import type { Database } from '../../src/db/schema.js';
import { SignInAttempts } from '../../src/db/sign-in-attempts.js';
import { createTestDatabase, pgTestOptions, type TestDatabase } from '../helpers/postgres.js';

const options = pgTestOptions();
let database: TestDatabase;
let db: Kysely<Database>;
let nodes: [SharedSignInThrottle, SharedSignInThrottle];

before(async () => {
  if (options.skip) return;
  database = await createTestDatabase();
  db = await openDatabase({ engine: 'postgres', url: database.url, poolSize: 20 });
  nodes = [new SharedSignInThrottle(new SignInAttempts(db)), new SharedSignInThrottle(new SignInAttempts(db))];
});
after(async () => {
  await db?.destroy();
  await database?.drop();
});

function granted(r: Reservation, label = ''): Extract<Reservation, { granted: true }> {
  assert.equal(r.granted, true, `${label}: refused ${JSON.stringify(r)}`);
  return r as Extract<Reservation, { granted: true }>;
}

async function flush(): Promise<void> {
  await Promise.all(nodes.map((n) => n.flush()));
}

test('parallel guesses spread over two nodes get one budget: the free failures, no more', options, async () => {
  const now = Date.now();
  const all = await Promise.all(Array.from({ length: 100 }, (_, i) => nodes[i % 2]!.reserve('bob', '10.0.0.1', now)));
  assert.equal(all.filter((r) => r.granted).length, PAIR_BUDGET.freeFailures);
  for (const r of all) if (r.granted) r.fail();
  await flush();
  const next = await nodes[1].reserve('bob', '10.0.0.1', now + 10);
  assert.equal(next.granted, false);
  assert.equal((next as { retryAfterSeconds: number }).retryAfterSeconds, 1);
  assert.equal((next as { settled?: unknown }).settled, undefined, 'settled failures refuse at once');
});

test('an attempt held back only by checks in progress on another node waits for them, then goes in', options, async () => {
  const now = Date.now();
  const checks = await Promise.all(Array.from({ length: PAIR_BUDGET.freeFailures }, () => nodes[0].reserve('carol', '10.0.0.2', now)));
  const held = await nodes[1].reserve('carol', '10.0.0.2', now);
  assert.equal(held.granted, false);
  assert.ok((held as { settled?: Promise<void> }).settled, 'told to wait for the checks in progress');
  for (const c of checks) granted(c).release(); // all succeeded
  await flush();
  granted(await nodes[1].reserve('carol', '10.0.0.2', now + 1), 'after the successes');
});

test('a success on one node forgets the pair on both; failures of other addresses never refuse a clean one', options, async () => {
  const now = Date.now();
  for (let i = 0; i < 3; i++) granted(await nodes[0].reserve('dave', '10.0.0.3', now + i)).fail();
  await flush();
  granted(await nodes[1].reserve('dave', '10.0.0.3', now + 3)).release();
  await flush();
  for (let i = 0; i < PAIR_BUDGET.freeFailures; i++) granted(await nodes[i % 2]!.reserve('dave', '10.0.0.3', now + 4 + i), `failure ${i} after the success`).fail();
  await flush();
  assert.equal((await nodes[0].reserve('dave', '10.0.0.3', now + 20)).granted, false);
  const clean = granted(await nodes[1].reserve('dave', '192.0.2.9', now + 20), 'another address');
  assert.equal(clean.cleanRecord, true);
});

test('attempts left pending by a node that died count as failures, and do not hold others back', options, async () => {
  const slow = { freeFailures: 2, firstDelayMs: 60_000, maxDelayMs: 60_000, memoryMs: 900_000 };
  const [dead, alive] = [0, 1].map(() => new SharedSignInThrottle(new SignInAttempts(db), slow, { ...slow, freeFailures: 1000 }));
  const then = Date.now() - 40_000;
  for (let i = 0; i < slow.freeFailures; i++) granted(await dead!.reserve('erin', '10.0.0.4', then)); // never settled
  const next = await alive!.reserve('erin', '10.0.0.4', then + 40_000);
  assert.equal(next.granted, false, 'the two count as failures: 60 s from the last');
  assert.equal((next as { retryAfterSeconds: number }).retryAfterSeconds, 20);
  assert.equal((next as { settled?: unknown }).settled, undefined, 'nothing in progress to wait for');
});
