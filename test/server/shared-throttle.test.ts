// Two nodes on one PostgreSQL database share the sign-in throttle: guesses
// that alternate between them are throttled after the free failures of
// one budget, not of two; the right password from elsewhere still works.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PAIR_BUDGET } from '../../src/auth/rate-limit.js';
import { Api, call, freshAddress, uniq } from '../auth/access-helpers.js';
import { createTestDatabase, pgTestOptions } from '../helpers/postgres.js';
import { startServer, type RunningServer } from '../helpers/server.js';

test('guesses alternating between two nodes get one budget', { ...pgTestOptions(), timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  const env = { HATOBA_DB: database.url, HATOBA_MASTER_KEY: randomBytes(32).toString('base64') };
  const nodes: RunningServer[] = [];
  try {
    nodes.push(await startServer({ env }));
    nodes.push(await startServer({ env }));
    const victim = await new Api(nodes[0]!.url).user(uniq('two-nodes-'));
    const from = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < PAIR_BUDGET.freeFailures + 2; i++) {
      statuses.push((await call(nodes[i % 2]!.url, 'GET', '/v2/', { auth: { username: victim.username, password: `guess-${i}` }, from })).status);
    }
    assert.deepEqual(statuses, [...Array<number>(PAIR_BUDGET.freeFailures).fill(401), 429, 429]);
    assert.equal((await call(nodes[1]!.url, 'GET', '/v2/', { auth: victim, from: freshAddress() })).status, 200, 'the owner, from another address');
  } finally {
    for (const n of nodes) await n.dispose();
    await database.drop();
  }
});
