// Property / fuzz-style tests for the pure format parsers. Inputs come from
// a seeded PRNG (no dependencies), so a failure is reproducible: the
// assertion message carries the offending input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestFormatError, digestOf, isDigest, parseDigest } from '../../src/formats/digest.js';
import {
  MAX_NAME_LENGTH,
  ReferenceFormatError,
  isTag,
  parseManifestReference,
  parseRepositoryName,
  parseTag,
} from '../../src/formats/reference.js';
import { ManifestFormatError, parseManifest, type Descriptor, type ParsedManifest } from '../../src/formats/manifest.js';
import { RangeFormatError, parseContentRange, resolveRange, type RangeRequest } from '../../src/formats/http-range.js';
import {
  DOCKER_CONFIG,
  DOCKER_FOREIGN_LAYER,
  DOCKER_LAYER_TAR_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  IMAGE_MANIFEST_TYPES,
  INDEX_MANIFEST_TYPES,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER_TAR_GZIP,
  OCI_MANIFEST,
  isMediaType,
} from '../../src/formats/media-types.js';

const ITERATIONS = 4000;

// ---------------------------------------------------------------- seeded PRNG

/** mulberry32: small, fast, good enough for fuzzing. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number): boolean => next() < p;
  const str = (alphabet: string, maxLen: number): string => {
    const len = int(maxLen + 1);
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[int(alphabet.length)]!;
    return s;
  };
  return { next, int, pick, chance, str };
}
type Rng = ReturnType<typeof prng>;

const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const NAME_ALPHABET = LOWER + LOWER + '._-/' + '._-/' + 'AZ%2e:@ \\\n\u00e9\u0131';
const HEX = '0123456789abcdef';
const WEIRD = ['', ' ', '\n', '\u0000', '\u00e9', '\ud83d\ude00', '\ud800', '%2e', '..', '/', '\\', ':', '@', '"', '{', '}', '[', ']', ',', 'A', '-', '.', '_'];

/** Random edits of a string: insert, delete, replace, duplicate, truncate, case flip. */
function mutate(r: Rng, s: string, alphabet: string, rounds = 1 + r.int(3)): string {
  let out = s;
  for (let k = 0; k < rounds; k++) {
    const i = r.int(out.length + 1);
    switch (r.int(7)) {
      case 0:
        out = out.slice(0, i) + r.str(alphabet, 3) + out.slice(i);
        break;
      case 1:
        out = out.slice(0, i) + out.slice(i + 1 + r.int(3));
        break;
      case 2:
        out = out.slice(0, i) + alphabet[r.int(alphabet.length)]! + out.slice(i + 1);
        break;
      case 3:
        out = out.slice(0, i) + out.slice(r.int(out.length + 1), r.int(out.length + 1)) + out.slice(i);
        break;
      case 4:
        out = out.slice(0, i);
        break;
      case 5:
        out = out.slice(0, i) + r.pick(WEIRD) + out.slice(i);
        break;
      default:
        out = r.chance(0.5) ? out.toUpperCase() : out.slice(0, i) + out.slice(i).toUpperCase();
    }
  }
  return out;
}

/** Runs `fn`, returning its value, or undefined if it threw one of `allowed`; anything else fails the test. */
function expectOnly<T>(fn: () => T, allowed: ReadonlyArray<new (...args: never[]) => Error>, input: unknown): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (allowed.some((cls) => err instanceof cls)) {
      assert.ok((err as Error).message.length > 0, 'error without a message');
      return undefined;
    }
    assert.fail(`unexpected ${String(err)} (${(err as Error)?.constructor?.name}) for input ${JSON.stringify(input)?.slice(0, 2000)}`);
  }
}

// ---------------------------------------------------------------- digests

function randomDigestish(r: Rng): string {
  switch (r.int(5)) {
    case 0:
      return `sha256:${r.str(HEX, 64).padEnd(64, '0')}`;
    case 1:
      return `sha512:${r.str(HEX, 128).padEnd(128, 'f')}`;
    case 2:
      return `${r.pick(['sha256', 'sha512', 'sha384', 'SHA256', 'md5', ''])}${r.pick([':', '', '::', '+b64:'])}${r.str(HEX + 'ABCDEFg:/ ', 140)}`;
    case 3:
      return mutate(r, digestOf(String(r.next()), r.pick(['sha256', 'sha512'] as const)), HEX + 'G:/.\n ');
    default:
      return r.str(HEX + 'sha2561:SHA\n ', 80);
  }
}

test('fuzz parseDigest: well-formed result or DigestFormatError', () => {
  const r = prng(0xd16e57);
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = randomDigestish(r);
    const out = expectOnly(() => parseDigest(input), [DigestFormatError], input);
    assert.equal(isDigest(input), out !== undefined, `isDigest disagrees with parseDigest for ${JSON.stringify(input)}`);
    if (out === undefined) continue;
    accepted++;
    assert.equal(out, input);
    assert.match(out, /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
  }
  assert.ok(accepted > ITERATIONS / 10, `only ${accepted} accepted: the generator is too weak`);
});

// ---------------------------------------------------------------- repository names

/**
 * An independent (regex-free) implementation of the distribution grammar:
 *   component: alnum+ (sep alnum+)*   sep: "." | "_" | "__" | "-"+
 *   name: component ("/" component)*, at most 255 characters
 */
function modelIsName(s: string): boolean {
  if (s.length === 0 || s.length > MAX_NAME_LENGTH) return false;
  const isAlnum = (c: string) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  for (const comp of s.split('/')) {
    if (comp.length === 0 || !isAlnum(comp[0]!) || !isAlnum(comp[comp.length - 1]!)) return false;
    let i = 0;
    while (i < comp.length) {
      if (isAlnum(comp[i]!)) {
        i++;
        continue;
      }
      let j = i;
      while (j < comp.length && !isAlnum(comp[j]!)) j++;
      const sep = comp.slice(i, j);
      if (!(sep === '.' || sep === '_' || sep === '__' || /^-+$/.test(sep))) return false;
      i = j;
    }
  }
  return true;
}

function randomNameish(r: Rng): string {
  switch (r.int(4)) {
    case 0: {
      // mostly valid names built from components
      const parts: string[] = [];
      const n = 1 + r.int(4);
      for (let k = 0; k < n; k++) {
        let c = r.str(LOWER, 6) || 'a';
        if (r.chance(0.4)) c += r.pick(['.', '_', '__', '-', '--', '---']) + (r.str(LOWER, 5) || '0');
        parts.push(c);
      }
      return parts.join('/');
    }
    case 1:
      return mutate(r, randomNameish(r), NAME_ALPHABET);
    case 2:
      return r.str(NAME_ALPHABET, 40);
    default: {
      // around the length limit
      const base = r.pick(['a', 'ab/', 'a-b/', 'a.b/']).repeat(300);
      return base.slice(0, MAX_NAME_LENGTH - 3 + r.int(7)).replace(/[^a-z0-9]+$/, 'z');
    }
  }
}

test('fuzz parseRepositoryName: safe names or ReferenceFormatError, matching an independent model', () => {
  const r = prng(0x4e414d45);
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = randomNameish(r);
    const out = expectOnly(() => parseRepositoryName(input), [ReferenceFormatError], input);
    assert.equal(out !== undefined, modelIsName(input), `grammar disagreement for ${JSON.stringify(input)}`);
    if (out === undefined) continue;
    accepted++;
    assert.equal(out, input);
    assert.ok(!out.includes('..'), `accepted ".." in ${JSON.stringify(out)}`);
    assert.ok(!out.startsWith('/'), `accepted absolute ${JSON.stringify(out)}`);
    assert.ok(!out.endsWith('/'), `accepted trailing / in ${JSON.stringify(out)}`);
    assert.ok(!out.includes('//'), `accepted empty component in ${JSON.stringify(out)}`);
    assert.equal(out, out.toLowerCase(), `accepted upper case in ${JSON.stringify(out)}`);
    assert.ok(!/[A-Z]/.test(out));
    assert.ok(!out.includes('%') && !out.includes('\\') && !out.includes(':') && !out.includes('@'));
    assert.ok(out.split('/').every((c) => c !== '.' && c !== '..' && c !== ''));
    assert.ok(out.length >= 1 && out.length <= MAX_NAME_LENGTH);
    assert.match(out, /^[a-z0-9._\/-]+$/);
  }
  assert.ok(accepted > ITERATIONS / 10, `only ${accepted} accepted: the generator is too weak`);
});

test('fuzz parseTag / parseManifestReference', () => {
  const r = prng(0x7a6);
  const alphabet = 'abcXYZ019_.-:/@ +\n\u00e9';
  for (let i = 0; i < ITERATIONS; i++) {
    const input = r.chance(0.2) ? randomDigestish(r) : r.chance(0.5) ? r.str(alphabet, 140) : mutate(r, 'v1.2.3-rc_1', alphabet);
    const tag = expectOnly(() => parseTag(input), [ReferenceFormatError], input);
    assert.equal(isTag(input), tag !== undefined);
    if (tag !== undefined) {
      assert.match(tag, /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);
      assert.ok(!tag.includes('/') && !tag.includes(':'));
    }
    const ref = expectOnly(() => parseManifestReference(input), [ReferenceFormatError, DigestFormatError], input);
    if (ref === undefined) continue;
    if (ref.kind === 'tag') assert.equal(ref.tag, input);
    else {
      assert.equal(ref.digest, input);
      assert.ok(isDigest(ref.digest));
    }
  }
});

// ---------------------------------------------------------------- Content-Range / Range

function randomNumberish(r: Rng): string {
  return r.pick([
    () => String(r.int(1000)),
    () => String(r.int(2 ** 31)),
    () => '0',
    () => '',
    () => '9'.repeat(1 + r.int(30)),
    () => String(Number.MAX_SAFE_INTEGER + r.int(3) - 1),
    () => r.str('0123456789-+. eE', 4),
  ])();
}

function randomContentRange(r: Rng): string {
  if (r.chance(0.4)) {
    // well-formed (start may still exceed end)
    const start = r.int(10000);
    const end = r.chance(0.8) ? start + r.int(10000) : r.int(10000);
    return `${r.pick(['', 'bytes '])}${start}-${end}${r.pick(['', '/*', `/${end + 1}`])}`;
  }
  const prefix = r.pick(['', '', 'bytes ', 'bytes=', 'Bytes ', 'bytes  ', ' ', 'items ']);
  const suffix = r.pick(['', '', '/*', `/${r.int(5000)}`, '/', '/x', ' ']);
  const core = `${randomNumberish(r)}${r.pick(['-', '-', '--', '', ','])}${randomNumberish(r)}`;
  const s = prefix + core + suffix;
  return r.chance(0.2) ? mutate(r, s, '0123456789-/* bytes=,') : s;
}

test('fuzz parseContentRange: ordered safe integers or RangeFormatError', () => {
  const r = prng(0xc0ffee);
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = randomContentRange(r);
    const out = expectOnly(() => parseContentRange(input), [RangeFormatError], input);
    if (out === undefined) continue;
    accepted++;
    assert.deepEqual(Object.keys(out).sort(), ['end', 'start']);
    assert.ok(Number.isSafeInteger(out.start) && Number.isSafeInteger(out.end), JSON.stringify(input));
    assert.ok(out.start >= 0 && out.start <= out.end, `${JSON.stringify(input)} -> ${JSON.stringify(out)}`);
  }
  assert.ok(accepted > ITERATIONS / 20, `only ${accepted} accepted: the generator is too weak`);
});

/** RFC 9110 single byte-range semantics, written independently for small inputs. */
function modelRange(first: number | undefined, last: number | undefined, size: number): RangeRequest | 'either' {
  if (first === undefined && last === undefined) return { kind: 'full' };
  if (first === undefined) {
    const n = last!;
    if (n === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return 'either'; // nothing a 206 could name
    return { kind: 'partial', range: { start: Math.max(0, size - n), end: size - 1 } };
  }
  if (last !== undefined && last < first) return { kind: 'full' };
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start: first, end: last === undefined ? size - 1 : Math.min(last, size - 1) } };
}

test('fuzz resolveRange: never throws, partial ranges lie inside the body, and single ranges follow RFC 9110', () => {
  const r = prng(0x5a6e);
  let partial = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const size = r.pick([0, 1, 2, 10, 100, r.int(1000), r.int(2 ** 40)]);
    let header: string | undefined;
    let model: RangeRequest | 'either' | undefined;
    switch (r.int(4)) {
      case 0: {
        const first = r.chance(0.3) ? undefined : r.int(size * 2 + 3);
        const last = r.chance(0.3) ? undefined : r.int(size * 2 + 3);
        header = `bytes=${first ?? ''}-${last ?? ''}`;
        model = modelRange(first, last, size);
        break;
      }
      case 1:
        header = `bytes=${randomNumberish(r)}-${randomNumberish(r)}${r.chance(0.3) ? `,${randomNumberish(r)}-${randomNumberish(r)}` : ''}`;
        break;
      case 2:
        header = r.chance(0.1) ? undefined : mutate(r, `bytes=${r.int(100)}-${r.int(100)}`, '0123456789-=,bytes ');
        break;
      default:
        header = r.str('bytes=-0123456789, ', 20);
    }
    const out = expectOnly(() => resolveRange(header, size), [], { header, size });
    assert.ok(out !== undefined);
    assert.ok(['full', 'partial', 'unsatisfiable'].includes(out.kind), JSON.stringify(out));
    if (out.kind === 'partial') {
      partial++;
      const { start, end } = out.range;
      assert.ok(
        Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end < size,
        `${JSON.stringify(header)} size ${size} -> ${JSON.stringify(out)}`,
      );
    }
    if (model === 'either') assert.notEqual(out.kind, 'partial', `${header} size ${size}`);
    else if (model !== undefined) assert.deepEqual(out, model, `${header} size ${size}`);
  }
  assert.ok(partial > ITERATIONS / 10, `only ${partial} partial results: the generator is too weak`);
});

// ---------------------------------------------------------------- manifests

type J = null | boolean | number | string | J[] | { [k: string]: J };

const MEDIA_TYPES = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_LAYER_TAR_GZIP,
  DOCKER_CONFIG,
  DOCKER_LAYER_TAR_GZIP,
  DOCKER_FOREIGN_LAYER,
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/json',
  'application/vnd.example+json',
  'nope',
  '',
];

function randomJson(r: Rng, depth: number): J {
  const k = r.int(depth > 2 ? 5 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 2, 1.5, -0.5, 2 ** 53, 1e300, r.int(1e6)]);
    case 3:
      return r.chance(0.5) ? r.pick(MEDIA_TYPES) : r.chance(0.5) ? digestOf(String(r.int(10))) : r.str('abc/:+.', 10);
    case 4:
      return r.pick(WEIRD);
    case 5:
      return Array.from({ length: r.int(3) }, () => randomJson(r, depth + 1));
    default: {
      const o: { [k: string]: J } = {};
      for (let i = r.int(4); i > 0; i--) o[r.pick(['mediaType', 'digest', 'size', 'urls', 'annotations', 'x', '__proto__'])] = randomJson(r, depth + 1);
      return o;
    }
  }
}

function randomDescriptor(r: Rng, mediaTypes: readonly string[]): { [k: string]: J } {
  const d: { [k: string]: J } = { mediaType: r.pick(mediaTypes), digest: digestOf(String(r.int(1000))), size: r.int(100000) };
  if (r.chance(0.2)) d.urls = ['https://example.com/' + r.int(10)];
  if (r.chance(0.2)) d.annotations = { 'org.example': String(r.int(10)) };
  if (r.chance(0.1)) d.artifactType = r.pick(MEDIA_TYPES.filter((t) => isMediaType(t)));
  return d;
}

function randomManifestDoc(r: Rng): { [k: string]: J } {
  const image = r.chance(0.6);
  const doc: { [k: string]: J } = { schemaVersion: 2 };
  if (r.chance(0.85)) doc.mediaType = image ? r.pick([OCI_MANIFEST, DOCKER_MANIFEST]) : r.pick([OCI_INDEX, DOCKER_MANIFEST_LIST]);
  if (image) {
    doc.config = randomDescriptor(r, [OCI_CONFIG, DOCKER_CONFIG, OCI_EMPTY, 'application/vnd.example+json']);
    doc.layers = Array.from({ length: r.int(4) }, () =>
      randomDescriptor(r, [OCI_LAYER_TAR_GZIP, DOCKER_LAYER_TAR_GZIP, DOCKER_FOREIGN_LAYER, 'application/vnd.oci.image.layer.nondistributable.v1.tar']),
    );
  } else {
    doc.manifests = Array.from({ length: r.int(4) }, () => randomDescriptor(r, [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX]));
  }
  if (r.chance(0.3)) doc.artifactType = 'application/vnd.example.sig+json';
  if (r.chance(0.3)) doc.subject = randomDescriptor(r, [OCI_MANIFEST]);
  if (r.chance(0.3)) doc.annotations = { a: 'b' };
  return doc;
}

/** Structural mutation: replace, delete or add a value somewhere in the tree. */
function mutateJson(r: Rng, v: J, depth = 0): J {
  if (v !== null && typeof v === 'object' && r.chance(0.7)) {
    if (Array.isArray(v)) {
      if (v.length === 0 || r.chance(0.2)) return [...v, randomJson(r, depth + 1)];
      const i = r.int(v.length);
      const copy = [...v];
      copy[i] = mutateJson(r, copy[i]!, depth + 1);
      return copy;
    }
    const keys = Object.keys(v);
    const copy: { [k: string]: J } = { ...v };
    if (keys.length === 0 || r.chance(0.15)) {
      copy[r.pick(['mediaType', 'schemaVersion', 'config', 'layers', 'manifests', 'subject', 'artifactType', 'annotations', 'zzz'])] = randomJson(r, depth + 1);
    } else if (r.chance(0.15)) {
      delete copy[r.pick(keys)];
    } else {
      const k = r.pick(keys);
      copy[k] = mutateJson(r, copy[k]!, depth + 1);
    }
    return copy;
  }
  return randomJson(r, depth);
}

function checkDescriptor(d: Descriptor, ctx: string): void {
  assert.ok(isMediaType(d.mediaType), `${ctx}: mediaType ${d.mediaType}`);
  assert.ok(isDigest(d.digest), `${ctx}: digest ${d.digest}`);
  assert.ok(Number.isSafeInteger(d.size) && d.size >= 0, `${ctx}: size ${d.size}`);
  if (d.artifactType !== undefined) assert.ok(isMediaType(d.artifactType), ctx);
  if (d.urls !== undefined) assert.ok(Array.isArray(d.urls) && d.urls.every((u) => typeof u === 'string'), ctx);
  if (d.annotations !== undefined) assert.ok(Object.values(d.annotations).every((a) => typeof a === 'string'), ctx);
}

function checkManifest(m: ParsedManifest, ctx: string): void {
  assert.ok(IMAGE_MANIFEST_TYPES.has(m.mediaType) || INDEX_MANIFEST_TYPES.has(m.mediaType), `${ctx}: mediaType ${m.mediaType}`);
  assert.equal(m.kind, INDEX_MANIFEST_TYPES.has(m.mediaType) ? 'index' : 'image', ctx);
  assert.ok(Array.isArray(m.blobs) && Array.isArray(m.manifests), ctx);
  m.blobs.forEach((b, i) => checkDescriptor(b, `${ctx} blobs[${i}]`));
  m.manifests.forEach((b, i) => checkDescriptor(b, `${ctx} manifests[${i}]`));
  if (m.subject) checkDescriptor(m.subject, `${ctx} subject`);
  if (m.artifactType !== undefined) assert.ok(isMediaType(m.artifactType), `${ctx}: artifactType`);
  if (m.annotations !== undefined) assert.ok(Object.values(m.annotations).every((a) => typeof a === 'string'), ctx);
  if (m.kind === 'index') {
    assert.equal(m.config, undefined, ctx);
    assert.deepEqual(m.blobs, [], ctx);
  } else {
    assert.ok(m.config, ctx);
    checkDescriptor(m.config, `${ctx} config`);
    assert.deepEqual(m.manifests, [], ctx);
    assert.deepEqual(m.blobs[0], m.config, `${ctx}: config must be the first blob`);
    assert.ok(m.artifactType !== undefined, `${ctx}: images always have an artifactType for referrers`);
    // no foreign layer that lives at its urls is listed as a blob
    for (const b of m.blobs.slice(1)) {
      assert.ok(!(b.mediaType === DOCKER_FOREIGN_LAYER && b.urls && b.urls.length > 0), `${ctx}: foreign layer in blobs`);
    }
  }
  assert.notEqual(m.mediaType, DOCKER_MANIFEST_SCHEMA1);
  assert.notEqual(m.mediaType, DOCKER_MANIFEST_SCHEMA1_SIGNED);
}

const CONTENT_TYPES: ReadonlyArray<string | undefined> = [
  undefined,
  undefined,
  '',
  'application/json',
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  `${OCI_MANIFEST}; charset=utf-8`,
  OCI_INDEX.toUpperCase(),
  ';',
  'garbage',
];

test('fuzz parseManifest: well-formed result or ManifestFormatError', () => {
  const r = prng(0x0c1);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const contentType = r.pick(CONTENT_TYPES);
    let bytes: Uint8Array;
    let text: string;
    const mode = r.int(5);
    if (mode <= 1) {
      const doc = randomManifestDoc(r);
      text = JSON.stringify(mode === 0 ? doc : mutateJson(r, doc));
    } else if (mode === 2) {
      text = JSON.stringify(mutateJson(r, mutateJson(r, randomManifestDoc(r))));
    } else if (mode === 3) {
      // textual mutation of valid JSON: mostly produces invalid JSON
      text = mutate(r, JSON.stringify(randomManifestDoc(r)), '{}[]",:0123456789-.eE\\ntrufalse', 1 + r.int(4));
    } else {
      text = JSON.stringify(randomJson(r, 0));
    }
    bytes = new TextEncoder().encode(text);
    if (r.chance(0.05)) {
      // raw byte corruption, including invalid UTF-8
      bytes = Uint8Array.from(bytes);
      for (let k = 0; k < 3 && bytes.length > 0; k++) bytes[r.int(bytes.length)] = r.int(256);
    }
    if (r.chance(0.05)) {
      // a view into a larger buffer
      const big = new Uint8Array(bytes.length + 10);
      big.fill(0x7b);
      big.set(bytes, 5);
      bytes = big.subarray(5, 5 + bytes.length);
    }
    const input = { text: new TextDecoder().decode(bytes), contentType };
    const out = expectOnly(() => parseManifest(bytes, contentType), [ManifestFormatError], input);
    if (out === undefined) {
      rejected++;
      continue;
    }
    accepted++;
    checkManifest(out, JSON.stringify(input).slice(0, 1000));
  }
  assert.ok(accepted > ITERATIONS / 10, `only ${accepted} accepted: the generator is too weak`);
  assert.ok(rejected > ITERATIONS / 10, `only ${rejected} rejected: the generator is too weak`);
});

test('fuzz parseManifest: every valid generated manifest (no mutation) is accepted', () => {
  const r = prng(0xa11600d);
  for (let i = 0; i < 1000; i++) {
    const doc = randomManifestDoc(r);
    const text = JSON.stringify(doc);
    const m = expectOnly(() => parseManifest(new TextEncoder().encode(text)), [], text);
    assert.ok(m);
    checkManifest(m, text);
    if (m.kind === 'image') {
      const layers = doc.layers as Array<{ [k: string]: J }>;
      const kept = layers.filter((l) => !(l.urls && (l.mediaType === DOCKER_FOREIGN_LAYER || String(l.mediaType).includes('nondistributable'))));
      assert.equal(m.blobs.length, 1 + kept.length, text);
      assert.equal(m.artifactType, doc.artifactType ?? (doc.config as { mediaType: string }).mediaType, text);
    } else {
      assert.equal(m.manifests.length, (doc.manifests as J[]).length, text);
      assert.equal(m.artifactType, doc.artifactType, text);
    }
  }
});
