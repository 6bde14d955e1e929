import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_NAME_LENGTH,
  ReferenceFormatError,
  isDigest,
  isTag,
  parseManifestReference,
  parseRepositoryName,
  parseTag,
  referenceString,
  type ManifestReference,
} from '../../src/formats/reference.js';
import { DigestFormatError, parseDigest } from '../../src/formats/digest.js';

const HEX64 = '0123456789abcdef'.repeat(4);
const DIGEST = `sha256:${HEX64}`;

// ---------------------------------------------------------------- names

test('parseRepositoryName accepts names from the OCI distribution grammar', () => {
  const good = [
    'a',
    '0',
    'library',
    'ubuntu',
    'library/ubuntu',
    'system/oracle_db',
    'a/b/c/d/e/f',
    'foo.bar',
    'foo_bar',
    'foo__bar',
    'foo-bar',
    'foo--bar',
    'foo---------bar',
    'a.b.c',
    'a_b.c-d__e',
    'a0/b1/c2',
    '123/456',
    'my-org/my.project/my_image',
    'x'.repeat(MAX_NAME_LENGTH),
    `${'a'.repeat(127)}/${'b'.repeat(127)}`, // exactly 255
  ];
  for (const name of good) {
    assert.equal(parseRepositoryName(name), name, name);
  }
});

test('parseRepositoryName rejects upper case', () => {
  for (const bad of ['Ubuntu', 'library/Ubuntu', 'LIBRARY', 'a/B', 'fooBar']) {
    assert.throws(() => parseRepositoryName(bad), ReferenceFormatError, bad);
  }
});

test('parseRepositoryName rejects dot segments and path traversal', () => {
  for (const bad of [
    '.',
    '..',
    '../etc',
    'a/..',
    'a/../b',
    'a/./b',
    './a',
    'a..b', // two dots are not a separator
    'a/..b',
    '%2e%2e',
    '%2e%2e/a',
    'a/%2e%2e',
    'a%2fb',
    '..%2f..%2fetc',
    'a\\b',
    '..\\a',
  ]) {
    assert.throws(() => parseRepositoryName(bad), ReferenceFormatError, bad);
  }
});

test('parseRepositoryName rejects absolute paths, empty components and leading/trailing separators', () => {
  for (const bad of [
    '',
    '/',
    '/a',
    '/etc/passwd',
    'a/',
    'a//b',
    '//a',
    'a/b/',
    '-a',
    'a-',
    '_a',
    'a_',
    '.a',
    'a.',
    '__a',
    'a__',
    'a/-b',
    'a/b-',
    'a/.b',
    'a./b',
    'a_/b',
  ]) {
    assert.throws(() => parseRepositoryName(bad), ReferenceFormatError, JSON.stringify(bad));
  }
});

test('parseRepositoryName rejects invalid separator combinations', () => {
  for (const bad of [
    'a___b', // only _ or __ are separators
    'a._b',
    'a_.b',
    'a.-b',
    'a-.b',
    'a-_b',
    'a_-b',
    'a..b',
  ]) {
    assert.throws(() => parseRepositoryName(bad), ReferenceFormatError, bad);
  }
});

test('parseRepositoryName rejects characters outside the grammar', () => {
  for (const bad of [
    'a b',
    ' a',
    'a ',
    'a\n',
    '\na',
    'a\nb',
    'a\u0000',
    'a:b',
    'a@b',
    'a:latest',
    `a@${DIGEST}`,
    'a+b',
    'a~b',
    'a?b',
    'a#b',
    'a*b',
    'ä',
    'caf\u00e9',
    '\uff41', // full-width a
    'a\u200bb', // zero-width space
    'ı', // dotless i lower-cases to itself but is not ASCII
  ]) {
    assert.throws(() => parseRepositoryName(bad), ReferenceFormatError, JSON.stringify(bad));
  }
});

test('parseRepositoryName enforces the 255-character limit', () => {
  assert.equal(MAX_NAME_LENGTH, 255);
  assert.doesNotThrow(() => parseRepositoryName('a'.repeat(255)));
  assert.throws(() => parseRepositoryName('a'.repeat(256)), ReferenceFormatError);
  assert.throws(() => parseRepositoryName(`${'a'.repeat(128)}/${'b'.repeat(127)}`), ReferenceFormatError);
  assert.throws(() => parseRepositoryName('a/'.repeat(200) + 'a'), ReferenceFormatError);
});

test('ReferenceFormatError messages are bounded for huge inputs', () => {
  const huge = 'A'.repeat(200);
  try {
    parseRepositoryName(huge);
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof ReferenceFormatError);
    assert.ok(err instanceof Error);
    assert.ok(err.message.length < 400);
  }
  try {
    parseTag('!'.repeat(10_000));
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof ReferenceFormatError);
    assert.ok(err.message.length < 400);
  }
});

// ---------------------------------------------------------------- tags

test('parseTag accepts tags matching [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
  const good = [
    'latest',
    'LATEST',
    'v1',
    '1',
    '_',
    '_private',
    '19c',
    'v1.2.3',
    'v1.2.3-rc.1',
    'sha256-abc.sig',
    'a..b',
    'a--',
    'a__',
    'a.',
    'Mixed_Case-1.0',
    'a'.repeat(128),
    '_' + '.'.repeat(127),
  ];
  for (const tag of good) {
    assert.equal(parseTag(tag), tag, tag);
    assert.equal(isTag(tag), true, tag);
  }
});

test('parseTag rejects bad tags', () => {
  const bad = [
    '',
    '.',
    '..',
    '.hidden',
    '-x',
    'a'.repeat(129),
    'a:b',
    'a/b',
    '../x',
    'a b',
    'a\n',
    '\na',
    'a+b',
    'a@b',
    'tag!',
    'ä',
    DIGEST,
  ];
  for (const tag of bad) {
    assert.throws(() => parseTag(tag), ReferenceFormatError, JSON.stringify(tag));
    assert.equal(isTag(tag), false, JSON.stringify(tag));
  }
});

// ---------------------------------------------------------------- manifest references

test('parseManifestReference recognises tags', () => {
  const ref = parseManifestReference('latest');
  assert.deepEqual(ref, { kind: 'tag', tag: 'latest' });
  assert.deepEqual(parseManifestReference('v1.0'), { kind: 'tag', tag: 'v1.0' });
  // a hex string without an algorithm is a (valid) tag, not a digest
  assert.deepEqual(parseManifestReference(HEX64), { kind: 'tag', tag: HEX64 });
  // the sigstore-style signature tag is a tag
  assert.deepEqual(parseManifestReference(`sha256-${HEX64}.sig`), { kind: 'tag', tag: `sha256-${HEX64}.sig` });
});

test('parseManifestReference recognises digests', () => {
  assert.deepEqual(parseManifestReference(DIGEST), { kind: 'digest', digest: DIGEST });
  const sha512 = `sha512:${'ab'.repeat(64)}`;
  assert.deepEqual(parseManifestReference(sha512), { kind: 'digest', digest: sha512 });
});

test('parseManifestReference rejects invalid tags with ReferenceFormatError', () => {
  for (const bad of ['', '-x', '.x', 'a/b', 'a'.repeat(129), 'a b']) {
    assert.throws(() => parseManifestReference(bad), ReferenceFormatError, JSON.stringify(bad));
  }
});

test('parseManifestReference rejects invalid digests (anything containing ":")', () => {
  // Note: the error class here is the digest module's, not ReferenceFormatError.
  for (const bad of ['sha256:abc', 'latest:1', ':', 'sha256:', `SHA256:${HEX64}`, `sha384:${'a'.repeat(96)}`]) {
    assert.throws(
      () => parseManifestReference(bad),
      (err: unknown) => err instanceof DigestFormatError || err instanceof ReferenceFormatError,
      bad,
    );
  }
});

test('referenceString round-trips both kinds', () => {
  const refs: ManifestReference[] = [parseManifestReference('latest'), parseManifestReference(DIGEST)];
  assert.equal(referenceString(refs[0]!), 'latest');
  assert.equal(referenceString(refs[1]!), DIGEST);
  for (const s of ['v2', DIGEST, '_x']) {
    assert.equal(referenceString(parseManifestReference(s)), s);
  }
});

test('isDigest is re-exported from reference', () => {
  assert.equal(isDigest(DIGEST), true);
  assert.equal(isDigest('latest'), false);
  assert.equal(parseDigest(DIGEST), DIGEST);
});
