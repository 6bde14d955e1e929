// Unit tests: generated secrets, their hashes, and sealed (encrypted) secrets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decryptSecret, encryptSecret, generateId, generatePassword, generateSecret, hashPassword, hashSecret, secretMatches, verifyPassword } from '../../src/auth/secrets.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-.:;<=>?@[]^_{|}~';

test('generateSecret: length and alphabet (no quotes, backslash, space or colon issues for Basic auth)', () => {
  assert.equal(generateSecret().length, 32);
  for (const n of [1, 8, 24, 64]) assert.equal(generateSecret(n).length, n);
  assert.equal(generateSecret(0), '');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = generateSecret(64);
    for (const c of s) {
      assert.ok(ALPHABET.includes(c), `unexpected character ${JSON.stringify(c)} in ${s}`);
      seen.add(c);
    }
    assert.doesNotMatch(s, /["'`\\\s]/);
  }
  // 12 800 draws from 89 characters: every character shows up, punctuation included
  assert.equal(seen.size, ALPHABET.length, `only ${seen.size} distinct characters`);
  for (const c of ']{;)') assert.ok(seen.has(c), `Oracle-style punctuation ${c} never generated`);
});

test('generateSecret does not repeat', () => {
  const all = new Set(Array.from({ length: 1000 }, () => generateSecret(24)));
  assert.equal(all.size, 1000);
});

test('generateId is base64url of the requested bytes', () => {
  assert.match(generateId(), /^[A-Za-z0-9_-]{16}$/);
  assert.match(generateId(32), /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(generateId(), generateId());
});

test('hashSecret is hex SHA-256; secretMatches compares against it', () => {
  assert.equal(hashSecret('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const s = 'k]j64r{1sJSSF-;)K8';
  const h = hashSecret(s);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(secretMatches(s, h), true);
  assert.equal(secretMatches(`${s} `, h), false);
  assert.equal(secretMatches(s.slice(0, -1), h), false);
  assert.equal(secretMatches('', h), false);
  // malformed stored hashes never match (and do not throw)
  assert.equal(secretMatches(s, ''), false);
  assert.equal(secretMatches(s, h.slice(0, 62)), false);
  assert.equal(secretMatches(s, 'zz'), false);
});

test('hashPassword / verifyPassword (argon2id)', async () => {
  const h = await hashPassword('correct horse battery staple');
  assert.match(h, /^\$argon2id\$/);
  assert.equal(await verifyPassword(h, 'correct horse battery staple'), true);
  assert.equal(await verifyPassword(h, 'correct horse battery stapl'), false);
  assert.equal(await verifyPassword('not a hash', 'x'), false, 'a malformed hash is a mismatch, not an exception');
});

test('encryptSecret / decryptSecret round trip, fresh IV each time', () => {
  const key = randomBytes(32);
  for (const plaintext of ['', 'x', '{"kty":"EC","d":"secret"}', 'ünïcødé ✓'.repeat(100)]) {
    const sealed = encryptSecret(key, plaintext);
    assert.match(sealed, /^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]*$/);
    assert.equal(decryptSecret(key, sealed), plaintext);
  }
  assert.notEqual(encryptSecret(key, 'same'), encryptSecret(key, 'same'));
  assert.ok(!encryptSecret(key, 'plaintext-marker').includes('plaintext-marker'));
});

test('decryptSecret detects tampering and the wrong key', () => {
  const key = randomBytes(32);
  const sealed = encryptSecret(key, 'the private key');
  const [v, iv, tag, body] = sealed.split('.') as [string, string, string, string];
  const flip = (b64: string) => {
    const buf = Buffer.from(b64, 'base64');
    buf[0] = buf[0]! ^ 1;
    return buf.toString('base64');
  };
  assert.throws(() => decryptSecret(randomBytes(32), sealed), 'another master key');
  assert.throws(() => decryptSecret(key, [v, iv, tag, flip(body)].join('.')), 'changed ciphertext');
  assert.throws(() => decryptSecret(key, [v, iv, flip(tag), body].join('.')), 'changed tag');
  assert.throws(() => decryptSecret(key, [v, flip(iv), tag, body].join('.')), 'changed IV');
  assert.throws(() => decryptSecret(key, ['v2', iv, tag, body].join('.')), /unknown sealed-secret format/);
  assert.throws(() => decryptSecret(key, 'garbage'), /unknown sealed-secret format/);
  assert.throws(() => decryptSecret(key, [v, iv, tag].join('.')), /unknown sealed-secret format/);
});

test('generated passwords are always 24 characters, 20 of them letters and digits', () => {
  for (let i = 0; i < 2000; i++) {
    const password = generatePassword();
    assert.equal(password.length, 24);
    assert.match(password.slice(0, 20), /^[A-Za-z0-9]{20}$/);
  }
});
