// /healthz and /readyz: what load balancers ask without credentials. They
// answer anyone, reveal no error text, cost one round of checks per second
// however many ask, and a check that hangs counts as failed at its deadline.
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CHECK_TIMEOUT_MS, READINESS_CACHE_MS, cachedReadiness } from '../../src/server/health.js';
import { scrape, total } from '../helpers/metrics.js';
import { startServer } from '../helpers/server.js';

const quiet = { warn() {} };

test('/healthz is ok for anyone and touches no store; /readyz reports each check', { timeout: 60_000 }, async () => {
  // On files whatever the backend: the test takes the blob directory away.
  const server = await startServer({ args: ['--metrics-listen', '127.0.0.1:0'], env: { HATOBA_STORAGE: '' } });
  try {
    const before = await scrape(server.metricsUrl!);
    const dbCalls = (s: typeof before) => total(s, 'hatoba_db_operation_duration_seconds_count');
    const storeCalls = (s: typeof before) => total(s, 'hatoba_storage_operation_duration_seconds_count');
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok');
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const after = await scrape(server.metricsUrl!);
    assert.equal(dbCalls(after), dbCalls(before), 'no database call for /healthz');
    assert.equal(storeCalls(after), storeCalls(before), 'no storage call for /healthz');

    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { database: 'ok', storage: 'ok' } });

    // The blob store goes away (a lost mount): not ready, and the answer names
    // the check but not the path or the error.
    const blobs = join(server.dataDir, 'blobs');
    await rename(blobs, `${blobs}.away`);
    await sleep(READINESS_CACHE_MS + 100);
    const down = await fetch(`${server.url}/readyz`);
    assert.equal(down.status, 503);
    const text = await down.text();
    assert.deepEqual(JSON.parse(text), { status: 'unavailable', checks: { database: 'ok', storage: 'failed' } });
    assert.doesNotMatch(text, /ENOENT|\/tmp|hatoba-test/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'alive all the same');

    await rename(`${blobs}.away`, blobs);
    await sleep(READINESS_CACHE_MS + 100);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'ready again once the store is back');
  } finally {
    await server.dispose();
  }
});

test('a flood of /readyz runs the checks once per second', async () => {
  let clock = 0;
  let runs = 0;
  const readiness = cachedReadiness({ checks: { database: async () => void (runs += 1) }, log: quiet }, () => clock);
  await Promise.all(Array.from({ length: 1000 }, () => readiness()));
  assert.equal(runs, 1);
  clock += READINESS_CACHE_MS - 1;
  await readiness();
  assert.equal(runs, 1, 'still within the second');
  clock += 1;
  await readiness();
  assert.equal(runs, 2);
});

test('a check that hangs fails at its deadline; a failing one says only "failed"', { timeout: 10_000 }, async () => {
  const warnings: object[] = [];
  const readiness = cachedReadiness({
    checks: {
      database: () => new Promise(() => {}),
      storage: async () => {
        throw new Error('connect ECONNREFUSED 10.1.2.3:5432 password=hunter2');
      },
    },
    log: { warn: (o: object) => void warnings.push(o) },
  });
  const started = Date.now();
  const result = await readiness();
  const took = Date.now() - started;
  assert.deepEqual(result, { ready: false, checks: { database: 'timeout', storage: 'failed' } });
  assert.ok(took >= CHECK_TIMEOUT_MS - 50 && took < CHECK_TIMEOUT_MS + 1000, `answered after ${took} ms`);
  assert.equal(warnings.length, 2, 'the reasons go to the log');
});
