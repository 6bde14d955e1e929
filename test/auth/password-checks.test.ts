// Unit tests: password checks are bounded in concurrency, clean-record
// checks go first, identical concurrent checks share one verification, and
// an unknown name's check costs what a real one does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConcurrency, PasswordChecks } from '../../src/auth/password-checks.js';
import { hashPassword, unknownUserHash, verifyPassword } from '../../src/auth/secrets.js';

/** A verification the test finishes by hand; records the order checks started in. */
function controlled() {
  const started: string[] = [];
  const finish = new Map<string, (ok: boolean) => void>();
  const verify = (hash: string, password: string) =>
    new Promise<boolean>((resolve) => {
      started.push(password);
      finish.set(password, resolve);
    });
  const done = async (password: string, ok = false) => {
    finish.get(password)!(ok);
    await new Promise((r) => setImmediate(r));
  };
  return { started, verify, done };
}

const tick = () => new Promise((r) => setImmediate(r));

test('no more than `concurrency` checks run at once; the rest wait', async () => {
  const c = controlled();
  const checks = new PasswordChecks({ concurrency: 2, verify: c.verify });
  const results = ['a', 'b', 'c', 'd'].map((p) => checks.verify('h', p, 'suspect'));
  await tick();
  assert.deepEqual(c.started, ['a', 'b']);
  assert.equal(checks.waiting, 2);
  await c.done('a');
  assert.deepEqual(c.started, ['a', 'b', 'c'], 'a free slot starts the next');
  await c.done('b');
  await c.done('c', true);
  await c.done('d');
  assert.deepEqual(await Promise.all(results), [false, false, true, false]);
  assert.equal(checks.waiting, 0);
});

test('checks for a clean record go before waiting suspect ones, each queue in order', async () => {
  const c = controlled();
  const checks = new PasswordChecks({ concurrency: 1, verify: c.verify });
  const all = [checks.verify('h', 's1', 'suspect'), checks.verify('h', 's2', 'suspect'), checks.verify('h', 's3', 'suspect'), checks.verify('h', 'c1', 'clean'), checks.verify('h', 'c2', 'clean')];
  await tick();
  for (const p of ['s1', 'c1', 'c2', 's2', 's3']) await c.done(p);
  assert.deepEqual(c.started, ['s1', 'c1', 'c2', 's2', 's3'], 'the running check finishes; then clean ones first');
  await Promise.all(all);
});

test('identical concurrent checks share one verification; a clean caller lifts a waiting shared check', async () => {
  const c = controlled();
  const checks = new PasswordChecks({ concurrency: 1, verify: c.verify });
  const blocker = checks.verify('h', 'busy', 'suspect');
  const same = Array.from({ length: 50 }, () => checks.verify('h', 'right', 'suspect'));
  const other = checks.verify('h', 'other', 'suspect');
  const clean = checks.verify('h', 'right', 'clean');
  assert.equal(checks.waiting, 2, 'fifty-one identical checks wait as one');
  await tick();
  await c.done('busy');
  assert.deepEqual(c.started, ['busy', 'right'], 'lifted to the clean queue, ahead of "other"');
  await c.done('right', true);
  assert.deepEqual(await Promise.all([...same, clean]), Array(51).fill(true));
  await c.done('other');
  await Promise.all([blocker, other]);
  // once done it is not remembered: the next identical check verifies again
  const again = checks.verify('h', 'right', 'clean');
  await tick();
  assert.deepEqual(c.started, ['busy', 'right', 'other', 'right']);
  await c.done('right', true);
  assert.equal(await again, true);
});

test('the same password against a different hash is a different check', async () => {
  let calls = 0;
  const checks = new PasswordChecks({ concurrency: 4, verify: async (hash) => (calls++, hash === 'h2') });
  assert.deepEqual(await Promise.all([checks.verify('h1', 'pw', 'clean'), checks.verify('h2', 'pw', 'clean')]), [false, true]);
  assert.equal(calls, 2);
});

test('a failing verification rejects its callers and frees its slot', async () => {
  let calls = 0;
  const checks = new PasswordChecks({
    concurrency: 1,
    verify: async (_h, p) => {
      calls++;
      if (p === 'boom') throw new Error('boom');
      return true;
    },
  });
  await assert.rejects(checks.verify('h', 'boom', 'clean'), /boom/);
  assert.equal(await checks.verify('h', 'fine', 'clean'), true);
  assert.equal(calls, 2);
});

test('by default one core and two threads of the pool are left over', () => {
  const n = defaultConcurrency();
  assert.ok(n >= 1 && n <= 2, `${n} with the default UV_THREADPOOL_SIZE of 4`);
  assert.ok(new PasswordChecks().concurrency >= 1);
});

test('the unknown-user hash is made once, with the parameters of real hashes, and matches nothing', async () => {
  const dummy = await unknownUserHash();
  assert.equal(await unknownUserHash(), dummy);
  const real = await hashPassword('some password');
  const params = (h: string) => h.split('$').slice(1, 4).join('$');
  assert.equal(params(dummy), params(real), `${params(dummy)} vs ${params(real)}`);
  assert.equal(await verifyPassword(dummy, ''), false);
  assert.equal(await verifyPassword(dummy, 'some password'), false);
});
