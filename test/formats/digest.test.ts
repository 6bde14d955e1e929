import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  DigestFormatError,
  createDigester,
  digestAlgorithm,
  digestHex,
  digestOf,
  finishDigest,
  isDigest,
  parseDigest,
  type Digest,
} from '../../src/formats/digest.js';

const HEX64 = 'a'.repeat(64);
const HEX128 = '0123456789abcdef'.repeat(8);
// sha256("") and sha512("") — well-known values.
const SHA256_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA512_EMPTY =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

test('parseDigest accepts sha256 with 64 lower-case hex characters', () => {
  const d = parseDigest(`sha256:${HEX64}`);
  assert.equal(d, `sha256:${HEX64}`);
  assert.equal(parseDigest(SHA256_EMPTY), SHA256_EMPTY);
});

test('parseDigest accepts sha512 with 128 lower-case hex characters', () => {
  assert.equal(parseDigest(`sha512:${HEX128}`), `sha512:${HEX128}`);
  assert.equal(parseDigest(SHA512_EMPTY), SHA512_EMPTY);
});

test('parseDigest rejects wrong lengths for each algorithm', () => {
  for (const bad of [
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha256:${HEX128}`,
    `sha512:${HEX64}`,
    `sha512:${'a'.repeat(127)}`,
    `sha512:${'a'.repeat(129)}`,
    'sha256:',
    'sha512:',
  ]) {
    assert.throws(() => parseDigest(bad), DigestFormatError, bad);
    assert.equal(isDigest(bad), false, bad);
  }
});

test('parseDigest rejects malformed digests', () => {
  const cases = [
    '',
    'sha256',
    ':' + HEX64,
    HEX64,
    `SHA256:${HEX64}`, // algorithm is case sensitive
    `sha256:${HEX64.toUpperCase()}`, // hex must be lower case
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`, // not hex
    `sha256:${'a'.repeat(63)}z`,
    `sha384:${'a'.repeat(96)}`, // unsupported algorithm
    `md5:${'a'.repeat(32)}`,
    `sha256+b64u:${HEX64}`,
    `blake3:${HEX64}`,
    ` sha256:${HEX64}`, // no surrounding whitespace
    `sha256:${HEX64} `,
    `sha256:${HEX64}\n`, // a trailing newline must not sneak past $
    `\nsha256:${HEX64}`,
    `sha256::${HEX64}`,
    `sha256:${HEX64.slice(0, 32)}:${HEX64.slice(0, 31)}`,
    `sha256:../../${'a'.repeat(58)}`, // path traversal attempt
    `sha256:${'a'.repeat(32)}/${'a'.repeat(31)}`,
    `sha256:${'a'.repeat(63)}\u0000`,
    `sha256:${'\uff41'.repeat(64)}`, // full-width "a"
  ];
  for (const bad of cases) {
    assert.throws(() => parseDigest(bad), DigestFormatError, JSON.stringify(bad));
    assert.equal(isDigest(bad), false, JSON.stringify(bad));
  }
});

test('DigestFormatError is an Error and its message is bounded for huge inputs', () => {
  const huge = 'x'.repeat(100_000);
  let caught: unknown;
  try {
    parseDigest(huge);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DigestFormatError);
  assert.ok(caught instanceof Error);
  assert.ok(caught.message.length < 300, `message length ${caught.message.length}`);
  assert.ok(caught.message.includes('...'));
});

test('isDigest agrees with parseDigest on valid input', () => {
  for (const good of [`sha256:${HEX64}`, `sha512:${HEX128}`, SHA256_EMPTY, SHA512_EMPTY]) {
    assert.equal(isDigest(good), true);
    assert.doesNotThrow(() => parseDigest(good));
  }
});

test('digestAlgorithm and digestHex split a digest', () => {
  const d = parseDigest(`sha256:${HEX64}`);
  assert.equal(digestAlgorithm(d), 'sha256');
  assert.equal(digestHex(d), HEX64);
  const e = parseDigest(`sha512:${HEX128}`);
  assert.equal(digestAlgorithm(e), 'sha512');
  assert.equal(digestHex(e), HEX128);
});

test('digestOf computes sha256 by default, of bytes and strings', () => {
  assert.equal(digestOf(new Uint8Array()), SHA256_EMPTY);
  assert.equal(digestOf(''), SHA256_EMPTY);
  const expected = `sha256:${createHash('sha256').update('hello').digest('hex')}`;
  assert.equal(digestOf('hello'), expected);
  assert.equal(digestOf(Buffer.from('hello')), expected);
  assert.equal(digestOf(new TextEncoder().encode('hello')), expected);
  // a digestOf result is always a valid digest
  assert.equal(isDigest(digestOf('hello')), true);
});

test('digestOf with sha512', () => {
  assert.equal(digestOf('', 'sha512'), SHA512_EMPTY);
  const d = digestOf('abc', 'sha512');
  assert.equal(digestAlgorithm(d), 'sha512');
  assert.equal(digestHex(d).length, 128);
  assert.doesNotThrow(() => parseDigest(d));
});

test('digestOf hashes only the view of a subarray, not its whole buffer', () => {
  const whole = Buffer.from('xxhelloyy');
  const view = whole.subarray(2, 7);
  assert.equal(digestOf(view), digestOf('hello'));
});

test('createDigester + finishDigest streams to the same digest as digestOf', () => {
  for (const algorithm of ['sha256', 'sha512'] as const) {
    const h = createDigester(algorithm);
    h.update('hel');
    h.update(Buffer.from('lo'));
    const d: Digest = finishDigest(h, algorithm);
    assert.equal(d, digestOf('hello', algorithm));
    assert.equal(isDigest(d), true);
  }
  // default algorithm
  const h = createDigester();
  assert.equal(finishDigest(h, 'sha256'), SHA256_EMPTY);
});
