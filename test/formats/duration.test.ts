// The one duration syntax: whole numbers with s, m, h or d; nothing guessed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DURATION_FORMS, DurationError, formatDuration, parseDuration } from '../../src/formats/duration.js';

test('90s, 15m, 2h, 7d and combinations are milliseconds', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1d12h'), 129_600_000);
  assert.equal(parseDuration(' 30s '), 30_000);
  assert.equal(parseDuration('0s'), 0);
});

test('anything else is refused with a message naming the accepted forms', () => {
  for (const bad of ['', '30', '1.5h', '-5m', '5 m', '5M', '2w', 'h', 'ten minutes', '1y', '5ms', '9'.repeat(20) + 'd']) {
    assert.throws(
      () => parseDuration(bad),
      (err: unknown) => err instanceof DurationError && err.message.includes(`"${bad}" is not a duration`) && err.message.includes(DURATION_FORMS) && /90s, 15m, 2h, 7d/.test(err.message),
      bad,
    );
  }
});

test('formatDuration writes what parseDuration reads, shortest form', () => {
  for (const [ms, text] of [[90_000, '1m30s'], [3_600_000, '1h'], [86_400_000 * 365, '365d'], [30_000, '30s'], [0, '0s']] as const) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text), ms);
  }
});
