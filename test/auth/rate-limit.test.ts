// Unit tests: the failed-sign-in limiter (window, retryAfter, succeed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureLimiter } from '../../src/auth/rate-limit.js';

const T0 = 1_700_000_000_000;

test('defaults: 10 failures per 60 s', () => {
  const l = new FailureLimiter();
  assert.equal(l.maxFailures, 10);
  assert.equal(l.windowMs, 60_000);
});

test('under the budget nothing is refused; at the budget retryAfter says how long to wait', () => {
  const l = new FailureLimiter(3, 60_000);
  const keys = ['login:bob', 'addr:10.0.0.1'];
  assert.equal(l.retryAfter(keys, T0), undefined);
  l.fail(keys, T0);
  l.fail(keys, T0 + 1_000);
  assert.equal(l.retryAfter(keys, T0 + 2_000), undefined, 'two failures of three allowed');
  l.fail(keys, T0 + 2_000);
  // the oldest failure leaves the window at T0 + 60 s: 57 s from T0 + 3 s
  assert.equal(l.retryAfter(keys, T0 + 3_000), 57);
  // rounded up to whole seconds
  assert.equal(l.retryAfter(keys, T0 + 3_500), 57);
  assert.equal(l.retryAfter(keys, T0 + 59_999), 1);
});

test('failures age out of the window', () => {
  const l = new FailureLimiter(2, 10_000);
  const keys = ['login:bob'];
  l.fail(keys, T0);
  l.fail(keys, T0 + 5_000);
  assert.equal(l.retryAfter(keys, T0 + 6_000), 4);
  // at T0 + 10 s the first failure is out of the window: one left
  assert.equal(l.retryAfter(keys, T0 + 10_000), undefined);
  l.fail(keys, T0 + 11_000);
  assert.equal(l.retryAfter(keys, T0 + 12_000), 3, 'T0+5s and T0+11s in the window: wait until T0+15s');
  assert.equal(l.retryAfter(keys, T0 + 21_001), undefined);
});

test('any key over its budget refuses; the longest wait wins', () => {
  const l = new FailureLimiter(2, 60_000);
  l.fail(['login:alice', 'addr:1.2.3.4'], T0);
  l.fail(['login:bob', 'addr:1.2.3.4'], T0 + 10_000);
  // the address has 2 failures, each user name 1
  assert.equal(l.retryAfter(['login:alice'], T0 + 20_000), undefined);
  assert.equal(l.retryAfter(['login:carol', 'addr:1.2.3.4'], T0 + 20_000), 40);
  assert.equal(l.retryAfter(['login:carol', 'addr:5.6.7.8'], T0 + 20_000), undefined, 'another address is not affected');
  l.fail(['login:carol'], T0 + 30_000);
  l.fail(['login:carol'], T0 + 30_000);
  assert.equal(l.retryAfter(['login:carol', 'addr:1.2.3.4'], T0 + 31_000), 59, 'carol waits until T0+90s, longer than the address');
});

test('succeed clears one key only', () => {
  const l = new FailureLimiter(2, 60_000);
  const keys = ['login:bob', 'addr:10.0.0.1'];
  l.fail(keys, T0);
  l.fail(keys, T0);
  assert.notEqual(l.retryAfter(['login:bob'], T0 + 1), undefined);
  l.succeed('login:bob');
  assert.equal(l.retryAfter(['login:bob'], T0 + 1), undefined, 'the user name is cleared');
  assert.notEqual(l.retryAfter(['addr:10.0.0.1'], T0 + 1), undefined, 'the address still counts its failures');
});

test('the real clock is used when no time is given', () => {
  const l = new FailureLimiter(1, 60_000);
  l.fail(['k']);
  const wait = l.retryAfter(['k']);
  assert.ok(wait !== undefined && wait > 55 && wait <= 60, `wait ${wait}`);
});
