import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeFormatError, parseContentRange, resolveRange } from '../../src/formats/http-range.js';

// ---------------------------------------------------------------- Content-Range (chunked upload PATCH)

test('parseContentRange: the OCI form <start>-<end>', () => {
  assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('100-199'), { start: 100, end: 199 });
  assert.deepEqual(parseContentRange('0-0'), { start: 0, end: 0 });
  assert.deepEqual(parseContentRange('5-5'), { start: 5, end: 5 });
  assert.deepEqual(parseContentRange('007-010'), { start: 7, end: 10 });
});

test('parseContentRange: the RFC-style forms with a unit and a length', () => {
  assert.deepEqual(parseContentRange('bytes 0-99/*'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('bytes 0-99/100'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('bytes 0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('bytes=0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('0-99/*'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('0-99/1000'), { start: 0, end: 99 });
});

test('parseContentRange: surrounding whitespace is trimmed', () => {
  assert.deepEqual(parseContentRange('  0-99  '), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('\tbytes 0-99/*\r\n'), { start: 0, end: 99 });
});

test('parseContentRange: large but safe integers', () => {
  const max = Number.MAX_SAFE_INTEGER;
  assert.deepEqual(parseContentRange(`0-${max}`), { start: 0, end: max });
  assert.deepEqual(parseContentRange(`${max}-${max}`), { start: max, end: max });
});

test('parseContentRange rejects malformed values', () => {
  const bad = [
    '',
    ' ',
    '-',
    '0',
    '0-',
    '-99',
    '99-0', // end before start
    '10-9',
    'a-b',
    '0x0-0x10',
    '1e2-1e3',
    '0.5-10',
    '+1-5',
    '-1-5',
    '0--5',
    '0-99-100',
    '0 - 99',
    'bytes',
    'bytes 0-99/',
    'bytes 0-99/abc',
    'bytes 0-99/-1',
    'bytes */100',
    'bytes  0-99',
    'Bytes 0-99/*',
    'items 0-99',
    'bytes=0-99,100-199',
    '0-99,100-199',
    '０-９', // full-width digits
    '0-99\u0000',
    `0-${'9'.repeat(20)}`, // beyond safe integers
    `${'9'.repeat(400)}-${'9'.repeat(401)}`, // Infinity
  ];
  for (const value of bad) {
    assert.throws(() => parseContentRange(value), RangeFormatError, JSON.stringify(value));
  }
});

test('RangeFormatError messages are bounded and it is an Error', () => {
  try {
    parseContentRange('x'.repeat(100_000));
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof RangeFormatError);
    assert.ok(err instanceof Error);
    assert.ok(err.message.length < 200);
  }
});

// ---------------------------------------------------------------- Range (blob GET)

test('resolveRange: no header is the full body', () => {
  assert.deepEqual(resolveRange(undefined, 100), { kind: 'full' });
  assert.deepEqual(resolveRange(undefined, 0), { kind: 'full' });
});

test('resolveRange: bytes=0-9', () => {
  assert.deepEqual(resolveRange('bytes=0-9', 100), { kind: 'partial', range: { start: 0, end: 9 } });
  assert.deepEqual(resolveRange('bytes=10-19', 100), { kind: 'partial', range: { start: 10, end: 19 } });
  assert.deepEqual(resolveRange('bytes=0-0', 1), { kind: 'partial', range: { start: 0, end: 0 } });
  assert.deepEqual(resolveRange('bytes=99-99', 100), { kind: 'partial', range: { start: 99, end: 99 } });
  assert.deepEqual(resolveRange('bytes=0-99', 100), { kind: 'partial', range: { start: 0, end: 99 } });
});

test('resolveRange: open-ended bytes=5-', () => {
  assert.deepEqual(resolveRange('bytes=5-', 100), { kind: 'partial', range: { start: 5, end: 99 } });
  assert.deepEqual(resolveRange('bytes=0-', 100), { kind: 'partial', range: { start: 0, end: 99 } });
  assert.deepEqual(resolveRange('bytes=99-', 100), { kind: 'partial', range: { start: 99, end: 99 } });
});

test('resolveRange: suffix bytes=-3', () => {
  assert.deepEqual(resolveRange('bytes=-3', 100), { kind: 'partial', range: { start: 97, end: 99 } });
  assert.deepEqual(resolveRange('bytes=-1', 100), { kind: 'partial', range: { start: 99, end: 99 } });
  assert.deepEqual(resolveRange('bytes=-100', 100), { kind: 'partial', range: { start: 0, end: 99 } });
});

test('resolveRange: a suffix larger than the body is the whole body as a range', () => {
  assert.deepEqual(resolveRange('bytes=-500', 100), { kind: 'partial', range: { start: 0, end: 99 } });
  assert.deepEqual(resolveRange('bytes=-2', 1), { kind: 'partial', range: { start: 0, end: 0 } });
  assert.deepEqual(resolveRange(`bytes=-${'9'.repeat(30)}`, 100), { kind: 'partial', range: { start: 0, end: 99 } });
});

test('resolveRange: a zero-length suffix is unsatisfiable', () => {
  assert.deepEqual(resolveRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange('bytes=-000', 100), { kind: 'unsatisfiable' });
});

test('resolveRange: start at or beyond the size is unsatisfiable', () => {
  assert.deepEqual(resolveRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange('bytes=100-200', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange('bytes=1000-2000', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange(`bytes=${'9'.repeat(30)}-`, 100), { kind: 'unsatisfiable' });
});

test('resolveRange: size 0', () => {
  assert.deepEqual(resolveRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange('bytes=0-9', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange('bytes=0-0', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(resolveRange(undefined, 0), { kind: 'full' });
  assert.deepEqual(resolveRange('bytes=0-1,2-3', 0), { kind: 'full' });
  // A suffix range against an empty body can't be answered with a 206
  // (there is no byte to name). Either a 200 or a 416 is acceptable; never
  // a partial range.
  const suffix = resolveRange('bytes=-5', 0);
  assert.notEqual(suffix.kind, 'partial');
});

test('resolveRange: an end beyond the size is clamped', () => {
  assert.deepEqual(resolveRange('bytes=0-1000', 100), { kind: 'partial', range: { start: 0, end: 99 } });
  assert.deepEqual(resolveRange('bytes=50-100', 100), { kind: 'partial', range: { start: 50, end: 99 } });
  assert.deepEqual(resolveRange(`bytes=0-${'9'.repeat(30)}`, 100), { kind: 'partial', range: { start: 0, end: 99 } });
});

test('resolveRange: several ranges fall back to the full body', () => {
  assert.deepEqual(resolveRange('bytes=0-9,20-29', 100), { kind: 'full' });
  assert.deepEqual(resolveRange('bytes=0-9, 20-29', 100), { kind: 'full' });
  assert.deepEqual(resolveRange('bytes=-5,0-1', 100), { kind: 'full' });
  assert.deepEqual(resolveRange('bytes=0-0,-1', 100), { kind: 'full' });
});

test('resolveRange: syntax it does not serve falls back to the full body', () => {
  for (const header of [
    '',
    'bytes=',
    'bytes=-',
    'bytes',
    'bytes 0-9',
    'items=0-9',
    'bytes=a-b',
    'bytes=0-9x',
    'bytes=0x1-2',
    'bytes=1.5-2',
    'bytes=+1-2',
    'bytes=--1',
    'bytes=0--1',
    'bytes = 0-9',
    'bytes=0 - 9',
    'bytes=9-0', // last < first: invalid, ignored
    'bytes=50-10',
  ]) {
    assert.deepEqual(resolveRange(header, 100), { kind: 'full' }, JSON.stringify(header));
  }
});

test('resolveRange: surrounding whitespace is trimmed', () => {
  assert.deepEqual(resolveRange('  bytes=0-9  ', 100), { kind: 'partial', range: { start: 0, end: 9 } });
});

test('resolveRange: partial ranges always lie inside the body', () => {
  for (const size of [1, 2, 3, 10, 1000]) {
    for (const header of ['bytes=0-', 'bytes=-1', 'bytes=-9999', 'bytes=0-9999', 'bytes=1-1', `bytes=${size - 1}-`]) {
      const r = resolveRange(header, size);
      if (r.kind === 'partial') {
        assert.ok(r.range.start >= 0 && r.range.start <= r.range.end && r.range.end < size, `${header} size ${size}: ${JSON.stringify(r)}`);
      }
    }
  }
});
