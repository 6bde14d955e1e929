// skopeo's transport syntax (containers-transports(5)) and the registry
// references inside it: what each form means, and the forms refused with
// a message that says how to write them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageReferenceError, familiarName, isLocalName, manifestRef, normalizeLocalName, parseRemoteRef, pathOfName, refString, requireRemoteRef } from '../../src/formats/image-reference.js';
import { formatImageLocation, parseImageLocation, transportOf } from '../../src/formats/image-transport.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

test('docker://REF is an image in a registry; the prefix is optional for bare references', () => {
  assert.deepEqual(parseImageLocation('docker://127.0.0.1:5000/library/hello:1'), { transport: 'docker', ref: { registry: '127.0.0.1:5000', repository: 'library/hello', tag: '1' } });
  assert.deepEqual(parseImageLocation(`docker://registry.example/a/b@${DIGEST}`), { transport: 'docker', ref: { registry: 'registry.example', repository: 'a/b', digest: DIGEST } });
  assert.deepEqual(parseRemoteRef('localhost/x'), { registry: 'localhost', repository: 'x' });
  assert.deepEqual(parseRemoteRef('docker://localhost:5000/x:y'), { registry: 'localhost:5000', repository: 'x', tag: 'y' });
  // no registry host: docker's rule (a dot, a colon or localhost in the first component)
  assert.equal(parseRemoteRef('library/hello:1'), undefined);
  assert.equal(parseRemoteRef('hello'), undefined);
  assert.throws(() => parseImageLocation('docker://hello:1'), (e: unknown) => e instanceof ImageReferenceError && /names no registry/.test(e.message) && /docker:\/\/HOST/.test(e.hint ?? ''));
  assert.throws(() => requireRemoteRef('hello:1', 'destination'), /destination "hello:1" names no registry/);
});

test('references that are not valid are refused with what is wrong', () => {
  assert.throws(() => parseRemoteRef('r.example/Upper/case:1'), /not a valid repository name/);
  assert.throws(() => parseRemoteRef('r.example/a:-bad'), /not a valid tag/);
  assert.throws(() => parseRemoteRef('r.example/a@sha256:short'), /not a digest/);
  assert.throws(() => parseRemoteRef(`r.example/${'a'.repeat(256)}`), /not a valid repository name/);
});

test('docker-archive:PATH, :NAME:TAG and :@N, as containers/image splits them (at the first colon)', () => {
  assert.deepEqual(parseImageLocation('docker-archive:/tmp/x.tar'), { transport: 'docker-archive', path: '/tmp/x.tar' });
  assert.deepEqual(parseImageLocation('docker-archive:x.tar:registry.example/system/oracle_db:19c'), { transport: 'docker-archive', path: 'x.tar', reference: 'registry.example/system/oracle_db:19c' });
  assert.deepEqual(parseImageLocation('docker-archive:x.tar:alpine:3'), { transport: 'docker-archive', path: 'x.tar', reference: 'alpine:3' });
  assert.deepEqual(parseImageLocation('docker-archive:x.tar:@2'), { transport: 'docker-archive', path: 'x.tar', index: 2 });
  assert.throws(() => parseImageLocation('docker-archive:x.tar:@two'), /not an image index/);
  assert.throws(() => parseImageLocation(`docker-archive:x.tar:alpine@${DIGEST}`), /may not carry a digest/);
  assert.throws(() => parseImageLocation('docker-archive:'), (e: unknown) => e instanceof ImageReferenceError && /has no file/.test(e.message));
  assert.throws(() => parseImageLocation('docker-archive:x.tar:'), /names no image/);
});

test('oci:DIR[:REF] and oci-archive:FILE[:REF]', () => {
  assert.deepEqual(parseImageLocation('oci:/tmp/layout'), { transport: 'oci', path: '/tmp/layout' });
  assert.deepEqual(parseImageLocation('oci:layout:19c'), { transport: 'oci', path: 'layout', reference: '19c' });
  assert.deepEqual(parseImageLocation('oci:layout:registry.example/a:1'), { transport: 'oci', path: 'layout', reference: 'registry.example/a:1' });
  assert.deepEqual(parseImageLocation('oci-archive:img.tar:latest'), { transport: 'oci-archive', path: 'img.tar', reference: 'latest' });
  assert.throws(() => parseImageLocation('oci:layout:bad tag'), /not a valid reference/);
  assert.throws(() => parseImageLocation('oci:'), /has no directory/);
});

test('values without a transport are left to the command; written back, a location reads the same', () => {
  for (const bare of ['image.tar', '/abs/path', 's3://bucket/key', '-', 'registry.example/a:1', 'alpine:3', 'dir:/x']) {
    assert.equal(parseImageLocation(bare), undefined, bare);
    assert.equal(transportOf(bare), undefined, bare);
  }
  for (const text of ['docker-archive:x.tar', 'docker-archive:x.tar:a/b:1', 'docker-archive:x.tar:@0', 'oci:d:1', 'oci-archive:f.tar', `docker://r.example/a@${DIGEST}`, 'docker://r.example/a:1']) {
    assert.equal(formatImageLocation(parseImageLocation(text)!), text);
  }
});

test('local names: normalized with :latest, docker short names, the path without registry', () => {
  assert.equal(normalizeLocalName('alpine'), 'alpine:latest');
  assert.equal(normalizeLocalName('r.example:5000/a'), 'r.example:5000/a:latest');
  assert.equal(normalizeLocalName('a/b:1'), 'a/b:1');
  assert.equal(familiarName('docker.io/library/alpine:3'), 'alpine:3');
  assert.equal(familiarName('docker.io/a/b:1'), 'a/b:1');
  assert.equal(pathOfName('quay.io/a/b:1'), 'a/b:1');
  assert.equal(pathOfName('docker.io/library/x:1'), 'x:1');
  assert.equal(isLocalName('system/oracle_db:19c'), true);
  assert.equal(isLocalName('System/x:1'), false);
  assert.equal(isLocalName('x'), false);
  const ref = parseRemoteRef('r.example/a/b')!;
  assert.equal(manifestRef(ref), 'latest');
  assert.equal(refString({ ...ref, tag: '2' }), 'r.example/a/b:2');
});
